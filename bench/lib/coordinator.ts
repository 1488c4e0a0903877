/**
 * The coordinator under test: `bin/qgjob.js coordinator` (the compiled code users run) in its own
 * process, with the probe preloaded (CPU, RSS, scheduling-round times over IPC) and optionally
 * `--cpu-prof`. And its database: SQLite in a temp folder, or a fresh MySQL database that is
 * dropped afterwards.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BenchOptions, type DbKind, type IpcChild, nowNs, qgjobBin, repoRoot, startIpcChild, tempDir } from './common.js';

export interface ProbeStats {
  pid: number;
  started_ns: string;
  now_ns: string;
  cpu_user_us: number;
  cpu_system_us: number;
  rss: number;
  heap_used: number;
  elu: { idle: number; active: number; utilization: number };
  rounds: number[];
  decisions: number[];
}

export interface CoordinatorChild {
  url: string;
  proc: IpcChild;
  /** Spawn → "listening" (ms): module loading, database open and schema check, queues rebuilt from the store. */
  startMs: number;
  stats(): Promise<ProbeStats>;
  resetRounds(): Promise<void>;
  /** SIGTERM (the CPU profile, if any, is written on the way out). */
  stop(): Promise<void>;
}

/** A database for one benchmark: its URL for the coordinator, and how to get rid of it. */
export interface BenchDatabase {
  kind: DbKind;
  url: string;
  dataDir: string;
  drop(): Promise<void>;
}

export async function createDatabase(kind: DbKind, opts: BenchOptions, tag: string): Promise<BenchDatabase> {
  const dataDir = tempDir(tag);
  if (kind === 'sqlite') {
    return { kind, url: `sqlite:${join(dataDir, 'qgjob.sqlite')}`, dataDir, drop: async () => {} };
  }
  if (!opts.mysqlBaseUrl) throw new Error('no MySQL server: set QGJOB_BENCH_MYSQL_URL (e.g. mysql://root@127.0.0.1:3306)');
  const { createConnection } = await import('mysql2/promise');
  const u = new URL(opts.mysqlBaseUrl);
  const admin = { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username || 'root'), password: decodeURIComponent(u.password) };
  const name = `qgjob_bench_${tag.replace(/\W/g, '_')}_${process.pid}_${Date.now() % 1e7}`;
  const conn = await createConnection(admin);
  await conn.query(`CREATE DATABASE \`${name}\``);
  await conn.end();
  u.pathname = `/${name}`;
  return {
    kind,
    url: u.toString(),
    dataDir,
    async drop() {
      const c = await createConnection(admin);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

const probe = pathToFileURL(join(repoRoot, 'bench', 'lib', 'probe.mjs')).href;

/** Starts the coordinator on `db`; `cpuProfDir` turns on `--cpu-prof` (the profile is written when it stops). */
export async function startCoordinatorChild(db: BenchDatabase, o: { cpuProfDir?: string | null; env?: NodeJS.ProcessEnv; profName?: string } = {}): Promise<CoordinatorChild> {
  if (!existsSync(join(repoRoot, 'dist', 'cli', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm run bench does)');
  const prof = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir, ...(o.profName ? ['--cpu-prof-name', o.profName] : [])] : [];
  const t0 = nowNs();
  const proc = startIpcChild(
    ['--import', probe, ...prof, qgjobBin, 'coordinator', '--port', '0', '--data-dir', db.dataDir, '--database', db.url],
    { ...o.env },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(proc.stderr);
      if (m) {
        clearInterval(timer);
        resolve(m[1]!);
      }
    };
    const timer = setInterval(check, 2);
    proc.child.stderr!.on('data', check);
    proc.child.stdout!.on('data', check);
    void proc.exited.then(() => {
      clearInterval(timer);
      reject(new Error(`the coordinator exited before listening:\n${proc.stderr.slice(-4000)}`));
    });
  });
  const startMs = Number(nowNs() - t0) / 1e6;
  return {
    url,
    proc,
    startMs,
    stats: () => proc.request<ProbeStats>('stats'),
    resetRounds: async () => {
      await proc.request('reset-rounds');
    },
    stop: () => proc.stop(30_000),
  };
}

/** CPU time (ms) the coordinator used between two probe readings, and the wall time between them. */
export function cpuBetween(a: ProbeStats, b: ProbeStats): { cpuMs: number; wallMs: number; cores: number } {
  const cpuMs = (b.cpu_user_us + b.cpu_system_us - a.cpu_user_us - a.cpu_system_us) / 1000;
  const wallMs = Number(BigInt(b.now_ns) - BigInt(a.now_ns)) / 1e6;
  return { cpuMs, wallMs, cores: cpuMs / wallMs };
}
