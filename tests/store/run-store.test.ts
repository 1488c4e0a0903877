/**
 * The runs' store on both databases (SQLite always; MySQL when QGJOB_TEST_MYSQL_URL is set): a run
 * and its jobs are written all or nothing, an idempotency key holds one run per org, the list's SQL
 * status filter agrees with the shared `runStatus`, and a database from before runs is upgraded.
 */
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { JobStore, RunStore, parseDatabaseUrl, type JobRow, type RunRow } from '../../coordinator/store/index.js';
import { jobRow } from '../helpers/job-row.js';
import { JOB_STATES, RUN_STATES, runStatus, type JobState } from '../../shared/index.js';
import { freshMysqlDatabase, tempDir } from '../helpers/processes.js';

const job = (id: string, runId: string, position: number, over: Partial<JobRow> = {}): JobRow =>
  jobRow(id, { testPath: `tests/t${position}.spec.js`, runId, runPosition: position, ...over });
const ev = (jobId: string) => ({ jobId, eventId: 1, type: 'state', attempt: 0, data: '{}', atMs: 1 });
const run = (id: string, over: Partial<RunRow> = {}): RunRow => ({
  id,
  orgId: 'org',
  appVersionId: 'v1',
  name: null,
  idempotencyKey: null,
  rerunOf: null,
  jobSpec: '{}',
  total: 0,
  createdAtMs: 1_790_000_000_123,
  ...over,
});

/** A run with one job per state in `states`, stored. */
async function storeRun(runs: RunStore, id: string, states: readonly JobState[], over: Partial<RunRow> = {}): Promise<void> {
  const jobs = states.map((s, i) => job(`${id}_j${i}`, id, i, { status: s, orgId: over.orgId ?? 'org' }));
  assert.ok(await runs.insertRun(run(id, { total: jobs.length, ...over }), jobs, jobs.map((j) => ev(j.id))));
}

const count = async (store: JobStore, table: string, where: string, params: unknown[]) => {
  const rows = (await store.entityManager().getConnection().execute(`select count(*) as n from ${table} where ${where}`, params)) as { n: number | string }[];
  return Number(rows[0]!.n);
};

