/**
 * What every coordinator benchmark shares: options from argv/env (`--smoke`, `--db`), statistics,
 * the printed table and the JSON result (one `BENCH_JSON {...}` line on stdout and a file in
 * bench/results/), the machine description, and child processes that talk over IPC.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const qgjobBin = join(repoRoot, 'bin', 'qgjob.js');
export const resultsDir = join(repoRoot, 'bench', 'results');

export type DbKind = 'sqlite' | 'mysql';

export interface BenchOptions {
  /** Tiny sizes, for CI: proves the benchmark runs, measures nothing worth reading. */
  smoke: boolean;
  /** Databases to run on; MySQL only when a server URL is known (see `mysqlBaseUrl`). */
  dbs: DbKind[];
  /** MySQL server URL (no database), e.g. `mysql://root@127.0.0.1:3306`; null: MySQL parts are skipped. */
  mysqlBaseUrl: string | null;
  /** Folder for coordinator CPU profiles (`--cpu-prof`); null: no profiling. */
  cpuProfDir: string | null;
  /** `--size key=value` overrides (e.g. `jobs=5000`). */
  sizes: Record<string, number>;
  /** Write bench/results/*.json (default yes; the smoke test turns it off). */
  writeResults: boolean;
}

/** A benchmark's answer: printed as a table and as JSON. */
export interface BenchResult {
  bench: string;
  /** One row per measured configuration (e.g. per database). */
  rows: Array<Record<string, string | number | null>>;
  notes?: string[];
}

/** Options from argv and env: `--smoke`, `--db sqlite,mysql`, `--cpu-prof <dir>`, `--size k=v`, `--no-write`. */
export function optionsFromArgv(argv = process.argv.slice(2), env = process.env): BenchOptions {
  const value = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const smoke = argv.includes('--smoke') || env.QGJOB_BENCH_SMOKE === '1';
  const explicit = env.QGJOB_BENCH_MYSQL_URL ?? env.QGJOB_TEST_MYSQL_URL;
  // Full runs use the local MariaDB (root, no password) unless told otherwise; smoke runs only a named one.
  const mysqlBaseUrl = explicit ? serverUrl(explicit) : smoke ? null : 'mysql://root@127.0.0.1:3306';
  const dbs = (value('--db') ?? 'sqlite,mysql').split(',').filter((d): d is DbKind => d === 'sqlite' || d === 'mysql');
  const sizes: Record<string, number> = {};
  argv.forEach((a, i) => {
    if (a !== '--size') return;
    const [k, v] = (argv[i + 1] ?? '').split('=');
    if (k && v && Number.isFinite(Number(v))) sizes[k] = Number(v);
  });
  const prof = value('--cpu-prof');
  return {
    smoke,
    dbs: dbs.filter((d) => d === 'sqlite' || mysqlBaseUrl),
    mysqlBaseUrl,
    cpuProfDir: prof ? resolve(prof) : null,
    sizes,
    writeResults: !argv.includes('--no-write'),
  };
}

/** `mysql://u:p@h:port/db` → `mysql://u:p@h:port` (the benchmark makes its own database). */
function serverUrl(url: string): string {
  const u = new URL(url);
  u.pathname = '';
  return u.toString().replace(/\/$/, '');
}

/** A size: `--size name=N` if given, else the smoke or the full default. */
export function size(opts: BenchOptions, name: string, full: number, smoke: number): number {
  return opts.sizes[name] ?? (opts.smoke ? smoke : full);
}

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `qgjob-bench-${prefix}-`));

/** Monotonic nanoseconds (CLOCK_MONOTONIC: the same clock in every process of the host). */
export const nowNs = (): bigint => process.hrtime.bigint();
export const msSince = (t0: bigint, t1: bigint = nowNs()): number => Number(t1 - t0) / 1e6;

/** Percentile (nearest rank) of unsorted numbers; NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function summary(values: readonly number[]): { n: number; p50: number; p99: number; max: number; mean: number } {
  const n = values.length;
  let sum = 0;
  let max = n ? -Infinity : NaN;
  for (const v of values) {
    sum += v;
    if (v > max) max = v;
  }
  return { n, p50: percentile(values, 50), p99: percentile(values, 99), max, mean: n ? sum / n : NaN };
}

/** Rounds for printing: 3 significant digits under 100, whole numbers above. */
export function round(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (Math.abs(x) >= 100) return Math.round(x);
  return Number(x.toPrecision(3));
}

export function machine(): Record<string, string | number> {
  const c = cpus();
  return {
    date: new Date().toISOString(),
    cpu: `${c.length} × ${c[0]?.model ?? 'unknown'}`,
    memory_gb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    load_avg_1m: Number(loadavg()[0]!.toFixed(2)),
  };
}

/** Prints the result as a table and one `BENCH_JSON` line; writes it to bench/results/<bench>-<time>.json. */
export function report(result: BenchResult, opts: BenchOptions): BenchResult & { machine: Record<string, string | number>; smoke: boolean } {
  const full = { ...result, smoke: opts.smoke, machine: machine() };
  console.log(`\n== ${result.bench}${opts.smoke ? ' (smoke: tiny sizes, figures meaningless)' : ''}`);
  printTable(result.rows);
  for (const n of result.notes ?? []) console.log(`  · ${n}`);
  console.log(`BENCH_JSON ${JSON.stringify(full)}`);
  if (opts.writeResults) {
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, `${result.bench}-${full.machine.date.toString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify(full, null, 2)}\n`);
  }
  return full;
}

