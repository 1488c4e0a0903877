/**
 * The store on both databases: the same suite runs on an embedded SQLite file and, when
 * QGJOB_TEST_MYSQL_URL is set (CI always sets it), on a fresh MySQL database.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JobStore, parseDatabaseUrl, type JobRow } from '../../coordinator/store/index.js';
import { jobRow } from '../helpers/job-row.js';
import { freshMysqlDatabase, tempDir } from '../helpers/processes.js';

const row = jobRow;
const ev = (jobId: string, eventId: number) => ({ jobId, eventId, type: 'state', attempt: 0, data: '{}', atMs: 1 });

function storeSuite(name: string, url: () => Promise<string | { skip: string }>, cleanup: () => Promise<void> = async () => {}) {
  const s = suite<{ store?: JobStore; skip?: string; url?: string }>(name, {});
  if (name.startsWith('mysql') && !process.env.QGJOB_TEST_MYSQL_URL) {
    console.log(`  (${name}: skipped: QGJOB_TEST_MYSQL_URL is not set, e.g. mysql://root@127.0.0.1:3306/test)`);
  }
  s.before(async (ctx) => {
    const u = await url();
    if (typeof u !== 'string') {
      ctx.skip = u.skip;
      return;
    }
    ctx.url = u;
    ctx.store = await JobStore.open(parseDatabaseUrl(u));
  });
  s.after(async (ctx) => {
    await ctx.store?.close();
    await cleanup();
  });
  const t = (title: string, fn: (store: JobStore, ctx: { url?: string }) => Promise<void>) => {
    if (name.startsWith('mysql') && !process.env.QGJOB_TEST_MYSQL_URL) s.skip(title, () => {});
    else s(title, async (ctx) => fn(ctx.store!, ctx));
  };

  t('a stored job reads back with every field, big epoch-ms values intact', async (store) => {
    await store.insertJob(row('job_A1'), ev('job_A1', 1));
    const got = await store.getJob('job_A1');
    assert.equal({ ...got }, row('job_A1'));
  });

  t('guarded transitions: the right state and attempt move; a stale one changes nothing', async (store) => {
    await store.insertJob(row('job_B1'), ev('job_B1', 1));
    assert.ok(await store.transition({ jobId: 'job_B1', from: ['queued'] }, { status: 'assigned', attemptId: 'att-1', attempts: 1, lastEventId: 2 }, [ev('job_B1', 2)]));
    assert.not.ok(await store.transition({ jobId: 'job_B1', from: ['queued'] }, { status: 'assigned', attemptId: 'att-2' }, [ev('job_B1', 3)]));
    assert.not.ok(await store.transition({ jobId: 'job_B1', from: ['assigned'], attemptId: 'att-old' }, { status: 'running' }, [ev('job_B1', 3)]));
    const j = await store.getJob('job_B1');
    assert.is(j!.status, 'assigned');
    assert.is(j!.attemptId, 'att-1');
    // The refused moves wrote no event either.
    assert.equal((await store.eventsAfter('job_B1', 0)).map((e) => e.row.eventId), [1, 2]);
  });

  t('log chunks: stored once per (attempt, seq), refused for a stale attempt, replayed in event order', async (store) => {
    await store.insertJob(row('job_C1', { status: 'running', attemptId: 'att-1', attempts: 1 }), ev('job_C1', 1));
    const chunk = (seq: number, eventId: number, attemptId = 'att-1') => ({ jobId: 'job_C1', attemptId, attempt: 1, seq, eventId, lines: JSON.stringify([{ at_ms: 1, stream: 'stdout', text: `line ${seq}` }]), atMs: 2 });
    assert.is(await store.appendLog(chunk(0, 2)), 'stored');
    assert.is(await store.appendLog(chunk(0, 3)), 'duplicate');
    assert.is(await store.appendLog(chunk(1, 3, 'att-0')), 'stale');
    assert.ok(await store.transition({ jobId: 'job_C1', from: ['running'], attemptId: 'att-1' }, { status: 'running', lastEventId: 3 }, [ev('job_C1', 3)]));
    assert.is(await store.appendLog(chunk(1, 4)), 'stored');
    const events = await store.eventsAfter('job_C1', 0);
    assert.equal(events.map((e) => `${e.kind}:${e.row.eventId}`), ['event:1', 'log:2', 'event:3', 'log:4']);
    assert.equal((await store.eventsAfter('job_C1', 2)).map((e) => e.row.eventId), [3, 4]);
  });

  t('finish writes the result, the test cases and video_results in one go', async (store) => {
    await store.insertJob(row('job_D1', { status: 'running', attemptId: 'att-1', attempts: 1 }), ev('job_D1', 1));
    const ok = await store.finish(
      { jobId: 'job_D1', from: ['running'], attemptId: 'att-1' },
      { status: 'failed', durationMs: 1234, errorMessage: 'Error: nope', lastEventId: 2 },
      ev('job_D1', 2),
      [{ jobId: 'job_D1', attempt: 1, position: 0, title: 't', fullTitle: 'f › t', status: 'failed', durationMs: 12, errorMessage: 'Error: nope', retry: 0 }],
      { jobId: 'job_D1', platform: 'android', videoUrl: 'https://videos.example/job_D1.mp4', timestamp: new Date('2026-11-25T10:00:00Z') },
    );
    assert.ok(ok);
    assert.is((await store.getJob('job_D1'))!.status, 'failed');
    assert.equal((await store.getTestCases('job_D1')).map((t) => [t.title, t.status, t.errorMessage]), [['t', 'failed', 'Error: nope']]);
    const v = await store.getVideo('job_D1');
    assert.is(v!.videoUrl, 'https://videos.example/job_D1.mp4');
    assert.is(v!.timestamp!.toISOString(), '2026-11-25T10:00:00.000Z');
    // A second finish of the same attempt is refused and changes nothing.
    assert.not.ok(await store.finish({ jobId: 'job_D1', from: ['running'], attemptId: 'att-1' }, { status: 'passed' }, ev('job_D1', 3), [], null));
  });

  t('lists newest first with a cursor and filters; unfinished jobs come back after a reopen', async (store, ctx) => {
    for (const id of ['job_E1', 'job_E2', 'job_E3']) await store.insertJob(row(id, { orgId: 'org-e', status: id === 'job_E2' ? 'passed' : 'queued' }), ev(id, 1));
    const p1 = await store.listJobs({ orgId: 'org-e' }, 2);
    assert.equal(p1.map((j) => j.id), ['job_E3', 'job_E2']);
    assert.equal((await store.listJobs({ orgId: 'org-e' }, 2, 'job_E2')).map((j) => j.id), ['job_E1']);
    assert.equal((await store.listJobs({ orgId: 'org-e', status: 'passed' }, 10)).map((j) => j.id), ['job_E2']);
    await store.close();
    const reopened = await JobStore.open(parseDatabaseUrl(ctx.url!));
    const unfinished = (await reopened.unfinishedJobs()).map((j) => j.id);
    assert.ok(unfinished.includes('job_E1') && unfinished.includes('job_E3') && !unfinished.includes('job_E2'), unfinished.join(','));
    await reopened.close();
    (ctx as { store?: JobStore }).store = await JobStore.open(parseDatabaseUrl(ctx.url!));
  });

  s.run();
}

const dir = tempDir('store');
storeSuite('sqlite store', async () => `sqlite:${join(dir, 'qgjob.sqlite')}`);
let drop: () => Promise<void> = async () => {};
storeSuite(
  'mysql store',
  async () => {
    const db = await freshMysqlDatabase('store');
    if ('skip' in db) return db;
    drop = db.drop;
    return db.url;
  },
  () => drop(),
);
