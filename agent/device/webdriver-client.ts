/**
 * A minimal W3C WebDriver client over `fetch`, for the few calls the agent itself makes on a device
 * server (Appium): create the session it owns, check that it is still alive, run a script, delete it.
 * The user's spec talks to the same session through appwright's own client; this one never needs
 * more than the raw protocol, so no client library (and none of its logging or downloads) is pulled in.
 */

/** The W3C `error` code of a failed command (e.g. `invalid session id`), or a transport-level code of ours. */
export class WebDriverError extends Error {
  override readonly name = 'WebDriverError';
  constructor(
    /** W3C error code, or `timeout` / `unreachable` / `bad response` when no W3C answer came back. */
    readonly code: string,
    message: string,
    /** HTTP status of the answer; null when the server did not answer. */
    readonly httpStatus: number | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The session the server created: its id and the capabilities it actually matched. */
export interface NewSessionResult {
  sessionId: string;
  capabilities: Record<string, unknown>;
}

/** Default bound on one command (ms). Session creation gets its own, longer bound. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** Default bound on `POST /session` (ms): a real device may install the app here. */
export const DEFAULT_NEW_SESSION_TIMEOUT_MS = 300_000;

/** Joins a base URL (which may carry a path such as `/wd/hub`, with or without a trailing slash) and a command path. */
export function joinUrl(endpoint: string, path: string): string {
  return endpoint.replace(/\/+$/, '') + '/' + path.replace(/^\/+/, '');
}

/**
 * Sends one WebDriver command and returns the W3C `value`. Throws `WebDriverError` carrying the
 * W3C `error` code when the server says no, or a transport code when there is no usable answer.
 * @example await command('http://127.0.0.1:4723', 'GET', `/session/${id}/source`)
 */
export async function command<T = unknown>(
  endpoint: string,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: unknown,
  timeoutMs: number = DEFAULT_COMMAND_TIMEOUT_MS,
): Promise<T> {
  const url = joinUrl(endpoint, path);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new WebDriverError(
      timedOut ? 'timeout' : 'unreachable',
      timedOut
        ? `${method} ${url}: no answer within ${timeoutMs} ms`
        : `${method} ${url}: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}`,
      null,
      { cause: err },
    );
  }
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new WebDriverError('bad response', `${method} ${url}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, res.status);
  }
  const value = (parsed as { value?: unknown } | null)?.value;
  const w3cError = value && typeof value === 'object' ? (value as { error?: unknown; message?: unknown }) : null;
  if (!res.ok || (w3cError && typeof w3cError.error === 'string')) {
    const code = typeof w3cError?.error === 'string' ? w3cError.error : 'unknown error';
    const message = typeof w3cError?.message === 'string' && w3cError.message ? w3cError.message : `HTTP ${res.status}`;
    throw new WebDriverError(code, `${method} ${path}: ${code}: ${message}`, res.status);
  }
  return value as T;
}

/**
 * Creates a session with the given capabilities (sent as `alwaysMatch`). The caller owns it and
 * must `deleteSession` it. The bound defaults to DEFAULT_NEW_SESSION_TIMEOUT_MS.
 * @example const { sessionId } = await newSession(url, { platformName: 'Fake', 'appium:automationName': 'Fake', 'appium:app': app })
 */
export async function newSession(
  endpoint: string,
  capabilities: Record<string, unknown>,
  timeoutMs: number = DEFAULT_NEW_SESSION_TIMEOUT_MS,
): Promise<NewSessionResult> {
  const value = await command<{ sessionId?: unknown; capabilities?: unknown }>(
    endpoint,
    'POST',
    '/session',
    { capabilities: { alwaysMatch: capabilities, firstMatch: [{}] } },
    timeoutMs,
  );
  if (!value || typeof value.sessionId !== 'string') {
    throw new WebDriverError('bad response', `POST /session: no sessionId in ${JSON.stringify(value).slice(0, 200)}`, 200);
  }
  const caps = value.capabilities && typeof value.capabilities === 'object' ? (value.capabilities as Record<string, unknown>) : {};
  return { sessionId: value.sessionId, capabilities: caps };
}

/** Deletes a session. A session that is already gone (`invalid session id`) counts as deleted. */
export async function deleteSession(endpoint: string, sessionId: string, timeoutMs?: number): Promise<void> {
  try {
    await command(endpoint, 'DELETE', `/session/${encodeURIComponent(sessionId)}`, undefined, timeoutMs);
  } catch (err) {
    if (err instanceof WebDriverError && err.code === 'invalid session id') return;
    throw err;
  }
}

/**
 * True when the session still answers a cheap command (`GET /session/:id/timeouts`); false when
 * the server says it is gone or does not answer at all. Never throws.
 * @example if (!(await isSessionAlive(url, id))) recreate()
 */
export async function isSessionAlive(endpoint: string, sessionId: string, timeoutMs = 5_000): Promise<boolean> {
  try {
    await command(endpoint, 'GET', `/session/${encodeURIComponent(sessionId)}/timeouts`, undefined, timeoutMs);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs a synchronous script (for Appium: an `mobile:`-style execute method) and returns its value.
 * @example await executeScript(url, id, 'fake: addition', [{ num1: 1, num2: 2 }]) // 3
 */
export async function executeScript<T = unknown>(
  endpoint: string,
  sessionId: string,
  script: string,
  args: unknown[] = [],
  timeoutMs?: number,
): Promise<T> {
  return command<T>(endpoint, 'POST', `/session/${encodeURIComponent(sessionId)}/execute/sync`, { script, args }, timeoutMs);
}
