/**
 * Group commit in the job store, on SQLite and (when QGJOB_TEST_MYSQL_URL is set) MySQL: writes of
 * many jobs share transactions, each caller still gets its own answer, a bad write fails alone, and
 * an unreachable store fails every waiter with nothing stored. Batches are counted by the store's
 * committer, never inferred from timing.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JobStore, isStoreUnavailable, parseDatabaseUrl, type JobRow, type LogChunkRow } from '../../coordinator/store/index.js';
import { freshMysqlDatabase, tempDir } from '../helpers/processes.js';
import { jobRow } from '../helpers/job-row.js';
import { privateMariadbUnavailable, startPrivateMariadb } from '../helpers/private-mariadb.js';

const row = jobRow;
const ev = (jobId: string, eventId: number, type = 'state') => ({ jobId, eventId, type, attempt: 1, data: JSON.stringify({ n: eventId }), atMs: 1_790_000_000_000 + eventId });
const chunk = (jobId: string, attemptId: string, seq: number, eventId: number): LogChunkRow => ({
  jobId,
  attemptId,
  attempt: 1,
  seq,
  eventId,
  lines: JSON.stringify([{ at_ms: 1, stream: 'stdout', text: `${jobId} line ${seq}` }]),
  atMs: 1_790_000_000_500 + seq,
});
const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
const eventIds = async (store: JobStore, jobId: string) => (await store.eventsAfter(jobId, 0)).map((e) => `${e.kind}:${e.row.eventId}`);
const batches = (store: JobStore) => store.commitStats()!.batches;

function storeSuite(name: string, url: () => Promise<string | { skip: string }>, cleanup: () => Promise<void> = async () => {}) {
  const s = suite<{ store?: JobStore }>(name, {});
  const skip = name.startsWith('mysql') && !process.env.QGJOB_TEST_MYSQL_URL;
  if (skip) console.log(`  (${name}: skipped: QGJOB_TEST_MYSQL_URL is not set, e.g. mysql://root@127.0.0.1:3306/test)`);
  s.before(async (ctx) => {
    const u = await url();
    if (typeof u === 'string') ctx.store = await JobStore.open(parseDatabaseUrl(u), { groupCommit: true });
  });
  s.after(async (ctx) => {
    await ctx.store?.close();
    await cleanup();
  });
  const t = (title: string, fn: (store: JobStore) => Promise<void>) => {
    if (skip) s.skip(title, () => {});
    else s(title, async (ctx) => fn(ctx.store!));
  };

  t('writes of many jobs submitted together share transactions, and each reads back', async (store) => {
    const jobs = ids('job_GA', 60);
    const b0 = batches(store);
    await Promise.all(jobs.map((id) => store.insertJob(row(id), ev(id, 1))));
    const b1 = batches(store);
    assert.ok(b1 - b0 < jobs.length, `60 inserts took ${b1 - b0} transactions`);
    assert.is(b1 - b0, 1, 'submitted in one turn of the event loop: one batch');
    const moved = await Promise.all(
      jobs.map((id) => store.transition({ jobId: id, from: ['queued'] }, { status: 'assigned', attempts: 1, attemptId: `${id}-a1`, installedBuild: false, lastEventId: 2 }, [ev(id, 2)])),
    );
    assert.ok(moved.every(Boolean));
    assert.is(batches(store) - b1, 1);
    for (const id of [jobs[0]!, jobs[59]!]) {
      const j = await store.getJob(id);
      assert.is(j!.status, 'assigned');
      assert.is(j!.installedBuild, false);
      assert.equal(await eventIds(store, id), ['event:1', 'event:2']);
    }
    const stats = store.commitStats()!;
    assert.ok(stats.largestBatch >= 60, JSON.stringify(stats));
    assert.ok((stats.sizes['32-63'] ?? 0) >= 2, JSON.stringify(stats.sizes));
  });

  t('guarded transitions in one batch: each gets its own answer, and a refused one writes nothing', async (store) => {
    const jobs = ids('job_GB', 20);
    await Promise.all(jobs.map((id) => store.insertJob(row(id, { status: 'running', attempts: 1, attemptId: `${id}-a1`, lastEventId: 3 }), ev(id, 3))));
    const b0 = batches(store);
    // Even jobs: the right attempt. Odd jobs: a stale attempt (a late message of an old attempt).
    const results = await Promise.all(
      jobs.map((id, i) =>
        i % 2 === 0
          ? store.finish(
              { jobId: id, from: ['running'], attemptId: `${id}-a1` },
              { status: 'passed', finishedAtMs: 1_790_000_001_000, durationMs: 900, lastEventId: 4 },
              ev(id, 4),
              [{ jobId: id, attempt: 1, position: 0, title: 't', fullTitle: `${id} › t`, status: 'passed', durationMs: 12, errorMessage: null, retry: 0 }],
              { jobId: id, platform: 'android', videoUrl: `https://videos.example/${id}.mp4`, timestamp: new Date('2026-11-25T10:00:00Z') },
            )
          : store.finish({ jobId: id, from: ['running'], attemptId: `${id}-a0` }, { status: 'failed', lastEventId: 4 }, ev(id, 4), [{ jobId: id, attempt: 0, position: 0, title: 'x', fullTitle: 'x', status: 'failed', durationMs: 1, errorMessage: 'no', retry: 0 }], { jobId: id, platform: 'android', videoUrl: 'stale', timestamp: null }),
      ),
    );
    assert.is(batches(store) - b0, 1, 'one transaction for all 20');
    assert.equal(results, jobs.map((_, i) => i % 2 === 0));
    for (const [i, id] of jobs.entries()) {
      const j = await store.getJob(id);
      if (i % 2 === 0) {
        assert.is(j!.status, 'passed');
        assert.equal(await eventIds(store, id), ['event:3', 'event:4']);
        assert.equal((await store.getTestCases(id)).map((tc) => tc.fullTitle), [`${id} › t`]);
        assert.is((await store.getVideo(id))!.videoUrl, `https://videos.example/${id}.mp4`);
      } else {
        assert.is(j!.status, 'running', 'the stale finish changed nothing');
        assert.is(j!.lastEventId, 3);
        assert.equal(await eventIds(store, id), ['event:3'], 'and wrote no event');
        assert.equal(await store.getTestCases(id), []);
        assert.is(await store.getVideo(id), null);
      }
    }
  });

  t('log chunks in one batch: stored, duplicate and stale each answered right', async (store) => {
    await store.insertJob(row('job_GC1', { status: 'running', attempts: 1, attemptId: 'c1-a1' }), ev('job_GC1', 1));
    await store.insertJob(row('job_GC2', { status: 'running', attempts: 1, attemptId: 'c2-a1' }), ev('job_GC2', 1));
    await store.insertJob(row('job_GC3', { status: 'running', attempts: 1, attemptId: 'c3-a1' }), ev('job_GC3', 1));
    assert.is(await store.appendLog(chunk('job_GC2', 'c2-a1', 0, 2)), 'stored');
    const b0 = batches(store);
    const results = await Promise.all([
      store.appendLog(chunk('job_GC1', 'c1-a1', 0, 2)), // new
      store.appendLog(chunk('job_GC2', 'c2-a1', 0, 3)), // resent
      store.appendLog(chunk('job_GC3', 'c3-a0', 0, 2)), // old attempt
    ]);
    assert.is(batches(store) - b0, 1);
    assert.equal(results, ['stored', 'duplicate', 'stale']);
    assert.equal(await eventIds(store, 'job_GC1'), ['event:1', 'log:2']);
    assert.equal(await eventIds(store, 'job_GC2'), ['event:1', 'log:2']);
    assert.equal(await eventIds(store, 'job_GC3'), ['event:1']);
    assert.is((await store.getJob('job_GC1'))!.lastEventId, 2);
    assert.is((await store.getJob('job_GC2'))!.lastEventId, 2, 'the resend did not move the job');
    assert.is((await store.getJob('job_GC3'))!.lastEventId, 1);
  });

  t('a resent chunk racing its twin: one is stored, the other is a duplicate', async (store) => {
    await store.insertJob(row('job_GD1', { status: 'running', attempts: 1, attemptId: 'd1-a1' }), ev('job_GD1', 1));
    const results = await Promise.all([store.appendLog(chunk('job_GD1', 'd1-a1', 0, 2)), store.appendLog(chunk('job_GD1', 'd1-a1', 0, 2))]);
    assert.equal(results, ['stored', 'duplicate']);
    assert.equal(await eventIds(store, 'job_GD1'), ['event:1', 'log:2']);
  });

  t('a bad write spoils only itself: the rest of its batch is stored, it gets the error, its job is untouched', async (store) => {
    const jobs = ids('job_GE', 12);
    await Promise.all(jobs.map((id) => store.insertJob(row(id, { status: 'running', attempts: 1, attemptId: `${id}-a1` }), ev(id, 1))));
    await store.insertJob(row('job_GEdup'), ev('job_GEdup', 1));
    const bad = jobs[5]!;
    assert.is(await store.appendLog(chunk(bad, `${bad}-a1`, 0, 2)), 'stored');
    const before = store.commitStats()!;
    const settled = await Promise.allSettled([
      ...jobs.map((id, i) =>
        i === 5
          ? // a new seq, so the job's guarded update passes; then the chunk's (job, event id) collides with the stored one
            store.appendLog({ ...chunk(id, `${id}-a1`, 1, 2), atMs: 42 })
          : store.appendLog(chunk(id, `${id}-a1`, 0, 2)),
      ),
      store.insertJob(row('job_GEdup'), ev('job_GEdup', 1)), // the id is taken
      store.insertJob(row('job_GEnew'), ev('job_GEnew', 1)),
    ]);
    const after = store.commitStats()!;
    assert.is(after.retriedOneByOne - before.retriedOneByOne, 1, 'the batch failed once and was retried one by one');
    assert.is(after.failed - before.failed, 2);
    assert.equal(
      settled.map((r) => r.status),
      [...jobs.map((_, i) => (i === 5 ? 'rejected' : 'fulfilled')), 'rejected', 'fulfilled'],
    );
    for (const r of settled) if (r.status === 'rejected') assert.not.ok(isStoreUnavailable(r.reason), `a constraint, not an outage: ${r.reason}`);
    for (const [i, id] of jobs.entries()) {
      const j = await store.getJob(id);
      assert.is(j!.lastEventId, 2);
      assert.equal(await eventIds(store, id), ['event:1', 'log:2']);
      if (i === 5) assert.is.not(Number(j!.updatedAtMs), 42, 'the failed op left its job as it was');
    }
    assert.ok(await store.getJob('job_GEnew'));
  });

  t('ordering: each job keeps its own event sequence; two writes of one job submitted together apply in order', async (store) => {
    const jobs = ids('job_GF', 8);
    await Promise.all(jobs.map((id) => store.insertJob(row(id), ev(id, 1))));
    // Every job walks its own path concurrently with the others.
    await Promise.all(
      jobs.map(async (id) => {
        assert.ok(await store.transition({ jobId: id, from: ['queued'] }, { status: 'assigned', attempts: 1, attemptId: `${id}-a1`, lastEventId: 2 }, [ev(id, 2)]));
        assert.is(await store.appendLog(chunk(id, `${id}-a1`, 0, 3)), 'stored');
        assert.ok(await store.transition({ jobId: id, from: ['assigned'], attemptId: `${id}-a1` }, { status: 'running', lastEventId: 5 }, [ev(id, 4, 'install'), ev(id, 5)]));
        assert.is(await store.appendLog(chunk(id, `${id}-a1`, 1, 6)), 'stored');
        assert.ok(await store.finish({ jobId: id, from: ['running'], attemptId: `${id}-a1` }, { status: 'passed', lastEventId: 7 }, ev(id, 7), [], null));
      }),
    );
    for (const id of jobs) {
      assert.equal(await eventIds(store, id), ['event:1', 'event:2', 'log:3', 'event:4', 'event:5', 'log:6', 'event:7']);
      assert.is((await store.getJob(id))!.status, 'passed');
    }
    // Without the service's per-job lock: the second write of a job waits for the next batch.
    await store.insertJob(row('job_GG1'), ev('job_GG1', 1));
    const b0 = batches(store);
    const [a, b] = await Promise.all([
      store.transition({ jobId: 'job_GG1', from: ['queued'] }, { status: 'assigned', attemptId: 'g-a1', lastEventId: 2 }, [ev('job_GG1', 2)]),
      store.transition({ jobId: 'job_GG1', from: ['assigned'], attemptId: 'g-a1' }, { status: 'running', lastEventId: 3 }, [ev('job_GG1', 3)]),
    ]);
    assert.equal([a, b], [true, true]);
    assert.is(batches(store) - b0, 2);
    assert.equal(await eventIds(store, 'job_GG1'), ['event:1', 'event:2', 'event:3']);
  });

  t('close finishes the queued writes; a write after close is refused as store unavailable', async (store) => {
    const pending = ids('job_GH', 5).map((id) => store.insertJob(row(id), ev(id, 1)));
    await store.close();
    await Promise.all(pending);
    const err = await store.insertJob(row('job_GHlate'), ev('job_GHlate', 1)).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err && isStoreUnavailable(err), String(err));
  });

  s.run();
}

const dir = tempDir('group-commit');
storeSuite('sqlite group commit', async () => `sqlite:${join(dir, 'qgjob.sqlite')}`);
let drop: () => Promise<void> = async () => {};
storeSuite(
  'mysql group commit',
  async () => {
    const db = await freshMysqlDatabase('gc');
    if ('skip' in db) return db;
    drop = db.drop;
    return db.url;
  },
  () => drop(),
);

/** Whether a promise has settled, without waiting for it. */
function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  return () => done;
}