function runStoreSuite(name: string, url: () => Promise<string | { skip: string }>, cleanup: () => Promise<void> = async () => {}) {
  const s = suite<{ store?: JobStore; runs?: RunStore; url?: string }>(name, {});
  const skipped = name.startsWith('mysql') && !process.env.QGJOB_TEST_MYSQL_URL;
  if (skipped) console.log(`  (${name}: skipped: QGJOB_TEST_MYSQL_URL is not set, e.g. mysql://root@127.0.0.1:3306/test)`);
  s.before(async (ctx) => {
    const u = await url();
    if (typeof u !== 'string') return;
    ctx.url = u;
    ctx.store = await JobStore.open(parseDatabaseUrl(u));
    ctx.runs = new RunStore(() => ctx.store!.entityManager());
  });
  s.after(async (ctx) => {
    await ctx.store?.close();
    await cleanup();
  });
  const t = (title: string, fn: (store: JobStore, runs: RunStore, ctx: { url?: string; store?: JobStore; runs?: RunStore }) => Promise<void>) => {
    if (skipped) s.skip(title, () => {});
    else s(title, async (ctx) => fn(ctx.store!, ctx.runs!, ctx));
  };

  t('a run, its jobs and their events are stored together and read back in test order', async (store, runs) => {
    const jobs = [job('job_R1c', 'run_R1', 2), job('job_R1a', 'run_R1', 0), job('job_R1b', 'run_R1', 1)];
    assert.ok(await runs.insertRun(run('run_R1', { total: 3, name: 'CI #1', idempotencyKey: 'k1' }), jobs, jobs.map((j) => ev(j.id))));
    assert.equal((await runs.jobsOf(['run_R1'])).map((j) => [j.id, j.runPosition]), [['job_R1a', 0], ['job_R1b', 1], ['job_R1c', 2]]);
    assert.is((await runs.get('run_R1'))!.name, 'CI #1');
    assert.is((await runs.byKey('org', 'k1'))!.id, 'run_R1');
    assert.is(await runs.unfinishedCount('run_R1'), 3);
    assert.is(await count(store, 'job_events', 'job_id in (?, ?, ?)', jobs.map((j) => j.id)), 3);
  });

  t('all or nothing: a run whose insert fails midway leaves no run, no job and no event', async (store, runs) => {
    // The jobs go in first; then an event repeats another's (job_id, event_id): the transaction fails after rows were written.
    const jobs = [job('job_A1', 'run_A', 0), job('job_A2', 'run_A', 1)];
    let failed = false;
    try {
      await runs.insertRun(run('run_A', { total: 2 }), jobs, [ev('job_A1'), ev('job_A2'), ev('job_A1')]);
    } catch {
      failed = true;
    }
    assert.ok(failed, 'the insert must fail');
    assert.is(await runs.get('run_A'), null);
    assert.is(await count(store, 'jobs', 'run_id = ?', ['run_A']), 0);
    assert.is(await count(store, 'job_events', 'job_id in (?, ?)', ['job_A1', 'job_A2']), 0);
  });

  t('an idempotency key holds one run per org: a second insert with it writes nothing', async (store, runs) => {
    await storeRun(runs, 'run_K1', ['queued'], { idempotencyKey: 'ci:1', total: 1 });
    const jobs = [job('job_K2a', 'run_K2', 0), job('job_K2b', 'run_K2', 1)];
    assert.not.ok(await runs.insertRun(run('run_K2', { idempotencyKey: 'ci:1', total: 2 }), jobs, jobs.map((j) => ev(j.id))));
    assert.is(await runs.get('run_K2'), null);
    assert.is(await count(store, 'jobs', 'run_id = ?', ['run_K2']), 0, 'the jobs written before the run row were rolled back');
    // Another org may use the same key; runs without a key never collide.
    await storeRun(runs, 'run_K3', ['queued'], { idempotencyKey: 'ci:1', orgId: 'other' });
    await storeRun(runs, 'run_K4', ['queued']);
    await storeRun(runs, 'run_K5', ['queued']);
  });

  t("the list's status filter is runStatus: every run of up to two jobs in every state", async (_store, runs) => {
    const combos: JobState[][] = [];
    JOB_STATES.forEach((a, i) => {
      combos.push([a]);
      for (const b of JOB_STATES.slice(i)) combos.push([a, b]);
    });
    const expected = new Map<string, string>();
    for (const [i, states] of combos.entries()) {
      const id = `run_S${String(i).padStart(3, '0')}`;
      await storeRun(runs, id, states, { orgId: 'org-s' });
      expected.set(id, runStatus(states));
    }
    for (const status of RUN_STATES) {
      const want = [...expected].filter(([, st]) => st === status).map(([id]) => id).sort().reverse();
      const got = (await runs.list({ orgId: 'org-s', status }, 1000)).map((r) => r.id);
      assert.equal(got, want, `status ${status}`);
    }
    // Pages: newest first, the cursor continues after the last id.
    const all = (await runs.list({ orgId: 'org-s' }, 1000)).map((r) => r.id);
    assert.is(all.length, combos.length);
    const p1 = await runs.list({ orgId: 'org-s', status: 'running' }, 3);
    const p2 = await runs.list({ orgId: 'org-s', status: 'running' }, 1000, p1[2]!.id);
    assert.equal([...p1, ...p2].map((r) => r.id), [...expected].filter(([, st]) => st === 'running').map(([id]) => id).sort().reverse());
  });

  t('a database from before runs (no runs table, no run columns) is upgraded at open', async (store, _runs, ctx) => {
    const conn = store.entityManager().getConnection();
    const mysql = store.kind === 'mysql';
    await conn.execute('drop table runs');
    await conn.execute(mysql ? 'drop index jobs_run_id_run_position_index on jobs' : 'drop index jobs_run_id_run_position_index');
    await conn.execute('alter table jobs drop column run_position');
    await conn.execute('alter table jobs drop column run_id');
    await store.close();
    const reopened = await JobStore.open(parseDatabaseUrl(ctx.url!));
    ctx.store = reopened;
    ctx.runs = new RunStore(() => reopened.entityManager());
    await storeRun(ctx.runs, 'run_U1', ['passed', 'failed']);
    assert.equal((await ctx.runs.jobsOf(['run_U1'])).map((j) => j.status), ['passed', 'failed']);
    assert.equal((await ctx.runs.list({ status: 'failed' }, 10)).map((r) => r.id), ['run_U1']);
  });

  s.run();
}

const dir = tempDir('run-store');
runStoreSuite('sqlite run store', async () => `sqlite:${join(dir, 'qgjob.sqlite')}`);
let drop: () => Promise<void> = async () => {};
runStoreSuite(
  'mysql run store',
  async () => {
    const db = await freshMysqlDatabase('runstore');
    if ('skip' in db) return db;
    drop = db.drop;
    return db.url;
  },
  () => drop(),
);
