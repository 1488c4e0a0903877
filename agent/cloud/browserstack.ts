/**
 * The agent's BrowserStack App Automate client: upload a build (`POST /app-automate/upload`), create
 * sessions at the hub with `bstack:options`, mark them passed/failed (`PUT
 * /app-automate/sessions/<id>.json`), read their details and wait for `video_url` to be usable, and
 * read the plan's parallel cap (`GET /app-automate/plan.json`). Base URLs are configurable so tests
 * point it at a local stand-in (tests/helpers/browserstack-standin.ts).
 *
 * Credentials: the access key is held in a private field, sent only to the API and hub origins
 * (never to a `video_url` host), and replaced by `***` in every error message this module makes.
 * Capabilities carry the key inside `bstack:options` (where BrowserStack documents it): log them
 * only through `redactCapabilities`.
 *
 * `AppUploadCache` uploads a build once per sha256 per account and remembers the `bs://` id in a
 * small JSON file, so it survives agent restarts; `startSessionWithApp` re-uploads once when
 * BrowserStack says a cached app is gone (apps are deleted after 30 days).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import * as fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { joinUrl, type NewSessionResult } from '../device/webdriver-client.js';
import { type Logger, type LogTarget, silentLogger, toLogger } from '../log.js';

export const DEFAULT_API_BASE = 'https://api-cloud.browserstack.com';
export const DEFAULT_HUB_URL = 'https://hub.browserstack.com/wd/hub';
/** The environment variables BrowserStack's own tools read. */
export const DEFAULT_CREDENTIAL_ENV = { username: 'BROWSERSTACK_USERNAME', accessKey: 'BROWSERSTACK_ACCESS_KEY' } as const;

export interface BrowserStackCredentials {
  username: string;
  accessKey: string;
}

/**
 * What went wrong, for the caller to decide: `auth-failed` (fix the credentials, do not retry),
 * `parallels-in-use` (hold the job, retry later), `app-deleted` / `invalid-app` (re-upload),
 * `rate-limited` (back off), `not-found`, `session-not-created`, `upload-failed`, `http-error`,
 * `unreachable`, `timeout`, `bad-response`.
 */
export type BrowserStackErrorCode =
  | 'auth-failed'
  | 'parallels-in-use'
  | 'app-deleted'
  | 'invalid-app'
  | 'rate-limited'
  | 'not-found'
  | 'session-not-created'
  | 'upload-failed'
  | 'http-error'
  | 'unreachable'
  | 'timeout'
  | 'bad-response';

export class BrowserStackError extends Error {
  override readonly name = 'BrowserStackError';
  constructor(
    readonly code: BrowserStackErrorCode,
    /** Already redacted. */
    message: string,
    /** HTTP status of the answer; null when there was none. */
    readonly httpStatus: number | null,
    /** BrowserStack's own code from a `[BROWSERSTACK_…]` prefix, e.g. `BROWSERSTACK_APP_DELETED`. */
    readonly browserstackCode: string | null = null,
  ) {
    super(message);
  }
}

/**
 * Reads the credentials from the environment. The error names the missing variable, never a value.
 * @example const creds = credentialsFromEnv(process.env, { username: 'BS_USER', accessKey: 'BS_KEY' })
 */
export function credentialsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  names: { username: string; accessKey: string } = DEFAULT_CREDENTIAL_ENV,
): BrowserStackCredentials {
  const username = env[names.username];
  const accessKey = env[names.accessKey];
  const missing = [!username && names.username, !accessKey && names.accessKey].filter(Boolean);
  if (missing.length) throw new Error(`BrowserStack credentials are not set: ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} empty`);
  return { username: username!, accessKey: accessKey! };
}

/** A copy of capabilities safe to log: `bstack:options.accessKey` (and legacy `browserstack.key`) become `***`. */
export function redactCapabilities(caps: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...caps };
  const bs = out['bstack:options'];
  if (bs && typeof bs === 'object' && !Array.isArray(bs)) {
    const copy = { ...(bs as Record<string, unknown>) };
    if ('accessKey' in copy) copy.accessKey = '***';
    out['bstack:options'] = copy;
  }
  if ('browserstack.key' in out) out['browserstack.key'] = '***';
  return out;
}