const pipelined = suite<{ store?: JobStore; url?: string; drop?: () => Promise<void> }>('mysql: two batches in flight', {});
const noMysql = !process.env.QGJOB_TEST_MYSQL_URL;
if (noMysql) console.log('  (mysql: two batches in flight: skipped: QGJOB_TEST_MYSQL_URL is not set)');
pipelined.before(async (ctx) => {
  if (noMysql) return;
  const db = await freshMysqlDatabase('gcpipe');
  if ('skip' in db) return;
  ctx.url = db.url;
  ctx.drop = db.drop;
  ctx.store = await JobStore.open(parseDatabaseUrl(db.url), { groupCommit: true });
});
pipelined.after(async (ctx) => {
  await ctx.store?.close();
  await ctx.drop?.();
});

(noMysql ? pipelined.skip : pipelined)('a batch stuck on a locked row does not hold up other jobs; a later write of its job waits for it, then applies in order', async (ctx) => {
  const store = ctx.store!;
  await store.insertJob(row('job_PL'), ev('job_PL', 1));
  const { createConnection } = await import('mysql2/promise');
  const u = new URL(ctx.url!);
  const other = await createConnection({ host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username || 'root'), password: decodeURIComponent(u.password), database: u.pathname.slice(1) });
  try {
    // Another client holds job_PL's row: the batch with its transition waits for the lock, in flight.
    await other.query('start transaction');
    await other.query('select id from jobs where id = ? for update', ['job_PL']);
    const first = store.transition({ jobId: 'job_PL', from: ['queued'] }, { status: 'assigned', attempts: 1, attemptId: 'pl-a1', lastEventId: 2 }, [ev('job_PL', 2)]);
    const firstDone = settled(first);
    // Until the server runs the batch's locking read (it cannot finish while the row is held; the
    // process list is live, innodb_trx is a cached snapshot). Bounded by the server's lock wait timeout.
    while (!firstDone()) {
      const [waits] = (await other.query("select count(*) as n from information_schema.processlist where id <> connection_id() and info like '%for update%'")) as unknown as [{ n: number }[]];
      if (Number(waits[0]!.n) > 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (firstDone()) assert.unreachable(`the transition did not wait for the locked row: ${String(await first.catch((e: unknown) => e))}`);
    const b0 = batches(store);
    const second = store.transition({ jobId: 'job_PL', from: ['assigned'], attemptId: 'pl-a1' }, { status: 'running', lastEventId: 3 }, [ev('job_PL', 3)]);
    const secondDone = settled(second);
    // Writes of other jobs commit meanwhile, in the second batch in flight.
    await Promise.all(ids('job_PN', 5).map((id) => store.insertJob(row(id), ev(id, 1))));
    assert.ok(await store.transition({ jobId: 'job_PN000', from: ['queued'] }, { status: 'assigned', attempts: 1, attemptId: 'pn-a1', lastEventId: 2 }, [ev('job_PN000', 2)]));
    assert.is((await store.getJob('job_PN004'))!.status, 'queued');
    assert.is(batches(store) - b0, 2, 'the other jobs were committed while the locked batch waited');
    assert.not.ok(firstDone(), 'the locked batch is still waiting');
    assert.not.ok(secondDone(), 'the second write of the locked job waits for its first');
    await other.query('rollback');
    assert.equal([await first, await second], [true, true]);
    assert.equal(await eventIds(store, 'job_PL'), ['event:1', 'event:2', 'event:3']);
    assert.is((await store.getJob('job_PL'))!.status, 'running');
  } finally {
    await other.end();
  }
});

(noMysql ? pipelined.skip : pipelined)('finishes with test cases in overlapping batches neither deadlock nor fall back to one write per transaction', async (ctx) => {
  const store = ctx.store!;
  const jobs = ids('job_PF', 120);
  await Promise.all(jobs.map((id) => store.insertJob(row(id, { status: 'running', attempts: 1, attemptId: `${id}-a1`, lastEventId: 1 }), ev(id, 1))));
  const before = store.commitStats()!;
  // A few finishes every turn of the event loop: batches keep starting while others commit.
  const results: Promise<boolean>[] = [];
  for (let i = 0; i < jobs.length; i += 3) {
    for (const id of jobs.slice(i, i + 3)) {
      const cases = [0, 1].map((position) => ({ jobId: id, attempt: 1, position, title: `t${position}`, fullTitle: `${id} t${position}`, status: 'passed', durationMs: 1, errorMessage: null, retry: 0 }));
      results.push(store.finish({ jobId: id, from: ['running'], attemptId: `${id}-a1` }, { status: 'passed', finishedAtMs: 1_790_000_001_000, durationMs: 5, lastEventId: 2 }, ev(id, 2), cases, null));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok((await Promise.all(results)).every(Boolean));
  const after = store.commitStats()!;
  assert.is(after.failed - before.failed, 0);
  assert.is(after.retriedOneByOne - before.retriedOneByOne, 0, 'no batch failed (a deadlock would have)');
  for (const id of [jobs[0]!, jobs[61]!, jobs[119]!]) {
    assert.is((await store.getJob(id))!.status, 'passed');
    assert.equal((await store.getTestCases(id)).map((t) => t.title), ['t0', 't1']);
  }
});
pipelined.run();

/** Every waiter of a batch that meets an outage is refused with a store-unavailable error; nothing of it is stored; then it recovers. */
async function outageChecks(store: JobStore, cause: { begin(): Promise<void>; end(): Promise<void> }, tag: string) {
  const jobs = ids(`job_O${tag}`, 10);
  await Promise.all(jobs.map((id) => store.insertJob(row(id, { status: 'running', attempts: 1, attemptId: `${id}-a1` }), ev(id, 1))));
  await cause.begin();
  const settled = await Promise.allSettled([
    ...jobs.map((id, i) =>
      i % 2 ? store.appendLog(chunk(id, `${id}-a1`, 0, 2)) : store.transition({ jobId: id, from: ['running'], attemptId: `${id}-a1` }, { status: 'passed', lastEventId: 2 }, [ev(id, 2)]),
    ),
    ...ids(`job_O${tag}new`, 5).map((id) => store.insertJob(row(id), ev(id, 1))),
  ]);
  for (const r of settled) {
    assert.is(r.status, 'rejected');
    assert.ok(isStoreUnavailable((r as PromiseRejectedResult).reason), String((r as PromiseRejectedResult).reason));
  }
  await cause.end();
  for (const id of jobs) {
    const j = await store.getJob(id);
    assert.is(j!.status, 'running');
    assert.is(j!.lastEventId, 1);
    assert.equal(await eventIds(store, id), ['event:1']);
  }
  for (const id of ids(`job_O${tag}new`, 5)) assert.is(await store.getJob(id), null);
  // The store comes back by itself.
  assert.ok(await store.transition({ jobId: jobs[0]!, from: ['running'], attemptId: `${jobs[0]}-a1` }, { status: 'passed', lastEventId: 2 }, [ev(jobs[0]!, 2)]));
  assert.is((await store.getJob(jobs[0]!))!.status, 'passed');
}

const durable = suite('sqlite durability');
durable('SQLite runs in WAL mode with synchronous = FULL (a returned commit survives a power loss)', async () => {
  const store = await JobStore.open(parseDatabaseUrl(`sqlite:${join(tempDir('gc-pragmas'), 'qgjob.sqlite')}`));
  try {
    const conn = store.entityManager().getConnection();
    assert.equal(await conn.execute('pragma journal_mode'), [{ journal_mode: 'wal' }]);
    assert.equal(await conn.execute('pragma synchronous'), [{ synchronous: 2 }]);
  } finally {
    await store.close();
  }
});
durable.run();

const outage = suite('outage');
outage('sqlite: another process holds the write lock: every waiter is refused as unavailable, nothing is stored', async () => {
  const file = join(tempDir('gc-lock'), 'qgjob.sqlite');
  const store = await JobStore.open(parseDatabaseUrl(`sqlite:${file}`));
  const { default: Database } = (await import('libsql')) as unknown as { default: new (path: string) => { exec(sql: string): void; close(): void } };
  const other = new Database(file);
  try {
    await outageChecks(store, { begin: async () => other.exec('begin immediate'), end: async () => other.exec('rollback') }, 'L');
  } finally {
    other.close();
    await store.close();
  }
});

const noMariadb = privateMariadbUnavailable();
if (noMariadb) console.log(`  (mysql outage: skipped: ${noMariadb})`);
(noMariadb ? outage.skip : outage)('mysql: the server killed: every waiter is refused as unavailable, nothing is stored, and it recovers', async () => {
  const db = await startPrivateMariadb();
  let store: JobStore | null = null;
  try {
    store = await JobStore.open(parseDatabaseUrl(db.url));
    await outageChecks(store, { begin: () => db.kill(), end: () => db.start() }, 'K');
  } finally {
    await store?.close();
    await db.stop();
  }
});

outage.run();
