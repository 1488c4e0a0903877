/**
 * `npm run bench:store`: how many job-store writes per second the store takes, with group commit
 * (`group`, the default) and without (`off`: one MikroORM transaction per write, as before).
 *
 * N concurrent jobs (`--concurrency`, default 50) each make the store calls the job service makes
 * for one job: insertJob (submit) → transition (assign) → transition (start, with an install event)
 * → `--logs` log chunks (default 0) → finish (3 test cases and a video), one after another, and
 * start the next job, for `--seconds` (default 5) per run. Every write is durable when it returns.
 * SQLite runs on a fresh file in a temp folder; MySQL on a fresh database at QGJOB_BENCH_MYSQL_URL
 * (default mysql://root@127.0.0.1:3306), dropped after the run. Prints a table and one JSON line.
 *
 * Options: --db sqlite,mysql  --modes off,group  --concurrency 50  --seconds 5  --logs 0
 *          --lines 20 (lines per chunk)  --sqlite-synchronous full|normal  --max-batch N (store default)
 */
import { join } from 'node:path';
import { JobStore, parseDatabaseUrl, type GroupCommitStats, type JobEventRow, type JobRow } from '../coordinator/store/index.js';
import { tempDir } from '../tests/helpers/processes.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const dbs = arg('db', 'sqlite,mysql').split(',');
const modes = arg('modes', 'off,group').split(',') as ('off' | 'group')[];
const concurrency = Number(arg('concurrency', '50'));
const seconds = Number(arg('seconds', '5'));
const logsPerJob = Number(arg('logs', '0'));
const linesPerChunk = Number(arg('lines', '20'));
const synchronous = arg('sqlite-synchronous', 'full') as 'full' | 'normal';
const maxBatchOps = process.argv.includes('--max-batch') ? Number(arg('max-batch', '')) : undefined;
const mysqlBase = process.env.QGJOB_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

interface Result {
  db: string;
  mode: string;
  concurrency: number;
  jobs: number;
  ops: number;
  log_lines: number;
  seconds: number;
  jobs_per_s: number;
  ops_per_s: number;
  log_lines_per_s: number;
  op_p50_ms: number;
  op_p99_ms: number;
  transactions: number | null;
  ops_per_transaction: number | null;
  largest_batch: number | null;
  batch_sizes: GroupCommitStats['sizes'] | null;
}

let seq = 0;
const newId = () => `job_${process.pid}_${(seq++).toString(36).padStart(8, '0')}`;
const stateEvent = (jobId: string, eventId: number, attempt: number, from: string | null, to: string): JobEventRow => ({
  jobId,
  eventId,
  type: 'state',
  attempt,
  data: JSON.stringify({ from, to, message: null }),
  atMs: Date.now(),
});

/** One job's life through the store, as JobService drives it. Returns the number of store calls. */
async function oneJob(store: JobStore, lat: number[]): Promise<number> {
  const timed = async <T>(p: Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await p;
    lat.push(performance.now() - t0);
    return r;
  };
  const id = newId();
  const now = Date.now();
  const row: JobRow = {
    id, orgId: 'bench', appVersionId: 'bench-v1', testPath: 'tests/onboarding.spec.js', priority: 5, target: 'emulator', platform: 'android',
    status: 'queued', attempts: 0, maxAttempts: 3, attemptId: null, agentId: null, slotId: null, avoidSlots: '', createdAtMs: now, updatedAtMs: now,
    assignedAtMs: null, startedAtMs: null, finishedAtMs: null, durationMs: null, installedBuild: null, errorReason: null, errorMessage: null,
    videoNote: null, lastEventId: 1, timeoutMs: 1_800_000, testRetries: 0, notBeforeMs: null, deadlineMs: null, resubmittedFrom: null, buildMode: 'auto',
  };
  await timed(store.insertJob(row, stateEvent(id, 1, 0, null, 'queued')));
  const attemptId = `${id}-a1`;
  const ok1 = await timed(
    store.transition(
      { jobId: id, from: ['queued'] },
      { attempts: 1, attemptId, agentId: 'agent-1', slotId: 'fake-1', assignedAtMs: now, startedAtMs: null, installedBuild: null, status: 'assigned', updatedAtMs: now, lastEventId: 2 },
      [stateEvent(id, 2, 1, 'queued', 'assigned')],
    ),
  );
  const install: JobEventRow = { jobId: id, eventId: 3, type: 'install', attempt: 1, data: JSON.stringify({ slot_id: 'fake-1', app_version_id: 'bench-v1', duration_ms: 1200 }), atMs: Date.now() };
  const ok2 = await timed(
    store.transition(
      { jobId: id, from: ['assigned'], attemptId },
      { startedAtMs: now, deadlineMs: now + 1_800_000, installedBuild: true, status: 'running', updatedAtMs: now, lastEventId: 4 },
      [install, stateEvent(id, 4, 1, 'assigned', 'running')],
    ),
  );
  let eventId = 4;
  for (let s = 0; s < logsPerJob; s++) {
    const lines = Array.from({ length: linesPerChunk }, (_, i) => ({ at_ms: Date.now(), stream: 'stdout', text: `[${id}] step ${s}.${i}: tapping the onboarding button and waiting for the next screen` }));
    const r = await timed(store.appendLog({ jobId: id, attemptId, attempt: 1, seq: s, eventId: ++eventId, lines: JSON.stringify(lines), atMs: Date.now() }));
    if (r !== 'stored') throw new Error(`log chunk ${s} of ${id}: ${r}`);
  }
  const tests = [0, 1, 2].map((i) => ({ jobId: id, attempt: 1, position: i, title: `step ${i}`, fullTitle: `onboarding › step ${i}`, status: 'passed', durationMs: 300 + i, errorMessage: null, retry: 0 }));
  const ok3 = await timed(
    store.finish(
      { jobId: id, from: ['running'], attemptId },
      { finishedAtMs: Date.now(), durationMs: 1000, errorReason: null, errorMessage: null, videoNote: null, status: 'passed', updatedAtMs: Date.now(), lastEventId: eventId + 1 },
      stateEvent(id, eventId + 1, 1, 'running', 'passed'),
      tests,
      { jobId: id, platform: 'android', videoUrl: `https://videos.example/${id}.mp4`, timestamp: new Date() },
    ),
  );
  if (!ok1 || !ok2 || !ok3) throw new Error(`a guarded move of ${id} was refused`);
  return 4 + logsPerJob;
}