export interface CapabilitiesInput {
  platform: 'android' | 'ios';
  /** BrowserStack's device name, e.g. `Google Pixel 8`. */
  deviceName: string;
  /** e.g. `14.0`. */
  osVersion: string;
  /** The `bs://…` id (or a custom_id / shareable_id). */
  appUrl: string;
  projectName?: string;
  buildName?: string;
  sessionName?: string;
  username: string;
  accessKey: string;
  /**
   * Extra capabilities merged over the generated ones; an `extra['bstack:options']` object is
   * merged into the generated `bstack:options` (e.g. `{ idleTimeout: 300, appiumVersion: '2.6.0' }`).
   */
  extra?: Record<string, unknown>;
}

/**
 * W3C capabilities for a BrowserStack App Automate session, with the vendor options in
 * `bstack:options` (userName and accessKey included, as BrowserStack documents).
 */
export function capabilitiesFor(input: CapabilitiesInput): Record<string, unknown> {
  const { 'bstack:options': extraBs, ...extra } = input.extra ?? {};
  const bs: Record<string, unknown> = {
    userName: input.username,
    accessKey: input.accessKey,
    deviceName: input.deviceName,
    osVersion: input.osVersion,
  };
  if (input.projectName) bs.projectName = input.projectName;
  if (input.buildName) bs.buildName = input.buildName;
  if (input.sessionName) bs.sessionName = input.sessionName;
  return {
    platformName: input.platform === 'ios' ? 'iOS' : 'Android',
    ...extra,
    'appium:app': input.appUrl,
    'bstack:options': { ...bs, ...(extraBs && typeof extraBs === 'object' ? (extraBs as Record<string, unknown>) : {}) },
  };
}

/** `GET /app-automate/sessions/<id>.json` → `automation_session` (the fields qgjob reads; others are kept). */
export interface AutomationSession {
  name: string | null;
  duration: number | null;
  os: string | null;
  os_version: string | null;
  device: string | null;
  status: string;
  hashed_id: string;
  reason: string | null;
  build_name: string | null;
  project_name: string | null;
  logs: string | null;
  browser_url: string | null;
  public_url: string | null;
  video_url: string | null;
  app_details: Record<string, unknown> | null;
  [field: string]: unknown;
}

export interface Plan {
  automate_plan: string | null;
  parallel_sessions_running: number;
  parallel_sessions_max_allowed: number;
  team_parallel_sessions_max_allowed: number | null;
  queued_sessions: number | null;
  queued_sessions_max_allowed: number | null;
}

export interface UploadResult {
  appUrl: string;
  customId: string | null;
  shareableId: string | null;
}

export interface VideoWaitOptions {
  /** Session-detail reads at most (each followed by a probe of the URL once there is one). Default 10. */
  attempts?: number;
  /** Wait before the 2nd read; doubles after each read up to maxDelayMs. Default 2 000. */
  firstDelayMs?: number;
  /** Default 30 000. A 429 jumps straight to this delay. */
  maxDelayMs?: number;
  signal?: AbortSignal;
}

export interface VideoWaitResult {
  /** The usable URL, or null when it never became ready within the attempts. */
  url: string | null;
  /** Content type of the probe's answer (BrowserStack: video/mp4; a stand-in may serve something else). */
  contentType: string | null;
  /** Session-detail reads made. */
  attempts: number;
  /** Why `url` is null (the last thing seen); null when ready. */
  reason: string | null;
  /** The last `video_url` seen, ready or not. */
  lastVideoUrl: string | null;
}

