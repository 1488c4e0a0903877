/**
 * Test helper: a real Appium 3 server (with the fake driver registered in this repo's
 * node_modules) as a child process on a free port, plus the example project's fake "app build".
 * It runs as `node node_modules/appium/index.js` rather than `npx appium` so that there is one
 * PID to stop: killing npx would orphan the node server behind it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of the example project's fake app (the XML the fake driver loads as `appium:app`). */
export const fakeAppPath = fileURLToPath(new URL('../../examples/appwright-project/app/fake-app.xml', import.meta.url));

/**
 * Capabilities for a fake-driver session on `appPath`. `newCommandTimeout: 0` turns Appium's idle
 * timeout off, so a session the agent holds between runs is not reaped after 60 s of quiet.
 */
export function fakeCapabilities(appPath: string = fakeAppPath): Record<string, unknown> {
  return {
    platformName: 'Fake',
    'appium:automationName': 'Fake',
    'appium:app': appPath,
    'appium:newCommandTimeout': 0,
  };
}

export interface AppiumServer {
  /** Base URL of the server, e.g. `http://127.0.0.1:41234`. */
  url: string;
  port: number;
  /** Kills the server and resolves once it has exited. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago (the OS picks it; we close the probe before Appium binds). */
async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  srv.close();
  await once(srv, 'close');
  if (!addr || typeof addr === 'string') throw new Error('could not read the probe port');
  return addr.port;
}

/**
 * Starts Appium and waits until `GET /status` says ready (bounded by `readyTimeoutMs`, default
 * 30 000 ms). On failure the error carries Appium's own output.
 * @example const appium = await startAppium(); try { ... } finally { await appium.stop(); }
 */
export async function startAppium(opts: { readyTimeoutMs?: number } = {}): Promise<AppiumServer> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    process.execPath,
    [`${repoRoot}node_modules/appium/index.js`, '--address', '127.0.0.1', '--port', String(port), '--log-level', 'warn', '--log-no-colors'],
    // APPIUM_HOME = the repo, where appium and @appium/fake-driver are installed side by side.
    { cwd: repoRoot, env: { ...process.env, FORCE_COLOR: undefined, APPIUM_HOME: repoRoot }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let exitCode: number | null | undefined;
  child.once('exit', (code, sig) => {
    exitCode = code ?? (sig ? -1 : null);
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }
  };

  const deadline = Date.now() + readyTimeoutMs;
  let lastError = 'no answer yet';
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      throw new Error(`Appium exited (code ${exitCode}) before it was ready on ${url}. Its output:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(2_000) });
      const body = (await res.json()) as { value?: { ready?: boolean } };
      if (res.ok && body.value?.ready) return { url, port, stop };
      lastError = `HTTP ${res.status} ${JSON.stringify(body).slice(0, 200)}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    // Poll interval, not a stand-in for work: Appium has no readiness signal other than /status.
    await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
  }
  await stop();
  throw new Error(`Appium did not become ready on ${url} within ${readyTimeoutMs} ms (${lastError}). Its output:\n${output}`);
}
