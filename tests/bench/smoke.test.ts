/**
 * Keeps the coordinator benchmarks (bench/, issue 7) working: every one runs at a tiny size
 * (`--smoke`) against real processes (coordinator, agents, watchers, BullMQ worker, Redis, wrk or
 * autocannon) and must complete with well-formed figures. No timing thresholds: speed is for
 * `npm run bench`. SQLite always; MySQL for dispatch and throughput when QGJOB_TEST_MYSQL_URL is
 * set. The BullMQ reference is skipped (with the reason) when ioredis or Redis is missing.
 */
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot } from '../helpers/processes.js';

type Row = Record<string, string | number | null>;
interface Result {
  bench: string;
  rows: Row[];
}

/** Runs `bench/index.ts --smoke` with `args`; resolves with its BENCH_JSON results by name. */
async function smoke(args: string[]): Promise<Record<string, Result>> {
  const { FORCE_COLOR: _drop, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/index.ts', '--smoke', '--no-write', ...args], {
    cwd: repoRoot,
    env: { ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  assert.is(code, 0, `bench/index.ts ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}\n${err.slice(-3000)}`);
  const results: Record<string, Result> = {};
  for (const line of out.split('\n')) {
    if (line.startsWith('BENCH_JSON ')) {
      const r = JSON.parse(line.slice('BENCH_JSON '.length)) as Result;
      results[r.bench] = r;
    }
  }
  return results;
}

/** The named fields of every row are finite numbers ≥ 0. */
function numbers(r: Result | undefined, fields: string[], rows = 1): void {
  assert.ok(r, 'the benchmark printed no result');
  assert.is(r!.rows.length, rows, `${r!.bench}: ${JSON.stringify(r!.rows)}`);
  for (const row of r!.rows) {
    for (const f of fields) {
      const v = row[f];
      assert.ok(typeof v === 'number' && Number.isFinite(v) && v >= 0, `${r!.bench}.${f} = ${JSON.stringify(v)} in ${JSON.stringify(row)}`);
    }
  }
}

async function bullmqSkipReason(): Promise<string | null> {
  try {
    const { loadIORedis, ensureRedis } = await import('../../bench/lib/redis.js');
    await loadIORedis();
    const redis = await ensureRedis();
    await redis.stop();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

test('every coordinator benchmark runs at a tiny size on SQLite and prints well-formed figures', async () => {
  const skipBull = await bullmqSkipReason();
  if (skipBull) console.log(`  skipping the BullMQ reference: ${skipBull}`);
  const only = ['startup', ...(skipBull ? [] : ['bullmq']), 'dispatch', 'throughput', 'http', 'logs', 'scale'];
  const r = await smoke(['--db', 'sqlite', '--only', only.join(',')]);

  numbers(r.startup, ['p50_ms', 'p95_ms'], 2);
  if (!skipBull) {
    numbers(r.bullmq, ['jobs'], 5);
    assert.ok(r.bullmq!.rows.every((row) => (row.p99_ms ?? row.jobs_per_s) as number > 0));
  }
  numbers(r.dispatch, ['submit_to_assign_p50_ms', 'submit_to_assign_p99_ms', 'http_201_p99_ms']);
  numbers(r.throughput, ['jobs_per_s', 'coordinator_cpu_ms_per_job', 'coordinator_rss_mb']);
  numbers(r.http, ['req_per_s', 'requests', 'p99_ms'], 2);
  assert.ok(r.http!.rows.every((row) => row.non_2xx === 0 && (row.requests as number) > 0), JSON.stringify(r.http!.rows));
  numbers(r.logs, ['stored_lines_per_s', 'delivered_lines_per_s', 'latency_p99_ms']);
  assert.is(r.logs!.rows[0]!.lost_lines, 0, 'every watcher got every line');
  numbers(r.scale, ['rss_mb_fleet', 'idle_cpu_pct', 'decision_p99_ms', 'restart_ms', 'refill_p99_ms']);
  assert.ok((r.scale!.rows[0]!.decision_rounds as number) > 0, 'freed slots were filled by timed rounds');
  assert.ok(r.summary, 'the summary against the goals was printed');
});

test('dispatch and throughput run on MySQL', async () => {
  if (!process.env.QGJOB_TEST_MYSQL_URL) {
    console.log('  skipped: QGJOB_TEST_MYSQL_URL is not set (e.g. mysql://root@127.0.0.1:3306/test)');
    return;
  }
  const r = await smoke(['--db', 'mysql', '--only', 'dispatch,throughput']);
  numbers(r.dispatch, ['submit_to_assign_p99_ms']);
  numbers(r.throughput, ['jobs_per_s']);
  assert.is(r.throughput!.rows[0]!.db, 'mysql');
});

test.run();