export interface BrowserStackClientOptions extends BrowserStackCredentials {
  /** Default `https://api-cloud.browserstack.com`. */
  apiBase?: string;
  /** Default `https://hub.browserstack.com/wd/hub`. */
  hubUrl?: string;
  /** Bound on one REST call (ms). Default 30 000. */
  requestTimeoutMs?: number;
  /** Bound on an upload (ms). Default 600 000. */
  uploadTimeoutMs?: number;
  /** Bound on session creation (ms); BrowserStack may queue it. Default 300 000. */
  newSessionTimeoutMs?: number;
  /** Retries of a REST call answered 429, with doubling waits from rateLimitDelayMs. Default 3 and 2 000. */
  rateLimitRetries?: number;
  rateLimitDelayMs?: number;
}

const wait = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

const BS_CODE = /\[(BROWSERSTACK_[A-Z0-9_]+)\]/;

/** Sorts a hub or REST refusal into a code the agent can act on. */
function classify(message: string, httpStatus: number | null): { code: BrowserStackErrorCode; bsCode: string | null } {
  const bsCode = BS_CODE.exec(message)?.[1] ?? null;
  if (bsCode === 'BROWSERSTACK_APP_DELETED') return { code: 'app-deleted', bsCode };
  if (bsCode === 'BROWSERSTACK_INVALID_APP_CAP' || bsCode === 'BROWSERSTACK_INVALID_APP_URL') return { code: 'invalid-app', bsCode };
  if (bsCode === 'BROWSERSTACK_ALL_PARALLELS_IN_USE' || /all parallel tests are currently in use/i.test(message)) return { code: 'parallels-in-use', bsCode };
  if (httpStatus === 401 || /invalid username or password|authorization required|access denied/i.test(message)) return { code: 'auth-failed', bsCode };
  if (httpStatus === 429) return { code: 'rate-limited', bsCode };
  if (httpStatus === 404) return { code: 'not-found', bsCode };
  return { code: 'http-error', bsCode };
}

/** The message of an error answer: `{error}`, `{message}`, `{value: {message}}`, or the text itself. */
function messageOf(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    const value = body?.value && typeof body.value === 'object' ? (body.value as Record<string, unknown>) : null;
    for (const m of [body?.error, body?.message, value?.message, value?.error]) if (typeof m === 'string' && m) return m;
  } catch {
    /* not JSON */
  }
  return text.trim().slice(0, 500) || '(empty answer)';
}

export class BrowserStackClient {
  readonly username: string;
  readonly apiBase: string;
  readonly hubUrl: string;
  readonly #accessKey: string;
  readonly #secrets: string[];
  readonly #opts: Required<Pick<BrowserStackClientOptions, 'requestTimeoutMs' | 'uploadTimeoutMs' | 'newSessionTimeoutMs' | 'rateLimitRetries' | 'rateLimitDelayMs'>>;