async function run(db: 'sqlite' | 'mysql', mode: 'off' | 'group'): Promise<Result | null> {
  let url: string;
  let drop = async () => {};
  if (db === 'sqlite') {
    url = `sqlite:${join(tempDir('bench-store'), 'qgjob.sqlite')}`;
  } else {
    const { createConnection } = await import('mysql2/promise');
    const u = new URL(mysqlBase);
    const admin = { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username || 'root'), password: decodeURIComponent(u.password) };
    let conn;
    try {
      conn = await createConnection(admin);
    } catch (err) {
      console.error(`mysql: skipped: cannot connect to ${u.host} (${(err as Error).message}); set QGJOB_BENCH_MYSQL_URL`);
      return null;
    }
    const name = `qgjob_bench_${process.pid}_${seq++}`;
    await conn.query(`CREATE DATABASE \`${name}\``);
    await conn.end();
    u.pathname = `/${name}`;
    url = u.toString();
    drop = async () => {
      const c = await createConnection(admin);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    };
  }
  const store = await JobStore.open(parseDatabaseUrl(url), { groupCommit: mode === 'group', sqliteSynchronous: synchronous, ...(maxBatchOps ? { maxBatchOps } : {}) });
  try {
    const lat: number[] = [];
    let jobs = 0;
    let ops = 0;
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < deadline) {
          const n = await oneJob(store, lat);
          ops += n;
          jobs++;
        }
      }),
    );
    const elapsed = (performance.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    const pct = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor((lat.length * p) / 100))]! * 100) / 100;
    const stats = store.commitStats();
    return {
      db,
      mode,
      concurrency,
      jobs,
      ops,
      log_lines: jobs * logsPerJob * linesPerChunk,
      seconds: Math.round(elapsed * 100) / 100,
      jobs_per_s: Math.round(jobs / elapsed),
      ops_per_s: Math.round(ops / elapsed),
      log_lines_per_s: Math.round((jobs * logsPerJob * linesPerChunk) / elapsed),
      op_p50_ms: pct(50),
      op_p99_ms: pct(99),
      transactions: stats ? stats.batches : null,
      ops_per_transaction: stats ? Math.round((stats.committed / Math.max(1, stats.batches)) * 10) / 10 : null,
      largest_batch: stats ? stats.largestBatch : null,
      batch_sizes: stats ? stats.sizes : null,
    };
  } finally {
    await store.close();
    await drop();
  }
}

const results: Result[] = [];
for (const db of dbs as ('sqlite' | 'mysql')[]) {
  for (const mode of modes) {
    const r = await run(db, mode);
    if (r) results.push(r);
  }
}
console.log(
  `job-store writes, ${concurrency} concurrent jobs, ${seconds} s per run, ${logsPerJob} log chunk(s) of ${linesPerChunk} lines per job, SQLite synchronous=${synchronous}`,
);
console.table(results.map(({ batch_sizes: _s, ...r }) => r));
for (const r of results) if (r.batch_sizes) console.log(`${r.db}/${r.mode} batch sizes: ${JSON.stringify(r.batch_sizes)}`);
console.log(JSON.stringify({ bench: 'store-commit', concurrency, seconds, logs_per_job: logsPerJob, lines_per_chunk: linesPerChunk, sqlite_synchronous: synchronous, results }));