/** A plain-text table (columns = the union of the rows' keys). */
export function printTable(rows: ReadonlyArray<Record<string, unknown>>): void {
  if (rows.length === 0) return;
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (v === null || v === undefined ? '–' : typeof v === 'number' ? String(round(v)) : String(v));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(line(cols));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))));
}

/** Runs `main` when the module is the entry point (`node --import tsx bench/x.ts`). */
export function isMain(metaUrl: string): boolean {
  return process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === metaUrl;
}

/** Entry point of a single benchmark: options from argv, run, report, exit. */
export async function main(run: (opts: BenchOptions) => Promise<BenchResult>): Promise<void> {
  const opts = optionsFromArgv();
  try {
    report(await run(opts), opts);
    process.exit(0);
  } catch (err) {
    console.error((err as Error).stack ?? String(err));
    process.exit(1);
  }
}

/** A child process (TypeScript through tsx, or a given command) with request/reply over IPC. */
export interface IpcChild {
  child: ChildProcess;
  /** Sends `{type, ...msg}` and resolves with the child's reply to it. */
  request<T = Record<string, unknown>>(type: string, msg?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Resolves with the first message of this type the child sends by itself. */
  next<T = Record<string, unknown>>(type: string, timeoutMs?: number): Promise<T>;
  readonly stderr: string;
  exited: Promise<number | null>;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `bench/lib/<script>` (TypeScript, via tsx) with `config` as its JSON argument. */
export function startTsChild(script: string, config: unknown, env: NodeJS.ProcessEnv = {}): IpcChild {
  return startIpcChild([...tsxArgs(), join(repoRoot, 'bench', 'lib', script), JSON.stringify(config)], env);
}

export const tsxArgs = (): string[] => ['--import', 'tsx'];

/** Starts `node <args>` with an IPC channel; stderr is kept (its last 64 KiB) and echoed with QGJOB_BENCH_VERBOSE=1. */
export function startIpcChild(args: string[], env: NodeJS.ProcessEnv = {}): IpcChild {
  const { FORCE_COLOR: _drop, ...parentEnv } = process.env;
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...parentEnv, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let stderr = '';
  const keep = (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-65536);
    if (process.env.QGJOB_BENCH_VERBOSE === '1') process.stderr.write(d);
  };
  child.stderr!.on('data', keep);
  child.stdout!.on('data', keep);
  let seq = 0;
  const waiting = new Map<number, (m: Record<string, unknown>) => void>();
  const listeners = new Set<(m: Record<string, unknown>) => void>();
  child.on('message', (m: Record<string, unknown>) => {
    const r = typeof m.reply === 'number' ? waiting.get(m.reply) : undefined;
    if (r) {
      waiting.delete(m.reply as number);
      r(m);
    }
    for (const l of listeners) l(m);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.on('error', () => undefined); // a send on a closed channel: the request that made it rejects
  const died = (what: string) => new Error(`${args.at(-2) ?? args[0]} exited before ${what}:\n${stderr.slice(-4000)}`);
  return {
    child,
    get stderr() {
      return stderr;
    },
    exited,
    request<T>(type: string, msg: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<T> {
      const id = ++seq;
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to ${type} within ${timeoutMs} ms:\n${stderr.slice(-4000)}`)), timeoutMs);
        waiting.set(id, (m) => {
          clearTimeout(t);
          if (typeof m.error === 'string') reject(new Error(`${type}: ${m.error}`));
          else resolve(m as T);
        });
        void exited.then(() => {
          clearTimeout(t);
          reject(died(`answering ${type}`));
        });
        if (!child.connected) return reject(died(`answering ${type}`));
        child.send({ ...msg, type, id }, (err) => err && reject(died(`answering ${type} (${err.message})`)));
      });
    },
    next<T>(type: string, timeoutMs = 600_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${type} within ${timeoutMs} ms:\n${stderr.slice(-4000)}`)), timeoutMs);
        const l = (m: Record<string, unknown>) => {
          if (m.type !== type) return;
          listeners.delete(l);
          clearTimeout(t);
          if (typeof m.error === 'string') reject(new Error(`${type}: ${m.error}`));
          else resolve(m as T);
        };
        listeners.add(l);
        void exited.then(() => {
          clearTimeout(t);
          reject(died(`sending ${type}`));
        });
      });
    },
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/**
 * The child's side of `IpcChild`: answers requests with `handlers[type](msg)` (errors become
 * `{error}`); `send` pushes a message of its own.
 */
export function serveIpc(handlers: Record<string, (msg: Record<string, unknown>) => unknown>): { send(type: string, msg?: Record<string, unknown>): void } {
  process.on('message', (m: Record<string, unknown>) => {
    const h = handlers[m.type as string];
    const id = m.id;
    Promise.resolve()
      .then(() => (h ? h(m) : Promise.reject(new Error(`no handler for ${String(m.type)}`))))
      .then(
        (r) => process.send?.({ ...(r as object), reply: id }),
        (err: unknown) => process.send?.({ reply: id, error: (err as Error).stack ?? String(err) }),
      );
  });
  // The parent going away ends the child.
  process.on('disconnect', () => process.exit(0));
  return { send: (type, msg = {}) => process.send?.({ ...msg, type }) };
}