  constructor(opts: BrowserStackClientOptions) {
    if (!opts.username || !opts.accessKey) throw new Error('BrowserStack username and access key are both required');
    this.username = opts.username;
    this.#accessKey = opts.accessKey;
    this.apiBase = (opts.apiBase ?? DEFAULT_API_BASE).replace(/\/+$/, '');
    this.hubUrl = (opts.hubUrl ?? DEFAULT_HUB_URL).replace(/\/+$/, '');
    const basic = Buffer.from(`${opts.username}:${opts.accessKey}`).toString('base64');
    this.#secrets = [...new Set([basic, opts.accessKey, encodeURIComponent(opts.accessKey)])].filter((s) => s.length > 0);
    this.#opts = {
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      uploadTimeoutMs: opts.uploadTimeoutMs ?? 600_000,
      newSessionTimeoutMs: opts.newSessionTimeoutMs ?? 300_000,
      rateLimitRetries: opts.rateLimitRetries ?? 3,
      rateLimitDelayMs: opts.rateLimitDelayMs ?? 2_000,
    };
  }

  /** Replaces the access key (plain, URL-encoded, or inside a Basic header) by `***`. */
  redact(text: string): string {
    let out = text;
    for (const s of this.#secrets) out = out.split(s).join('***');
    return out;
  }

  /** Capabilities for this account (see `capabilitiesFor`). */
  capabilities(input: Omit<CapabilitiesInput, 'username' | 'accessKey'>): Record<string, unknown> {
    return capabilitiesFor({ ...input, username: this.username, accessKey: this.#accessKey });
  }

  /** For logs and `util.inspect`: never the key. */
  toJSON(): Record<string, string> {
    return { username: this.username, apiBase: this.apiBase, hubUrl: this.hubUrl };
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `BrowserStackClient ${JSON.stringify(this.toJSON())}`;
  }

  #error(code: BrowserStackErrorCode, message: string, status: number | null, bsCode: string | null = null): BrowserStackError {
    return new BrowserStackError(code, this.redact(message), status, bsCode);
  }

  /** One REST call with Basic auth; 429 is retried with doubling waits, other failures throw. */
  async #rest(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: { json?: unknown; form?: FormData }, timeoutMs?: number): Promise<unknown> {
    const url = `${this.apiBase}${path}`;
    let delay = this.#opts.rateLimitDelayMs;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `Basic ${Buffer.from(`${this.username}:${this.#accessKey}`).toString('base64')}`,
            accept: 'application/json',
            ...(body?.json !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body: body?.json !== undefined ? JSON.stringify(body.json) : body?.form,
          signal: AbortSignal.timeout(timeoutMs ?? this.#opts.requestTimeoutMs),
        });
      } catch (err) {
        const e = err as Error;
        const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
        const why = e.cause instanceof Error ? e.cause.message : e.message;
        throw this.#error(timedOut ? 'timeout' : 'unreachable', `BrowserStack ${method} ${url}: ${timedOut ? `no answer within ${timeoutMs ?? this.#opts.requestTimeoutMs} ms` : why}`, null);
      }
      const text = await res.text();
      if (res.status === 429 && attempt < this.#opts.rateLimitRetries) {
        await wait(delay);
        delay *= 2;
        continue;
      }
      if (!res.ok) {
        const msg = messageOf(text);
        const { code, bsCode } = classify(msg, res.status);
        const hint = code === 'auth-failed' ? ` (check the username "${this.username}" and its access key)` : '';
        throw this.#error(code, `BrowserStack ${method} ${path}: HTTP ${res.status}: ${msg}${hint}`, res.status, bsCode);
      }
      try {
        return text ? JSON.parse(text) : {};
      } catch {
        throw this.#error('bad-response', `BrowserStack ${method} ${path}: HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, res.status);
      }
    }
  }

  /**
   * Uploads a build file (multipart `file`, optional `custom_id`) and returns its `bs://` id.
   * @example const { appUrl } = await client.uploadApp('build/app-release.apk')
   */
  async uploadApp(file: string, customId?: string): Promise<UploadResult> {
    // openAsBlob streams the file from disk instead of reading a large build into memory.
    const blob = typeof fs.openAsBlob === 'function' ? await fs.openAsBlob(file) : new Blob([await readFile(file)]);
    const form = new FormData();
    form.set('file', blob, basename(file));
    if (customId) form.set('custom_id', customId);
    return this.#uploaded(await this.#rest('POST', '/app-automate/upload', { form }, this.#opts.uploadTimeoutMs));
  }

  /** Registers a build BrowserStack downloads itself from a public URL (form field `url`). */
  async uploadAppFromUrl(publicUrl: string, customId?: string): Promise<UploadResult> {
    const form = new FormData();
    form.set('url', publicUrl);
    if (customId) form.set('custom_id', customId);
    return this.#uploaded(await this.#rest('POST', '/app-automate/upload', { form }, this.#opts.uploadTimeoutMs));
  }

  #uploaded(body: unknown): UploadResult {
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b.app_url !== 'string' || !b.app_url) {
      throw this.#error('upload-failed', `BrowserStack upload: no app_url in ${JSON.stringify(body).slice(0, 300)}`, 200, BS_CODE.exec(String(b.error ?? ''))?.[1] ?? null);
    }
    return {
      appUrl: b.app_url,
      customId: typeof b.custom_id === 'string' ? b.custom_id : null,
      shareableId: typeof b.shareable_id === 'string' ? b.shareable_id : null,
    };
  }

  /** Deletes an uploaded app (`DELETE /app-automate/app/delete/<id>`). */
  async deleteApp(appUrl: string): Promise<void> {
    await this.#rest('DELETE', `/app-automate/app/delete/${encodeURIComponent(appUrl.replace(/^bs:\/\//, ''))}`);
  }

  /**
   * Creates a session at the hub. BrowserStack refuses some sessions with HTTP 200 and no session id
   * (`{value: {message}}`), so success is "a session id came back", not "HTTP 2xx". The returned
   * capabilities have any echoed access key redacted.
   */
  async createSession(capabilities: Record<string, unknown>): Promise<NewSessionResult> {
    const url = joinUrl(this.hubUrl, '/session');
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ capabilities: { alwaysMatch: capabilities, firstMatch: [{}] } }),
        signal: AbortSignal.timeout(this.#opts.newSessionTimeoutMs),
      });
    } catch (err) {
      const e = err as Error;
      const timedOut = e.name === 'TimeoutError' || e.name === 'AbortError';
      throw this.#error(
        timedOut ? 'timeout' : 'unreachable',
        `BrowserStack hub ${url}: ${timedOut ? `no session within ${this.#opts.newSessionTimeoutMs} ms` : e.cause instanceof Error ? e.cause.message : e.message}`,
        null,
      );
    }
    const text = await res.text();
    let body: Record<string, unknown> = {};
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      /* e.g. a plain-text 401 "Authorization required" */
    }
    const value = body.value && typeof body.value === 'object' ? (body.value as Record<string, unknown>) : {};
    const sessionId = typeof value.sessionId === 'string' ? value.sessionId : typeof body.sessionId === 'string' ? body.sessionId : null;
    if (res.ok && sessionId && typeof value.error !== 'string') {
      const caps = (value.capabilities && typeof value.capabilities === 'object' ? value.capabilities : body.value) as Record<string, unknown>;
      return { sessionId, capabilities: redactCapabilities({ ...caps }) };
    }
    const msg = messageOf(text);
    const c = classify(msg, res.status);
    const code = c.code === 'http-error' || c.code === 'not-found' ? 'session-not-created' : c.code;
    const hint = code === 'auth-failed' ? ` (check the username "${this.username}" and its access key)` : '';
    throw this.#error(code, `BrowserStack hub refused the session (HTTP ${res.status}): ${msg}${hint}`, res.status, c.bsCode);
  }

  /** Ends a session at the hub (one already gone counts as ended). */
  async deleteSession(sessionId: string): Promise<void> {
    const url = joinUrl(this.hubUrl, `/session/${encodeURIComponent(sessionId)}`);
    let res: Response;
    try {
      res = await fetch(url, { method: 'DELETE', signal: AbortSignal.timeout(this.#opts.requestTimeoutMs) });
    } catch (err) {
      throw this.#error('unreachable', `BrowserStack hub DELETE ${url}: ${(err as Error).message}`, null);
    }
    const text = await res.text();
    if (res.ok || res.status === 404) return;
    throw this.#error('http-error', `BrowserStack hub DELETE session ${sessionId}: HTTP ${res.status}: ${messageOf(text)}`, res.status);
  }

  /** `GET /app-automate/sessions/<id>.json` → `automation_session`. */
  async sessionDetails(sessionId: string): Promise<AutomationSession> {
    const body = (await this.#rest('GET', `/app-automate/sessions/${encodeURIComponent(sessionId)}.json`)) as { automation_session?: unknown };
    const s = body?.automation_session;
    if (!s || typeof s !== 'object') throw this.#error('bad-response', `BrowserStack session ${sessionId}: no automation_session in the answer`, 200);
    return s as AutomationSession;
  }

  /**
   * Marks a session passed or failed with a reason (`PUT /app-automate/sessions/<id>.json`);
   * returns the session as BrowserStack then reports it.
   */
  async markSession(sessionId: string, status: 'passed' | 'failed', reason: string): Promise<AutomationSession> {
    // BrowserStack shows the reason on the dashboard; keep it to a readable size.
    const body = (await this.#rest('PUT', `/app-automate/sessions/${encodeURIComponent(sessionId)}.json`, {
      json: { status, reason: reason.slice(0, 1000) },
    })) as { automation_session?: unknown };
    return (body?.automation_session ?? {}) as AutomationSession;
  }

  /** Renames a session (`PUT … {name}`). */
  async setSessionName(sessionId: string, name: string): Promise<void> {
    await this.#rest('PUT', `/app-automate/sessions/${encodeURIComponent(sessionId)}.json`, { json: { name } });
  }

  /** The account's plan: `parallel_sessions_max_allowed` is the cap to schedule against. */
  async plan(): Promise<Plan> {
    const b = ((await this.#rest('GET', '/app-automate/plan.json')) ?? {}) as Record<string, unknown>;
    const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : null);
    const max = num(b.parallel_sessions_max_allowed);
    if (max === null) throw this.#error('bad-response', `BrowserStack plan: no parallel_sessions_max_allowed in ${JSON.stringify(b).slice(0, 300)}`, 200);
    return {
      automate_plan: typeof b.automate_plan === 'string' ? b.automate_plan : null,
      parallel_sessions_running: num(b.parallel_sessions_running) ?? 0,
      parallel_sessions_max_allowed: max,
      team_parallel_sessions_max_allowed: num(b.team_parallel_sessions_max_allowed),
      queued_sessions: num(b.queued_sessions),
      queued_sessions_max_allowed: num(b.queued_sessions_max_allowed),
    };
  }

  /**
   * Waits until the session's `video_url` is set AND answers with bytes: BrowserStack's video URL
   * can answer 200 with an empty body at first, then 403 until the video is processed. Reads the
   * session at most `attempts` times with exponential backoff (a 429 jumps to maxDelayMs), probing
   * the URL with a one-byte range request and no credentials (it is a signed URL on another host).
   * Returns `url: null` with the reason when it never became ready.
   */
  async waitForVideoUrl(sessionId: string, opts: VideoWaitOptions = {}): Promise<VideoWaitResult> {
    const attempts = Math.max(1, opts.attempts ?? 10);
    const maxDelay = opts.maxDelayMs ?? 30_000;
    let delay = Math.min(opts.firstDelayMs ?? 2_000, maxDelay);
    let reason = 'not read yet';
    let lastVideoUrl: string | null = null;
    let n = 0;
    while (n < attempts) {
      if (n > 0) {
        await wait(delay, opts.signal);
        delay = Math.min(delay * 2, maxDelay);
      }
      n++;
      let details: AutomationSession;
      try {
        details = await this.sessionDetails(sessionId);
      } catch (err) {
        if (err instanceof BrowserStackError && (err.code === 'rate-limited' || err.code === 'unreachable' || err.code === 'timeout')) {
          reason = err.message;
          if (err.code === 'rate-limited') delay = maxDelay;
          continue;
        }
        throw err;
      }
      const url = typeof details.video_url === 'string' && details.video_url ? details.video_url : null;
      if (!url) {
        reason = `video_url is not set yet (session status ${details.status})`;
        continue;
      }
      lastVideoUrl = url;
      const probe = await this.#probe(url);
      if (probe.ready) return { url, contentType: probe.contentType, attempts: n, reason: null, lastVideoUrl: url };
      if (probe.status === 429) delay = maxDelay;
      reason = `video_url is set but not ready: ${probe.why}`;
    }
    return { url: null, contentType: null, attempts: n, reason: `no usable video after ${n} reads of session ${sessionId}: ${reason}`, lastVideoUrl };
  }

  /** One-byte GET of a video URL, without credentials. Ready = 200/206 with at least one byte. */
  async #probe(url: string): Promise<{ ready: boolean; status: number | null; contentType: string | null; why: string }> {
    let res: Response;
    try {
      res = await fetch(url, { headers: { range: 'bytes=0-0' }, redirect: 'follow', signal: AbortSignal.timeout(this.#opts.requestTimeoutMs) });
    } catch (err) {
      return { ready: false, status: null, contentType: null, why: this.redact((err as Error).message) };
    }
    const contentType = res.headers.get('content-type');
    let bytes = 0;
    if (res.body) {
      const reader = res.body.getReader();
      try {
        const first = await reader.read();
        bytes = first.value?.length ?? 0;
      } finally {
        await reader.cancel().catch(() => undefined);
      }
    }
    if ((res.status === 200 || res.status === 206) && bytes > 0) return { ready: true, status: res.status, contentType, why: '' };
    return { ready: false, status: res.status, contentType, why: res.ok || res.status === 416 ? `HTTP ${res.status} with an empty body` : `HTTP ${res.status}` };
  }
}

/** The sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface CacheEntry {
  appUrl: string;
  sha256: string;
  fileName: string;
  uploadedAt: string;
  customId: string | null;
}

interface CacheFile {
  version: 1;
  entries: Record<string, CacheEntry>;
}

export interface AppUploadCacheOptions {
  client: BrowserStackClient;
  /** Folder for `browserstack-apps.json` (created when missing). */
  dir: string;
  /**
   * Entries older than this are uploaded again without asking BrowserStack, which deletes apps after
   * 30 days. Default 29 days.
   */
  maxAgeMs?: number;
  /** Operational lines (never the key). */
  log?: LogTarget;
}

/**
 * `bs://` ids by build hash, for one account and API base, persisted to `<dir>/browserstack-apps.json`.
 * Concurrent requests for the same hash share one upload.
 */
export class AppUploadCache {
  readonly file: string;
  /** Uploads this cache made since it was created. */
  uploads = 0;
  readonly #client: BrowserStackClient;
  readonly #maxAgeMs: number;
  readonly #log: Logger;
  #data: CacheFile | null = null;
  #inflight = new Map<string, Promise<{ appUrl: string; uploaded: boolean; sha256: string }>>();
  #writes: Promise<void> = Promise.resolve();

  constructor(opts: AppUploadCacheOptions) {
    this.#client = opts.client;
    this.file = join(opts.dir, 'browserstack-apps.json');
    this.#maxAgeMs = opts.maxAgeMs ?? 29 * 24 * 3600_000;
    this.#log = opts.log === undefined ? silentLogger() : toLogger(opts.log, 'agent');
  }

  /** The account and API the ids belong to: a bs:// id is only valid there. */
  #key(sha256: string): string {
    return `${this.#client.username}@${new URL(this.#client.apiBase).origin}#${sha256}`;
  }

  async #load(): Promise<CacheFile> {
    if (this.#data) return this.#data;
    try {
      const parsed = JSON.parse(await readFile(this.file, 'utf8')) as CacheFile;
      this.#data = parsed && parsed.version === 1 && parsed.entries && typeof parsed.entries === 'object' ? parsed : { version: 1, entries: {} };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#log.warn(`BrowserStack app cache ${this.file} is unreadable (${(err as Error).message}); starting empty`);
      this.#data = { version: 1, entries: {} };
    }
    return this.#data;
  }

  /** Writes the whole file atomically (temp file + rename), one write at a time. */
  #save(): Promise<void> {
    const write = this.#writes.then(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(this.#data, null, 2) + '\n');
      await rename(tmp, this.file);
    });
    // A failed write fails its caller, not every later write.
    this.#writes = write.catch(() => undefined);
    return write;
  }

  /** The cached id for a hash, when there is a fresh one. */
  async lookup(sha256: string): Promise<string | null> {
    const e = (await this.#load()).entries[this.#key(sha256)];
    if (!e) return null;
    if (Date.now() - Date.parse(e.uploadedAt) > this.#maxAgeMs) return null;
    return e.appUrl;
  }

  /**
   * The `bs://` id of a build file, uploading it only when this account has no fresh id for its hash.
   * @example const { appUrl, uploaded } = await cache.appUrlFor('builds/1.4.2.apk')
   */
  async appUrlFor(file: string, opts: { sha256?: string; customId?: string } = {}): Promise<{ appUrl: string; uploaded: boolean; sha256: string }> {
    const sha256 = opts.sha256 ?? (await sha256File(file));
    const key = this.#key(sha256);
    const pending = this.#inflight.get(key);
    if (pending) return pending;
    const work = (async () => {
      const cached = await this.lookup(sha256);
      if (cached) return { appUrl: cached, uploaded: false, sha256 };
      const size = (await stat(file)).size;
      this.#log.info(`uploading ${basename(file)} (${size} bytes, sha256 ${sha256.slice(0, 12)}) to BrowserStack`);
      const up = await this.#client.uploadApp(file, opts.customId);
      this.uploads++;
      const data = await this.#load();
      data.entries[key] = { appUrl: up.appUrl, sha256, fileName: basename(file), uploadedAt: new Date().toISOString(), customId: up.customId };
      await this.#save();
      this.#log.info(`uploaded ${basename(file)} → ${up.appUrl}`);
      return { appUrl: up.appUrl, uploaded: true, sha256 };
    })();
    this.#inflight.set(key, work);
    try {
      return await work;
    } finally {
      this.#inflight.delete(key);
    }
  }

  /**
   * Records an id uploaded elsewhere (e.g. by another agent, handed over by the coordinator's build
   * registry) so this agent does not upload the same build again.
   */
  async remember(sha256: string, appUrl: string, fileName = ''): Promise<void> {
    const data = await this.#load();
    data.entries[this.#key(sha256)] = { appUrl, sha256, fileName, uploadedAt: new Date().toISOString(), customId: null };
    await this.#save();
  }

  /** Forgets an id (by build hash or by `bs://` id), e.g. after BrowserStack says the app is gone. */
  async invalidate(sha256OrAppUrl: string): Promise<void> {
    const data = await this.#load();
    let changed = false;
    for (const [k, e] of Object.entries(data.entries)) {
      if (k === this.#key(sha256OrAppUrl) || e.appUrl === sha256OrAppUrl) {
        delete data.entries[k];
        changed = true;
      }
    }
    if (changed) await this.#save();
  }
}

export interface StartWithAppOptions {
  client: BrowserStackClient;
  cache: AppUploadCache;
  /** The build file (its sha256 is computed unless given). */
  file: string;
  sha256?: string;
  /** Capabilities for an app id, e.g. `(appUrl) => client.capabilities({ ..., appUrl })`. */
  capabilities: (appUrl: string) => Record<string, unknown>;
  say?: (line: string) => void;
}

/**
 * Uploads the build if this account has no id for it, then creates the session. When a cached id
 * is refused as deleted or invalid (BrowserStack deletes apps after 30 days), the id is dropped,
 * the build uploaded again and the session retried once.
 */
export async function startSessionWithApp(
  opts: StartWithAppOptions,
): Promise<{ session: NewSessionResult; appUrl: string; uploaded: boolean; reuploadedAfterRefusal: boolean }> {
  const say = opts.say ?? (() => undefined);
  const first = await opts.cache.appUrlFor(opts.file, { sha256: opts.sha256 });
  try {
    const session = await opts.client.createSession(opts.capabilities(first.appUrl));
    return { session, appUrl: first.appUrl, uploaded: first.uploaded, reuploadedAfterRefusal: false };
  } catch (err) {
    const gone = err instanceof BrowserStackError && (err.code === 'app-deleted' || err.code === 'invalid-app');
    if (!gone || first.uploaded) throw err;
    say(`BrowserStack refused the cached app ${first.appUrl} (${err.browserstackCode ?? err.code}); uploading the build again`);
    await opts.cache.invalidate(first.sha256);
    const again = await opts.cache.appUrlFor(opts.file, { sha256: first.sha256 });
    const session = await opts.client.createSession(opts.capabilities(again.appUrl));
    return { session, appUrl: again.appUrl, uploaded: true, reuploadedAfterRefusal: true };
  }
}
