/**
 * Benchmark 4, HTTP submit rate (`npm run bench:http`): a load generator (Debian's `wrk` when
 * installed, else autocannon; QGJOB_BENCH_LOADGEN=autocannon forces it) at 50 connections posts
 * valid job specs to `POST /api/v1/jobs` for a fixed time, with no agent connected (every job is
 * stored, durably, and queued). In the same run, the same load against a bare Hono JSON POST
 * handler (no validation, no database) as the reference; prints qgjob/Hono.
 */
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BenchOptions, type BenchResult, isMain, main, round, size, startTsChild, tempDir } from './lib/common.js';
import { cpuBetween } from './lib/coordinator.js';
import { withSystem } from './lib/fleet.js';
import { benchSpec } from './lib/submit.js';

interface Load {
  req_per_s: number;
  requests: number;
  non_2xx: number;
  errors: number;
  p50_ms: number;
  p99_ms: number;
}

const hasWrk = (): boolean => {
  if (process.env.QGJOB_BENCH_LOADGEN === 'autocannon') return false;
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    // wrk --version exits 1 after printing its version
    return (err as { status?: number }).status === 1;
  }
};

const BODY = JSON.stringify(benchSpec(0, 1));

async function wrk(url: string, seconds: number, connections: number): Promise<Load> {
  const script = join(tempDir('wrk'), 'post.lua');
  writeFileSync(script, `wrk.method = "POST"\nwrk.body = '${BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`);
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-s', script, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let s = '';
    p.stdout.on('data', (d: Buffer) => (s += d.toString()));
    p.stderr.on('data', (d: Buffer) => (s += d.toString()));
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`wrk exited ${code}: ${s}`))));
  });
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const ms = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out);
    if (!m) return NaN;
    return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    req_per_s: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    non_2xx: num(/Non-2xx or 3xx responses: (\d+)/),
    errors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    p50_ms: ms('50'),
    p99_ms: ms('99'),
  };
}

async function autocannonLoad(url: string, seconds: number, connections: number): Promise<Load> {
  const name = 'autocannon'; // no type declarations ship with it
  const { default: autocannon } = (await import(name)) as {
    default: (o: Record<string, unknown>) => Promise<{ requests: { total: number; average: number }; non2xx: number; errors: number; duration: number; latency: { p50: number; p99: number } }>;
  };
  const r = await autocannon({ url, connections, duration: seconds, method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });
  return { req_per_s: r.requests.total / r.duration, requests: r.requests.total, non_2xx: r.non2xx, errors: r.errors, p50_ms: r.latency.p50, p99_ms: r.latency.p99 };
}

export async function run(opts: BenchOptions): Promise<BenchResult> {
  const seconds = size(opts, 'http_seconds', 10, 1);
  const connections = 50;
  const useWrk = hasWrk();
  const load = (url: string, s: number) => (useWrk ? wrk(url, s, connections) : autocannonLoad(url, s, connections));
  const rows: BenchResult['rows'] = [];

  const hono = startTsChild('hono-bare.ts', {});
  try {
    const { port } = await hono.next<{ port: number }>('ready', 30_000);
    const url = `http://127.0.0.1:${port}/api/v1/jobs`;
    if (!opts.smoke) await load(url, 2); // warm-up
    rows.push({ server: 'Hono, bare JSON POST (no validation, no database)', db: null, ...(await load(url, seconds)) });
  } finally {
    await hono.stop(5_000);
  }
  for (const kind of opts.dbs) {
    rows.push(
      await withSystem(kind, opts, 'http', async ({ coordinator }) => {
        const url = `${coordinator.url}/api/v1/jobs`;
        if (!opts.smoke) await load(url, 2);
        const before = await coordinator.stats();
        const r = await load(url, seconds);
        const s = await coordinator.stats();
        const cpu = cpuBetween(before, s);
        return {
          server: 'qgjob POST /api/v1/jobs (validated, stored, queued)',
          db: kind,
          ...r,
          coordinator_cores: round(cpu.cores),
          coordinator_cpu_ms_per_req: r.requests ? round(cpu.cpuMs / r.requests) : null,
          coordinator_rss_mb: round(s.rss / 2 ** 20),
        };
      }),
    );
  }
  for (const r of rows) for (const k of ['req_per_s', 'p50_ms', 'p99_ms'] as const) r[k] = round(r[k] as number);
  const hono0 = rows[0]!.req_per_s as number;
  for (const r of rows.slice(1)) r.vs_hono = round((r.req_per_s as number) / hono0);
  return {
    bench: 'http',
    rows,
    notes: [`${useWrk ? 'wrk -t1' : 'autocannon'} at ${connections} connections for ${seconds} s each${opts.smoke ? '' : ' after a 2 s warm-up'}; a 201 from qgjob means the job is committed`],
  };
}

if (isMain(import.meta.url)) await main(run);
