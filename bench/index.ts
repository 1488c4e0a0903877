/**
 * `npm run bench`: every coordinator benchmark of issue 7 in one run (so ratios compare figures
 * taken on the same machine at the same time), then a summary against the goals.
 * Flags: `--smoke` (tiny sizes), `--only dispatch,throughput,…`, `--db sqlite|mysql|sqlite,mysql`,
 * `--cpu-prof <dir>` (coordinator CPU profiles), `--size name=N`, `--no-write`.
 * MySQL: QGJOB_BENCH_MYSQL_URL, else the local MariaDB (mysql://root@127.0.0.1:3306) on full runs.
 * The scheduler simulation (`bench:scheduler`) and the real-device benchmarks (`bench:e2e`,
 * `bench:installs`) are separate.
 */
import { run as bullmq } from './bullmq.js';
import { run as dispatch } from './dispatch.js';
import { run as http } from './http.js';
import { type BenchOptions, type BenchResult, optionsFromArgv, printTable, report, resultsDir, round } from './lib/common.js';
import { run as logs } from './logs.js';
import { run as scale } from './scale.js';
import { run as startup } from './startup.js';
import { run as throughput } from './throughput.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const BENCHES: Record<string, (o: BenchOptions) => Promise<BenchResult>> = { startup, bullmq, dispatch, throughput, http, logs, scale };

type Row = Record<string, string | number | null>;
const pick = (r: BenchResult | undefined, where: (row: Row) => boolean, key: string): number | null => {
  const row = r?.rows.find(where);
  const v = row?.[key];
  return typeof v === 'number' ? v : null;
};

/** The goals of issue 7 against this run's figures. */
export function goals(results: Record<string, BenchResult>): Row[] {
  const out: Row[] = [];
  const b = results.bullmq;
  const bLatP99 = pick(b, (r) => String(r.measure).startsWith('add'), 'p99_ms');
  const bFlow50 = pick(b, (r) => String(r.measure).startsWith('flow') && r.concurrency === 50, 'jobs_per_s');
  const bDrain50 = pick(b, (r) => String(r.measure).startsWith('drain') && r.concurrency === 50, 'jobs_per_s');
  const ratio = (a: number | null, c: number | null) => (a !== null && c ? round(a / c) : null);
  const goal = (what: string, value: number | null, target: string, ok: boolean | null) => out.push({ goal: what, value, target, met: ok === null ? 'n/a' : ok ? 'yes' : 'NO' });
  for (const db of ['sqlite', 'mysql']) {
    const p99 = pick(results.dispatch, (r) => r.db === db, 'submit_to_assign_p99_ms');
    const x = ratio(p99, bLatP99);
    if (p99 !== null) goal(`dispatch p99 ÷ BullMQ add→start p99, ${db}`, x, db === 'sqlite' ? '≤ 2' : '≤ 5', x === null ? null : x <= (db === 'sqlite' ? 2 : 5));
  }
  for (const db of ['sqlite', 'mysql']) {
    const rate = pick(results.throughput, (r) => r.db === db, 'jobs_per_s');
    const x = ratio(rate, bFlow50);
    if (rate !== null) {
      goal(`throughput ÷ BullMQ c50 flow, ${db}`, x, db === 'sqlite' ? '≥ 1.0' : '≥ 0.5', x === null ? null : x >= (db === 'sqlite' ? 1 : 0.5));
      const y = ratio(rate, bDrain50);
      if (y !== null) goal(`throughput ÷ BullMQ c50 drain, ${db}`, y, db === 'sqlite' ? '≥ 1.0' : '≥ 0.5', y >= (db === 'sqlite' ? 1 : 0.5));
    }
  }
  for (const db of ['sqlite', 'mysql']) {
    const x = pick(results.http, (r) => r.db === db, 'vs_hono');
    if (x !== null) goal(`HTTP submits ÷ bare Hono, ${db}`, x, '≥ 0.5', x >= 0.5);
  }
  for (const db of ['sqlite', 'mysql']) {
    const rate = pick(results.logs, (r) => r.db === db, 'delivered_lines_per_s');
    const p99 = pick(results.logs, (r) => r.db === db, 'latency_p99_ms');
    if (rate !== null) goal(`log lines/s end to end, ${db}`, rate, '≥ 100000', rate >= 100_000);
    if (p99 !== null) goal(`log agent→watcher p99 ms, ${db}`, p99, '< 50', p99 < 50);
  }
  for (const db of ['sqlite', 'mysql']) {
    const rss = pick(results.scale, (r) => r.db === db, 'rss_mb_fleet');
    const dec = pick(results.scale, (r) => r.db === db, 'decision_p99_ms');
    const reb = pick(results.scale, (r) => r.db === db, 'rebuild_ms');
    if (rss !== null) goal(`scale RSS MB, ${db}`, rss, '< 1024', rss < 1024);
    if (dec !== null) goal(`scale decision p99 ms, ${db}`, dec, '< 1', dec < 1);
    if (reb !== null) goal(`scale rebuild ms, ${db}`, reb, '< 5000', reb < 5000);
  }
  const st = pick(results.startup, (r) => String(r.command).includes('qgjob'), 'p50_ms');
  if (st !== null) goal('qgjob --help p50 ms', st, '< 150', st < 150);
  return out;
}

async function runAll(): Promise<void> {
  const argv = process.argv.slice(2);
  const opts = optionsFromArgv(argv);
  const i = argv.indexOf('--only');
  const only = i >= 0 ? (argv[i + 1] ?? '').split(',') : Object.keys(BENCHES);
  const results: Record<string, BenchResult> = {};
  let failed = false;
  for (const name of only) {
    const fn = BENCHES[name];
    if (!fn) throw new Error(`no benchmark ${name}; known: ${Object.keys(BENCHES).join(', ')}`);
    const t0 = Date.now();
    try {
      results[name] = report(await fn(opts), opts);
      console.log(`  (${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    } catch (err) {
      failed = true;
      console.error(`benchmark ${name} failed: ${(err as Error).stack ?? String(err)}`);
    }
  }
  const g = goals(results);
  console.log('\n== goals of issue 7 (ratios within this run)');
  printTable(g);
  const summary = { bench: 'summary', rows: g };
  console.log(`BENCH_JSON ${JSON.stringify(summary)}`);
  if (opts.writeResults) {
    mkdirSync(resultsDir, { recursive: true });
    writeFileSync(join(resultsDir, `summary-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), `${JSON.stringify({ ...summary, results }, null, 2)}\n`);
  }
  process.exit(failed ? 1 : 0);
}

await runAll();
