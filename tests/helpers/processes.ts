/**
 * Test helpers that run qgjob the way users do: the real `bin/qgjob.js` (compiled by
 * `npm run build`, which `npm test` runs first) as child processes on 127.0.0.1, and a fresh
 * MySQL database per test file when QGJOB_TEST_MYSQL_URL is set.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const qgjobBin = join(repoRoot, 'bin', 'qgjob.js');
export const exampleProject = join(repoRoot, 'examples', 'appwright-project');

/** uvu sets FORCE_COLOR for itself; children get plain output (and no warning about both being set). */
function withoutForceColor(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { FORCE_COLOR: _drop, ...rest } = env;
  return rest;
}

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `qgjob-${prefix}-`));

export interface Proc {
  child: ChildProcess;
  /** Everything printed so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the first match of `re` in stdout+stderr; rejects after `timeoutMs` or on exit. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after 5 s; resolves when the process is gone. */
  stop(): Promise<void>;
}

/** Starts `qgjob <args>` as a child process. */
export function spawnQgjob(args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const child = spawn(process.execPath, [qgjobBin, ...args], {
    cwd: repoRoot,
    env: { ...withoutForceColor(process.env), NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((w) => w());
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    poke();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    poke();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      resolve({ code, signal });
      poke();
    }),
  );
  const proc: Proc = {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (stdout + stderr).match(re);
          if (m) return done(() => resolve(m));
          if (child.exitCode !== null || child.signalCode !== null) {
            return done(() => reject(new Error(`qgjob ${args[0]} exited before printing ${re}.\nstdout:\n${stdout}\nstderr:\n${stderr}`)));
          }
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out waiting for ${re} from qgjob ${args[0]}.\nstdout:\n${stdout}\nstderr:\n${stderr}`))), timeoutMs);
        const done = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
  return proc;
}

/** Runs a `qgjob` command to its end. */
export async function runQgjob(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnQgjob(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

/** `qgjob coordinator` on a free port; resolves with its URL once it listens. */
export async function startCoordinatorProc(
  opts: { database?: string; dataDir?: string; port?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ proc: Proc; url: string }> {
  const args = ['coordinator', '--port', String(opts.port ?? 0), '--data-dir', opts.dataDir ?? tempDir('coord')];
  if (opts.database) args.push('--database', opts.database);
  const proc = spawnQgjob(args, opts.env);
  const m = await proc.waitFor(/listening on (http:\/\/\S+)/);
  return { proc, url: m[1]! };
}

/**
 * `qgjob agent` with one fake-driver slot on `appiumUrl`, from a lab file (so builds can be mapped
 * per app version); resolves once it registered. Builds: `apps`, else the example app for every version.
 */
export async function startAgentProc(opts: {
  url: string;
  appiumUrl: string;
  slotId?: string;
  agentId?: string;
  target?: string;
  platform?: string;
  workDir?: string;
  apps?: Record<string, string>;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}): Promise<Proc> {
  const lab = join(tempDir('lab'), 'lab.json');
  writeFileSync(
    lab,
    JSON.stringify({
      project: exampleProject,
      apps: opts.apps ?? { '*': join(exampleProject, 'app', 'fake-app.xml') },
      slots: [
        {
          id: opts.slotId ?? 'fake-1',
          target: opts.target ?? 'emulator',
          platform: opts.platform ?? 'android',
          device_name: 'Fake device',
          appium_url: opts.appiumUrl,
          capabilities: { platformName: 'Fake', 'appium:automationName': 'Fake' },
        },
      ],
    }),
  );
  const proc = spawnQgjob(
    [
      'agent',
      '--url', opts.url,
      '--config', lab,
      '--work-dir', opts.workDir ?? tempDir('agent'),
      ...(opts.agentId ? ['--agent-id', opts.agentId] : []),
      ...(opts.extraArgs ?? []),
    ],
    opts.env,
  );
  await proc.waitFor(/serving \d+ slot/);
  return proc;
}

/** A port that was free a moment ago (for a process that must come back on the same port). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Polls the coordinator until `pred` holds for the job (observing only; the work is real). */
export async function waitForJob(url: string, jobId: string, pred: (j: import('../../shared/index.js').JobView) => boolean, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last: import('../../shared/index.js').JobView | null = null;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/api/v1/jobs/${jobId}`);
      if (res.ok) {
        last = (await res.json()) as import('../../shared/index.js').JobView;
        if (pred(last)) return last;
      }
    } catch {
      // the coordinator may be restarting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${jobId} did not reach the expected state within ${timeoutMs} ms; last seen: ${JSON.stringify(last)?.slice(0, 600)}`);
}

/** Process ids whose command line contains `needle` (e.g. an attempt's work folder). */
export function pidsMatching(needle: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', needle], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * A fresh, empty MySQL database for one test file, or null (with the reason) when
 * QGJOB_TEST_MYSQL_URL is not set. CI always sets it.
 */
export async function freshMysqlDatabase(tag: string): Promise<{ url: string; drop(): Promise<void> } | { skip: string }> {
  const base = process.env.QGJOB_TEST_MYSQL_URL;
  if (!base) return { skip: 'QGJOB_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/test)' };
  const { createConnection } = await import('mysql2/promise');
  const u = new URL(base);
  const name = `qgjob_t_${tag}_${process.pid}_${Date.now() % 1e6}`;
  const admin = { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username || 'root'), password: decodeURIComponent(u.password) };
  const conn = await createConnection(admin);
  await conn.query(`CREATE DATABASE \`${name}\``);
  await conn.end();
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = await createConnection(admin);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}
