/**
 * Runs end to end: real `qgjob coordinator` and `qgjob agent` processes, a real Appium server with
 * its fake driver as the device, the example AppWright project, and the real CLI submitting a suite
 * by glob, following it, resubmitting it with the same idempotency key and rerunning its failure.
 * On SQLite, and on MySQL when QGJOB_TEST_MYSQL_URL is set. The CLI's stdout is a pipe here, so it
 * prints plain lines, as in CI.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QgClient } from '../../cli/client.js';
import type { RunView } from '../../shared/index.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type Proc, freshMysqlDatabase, runQgjob, startAgentProc, startCoordinatorProc, tempDir } from '../helpers/processes.js';

const env = { GITHUB_ACTIONS: '', QGJOB_IDEMPOTENCY_KEY: '', CI: '' };

function e2e(name: string, database: () => Promise<string | undefined | { skip: string }>, cleanup: () => Promise<void> = async () => {}) {
  const s = suite(name);
  const skipped = name.startsWith('mysql') && !process.env.QGJOB_TEST_MYSQL_URL;
  if (skipped) console.log(`  (${name}: skipped: QGJOB_TEST_MYSQL_URL is not set, e.g. mysql://root@127.0.0.1:3306/test)`);
  const procs: Proc[] = [];
  let appium: AppiumServer | undefined;
  let url = '';

  s.before(async () => {
    if (skipped) return;
    const db = await database();
    if (db && typeof db !== 'string') throw new Error(db.skip);
    appium = await startAppium();
    const c = await startCoordinatorProc({ dataDir: tempDir('runs-e2e'), ...(db ? { database: db } : {}) });
    procs.push(c.proc);
    url = c.url;
    procs.push(await startAgentProc({ url, appiumUrl: appium.url }));
  });
  s.after(async () => {
    await Promise.all(procs.splice(0).map((p) => p.stop()));
    await appium?.stop();
    await cleanup();
  });

  const submit = ['submit', '--org-id', 'runs-e2e', '--app-version-id', 'v1', '--target', 'emulator', '--test', 'tests/{onboarding,failing}.spec.js', '--test-root', 'examples/appwright-project', '--idempotency-key', 'ci-812-1', '--wait'];

  (skipped ? s.skip : s)('submit a glob --wait, resubmit with the same key --json, rerun --failed', async () => {
    // 1. A glob becomes a run of two jobs; plain lines, one per finished job, a summary; exit 1.
    const first = await runQgjob([...submit, '--url', url], env);
    assert.is(first.code, 1, `${first.stdout}\n${first.stderr}`);
    const lines = first.stdout.trim().split('\n');
    assert.is(lines.length, 3, first.stdout);
    assert.ok(lines.some((l) => /^✔ passed\s+tests\/onboarding\.spec\.js\s+\d/.test(l)), first.stdout);
    assert.ok(lines.some((l) => /^✘ failed\s+tests\/failing\.spec\.js\s+.*Element was not found/.test(l)), first.stdout);
    assert.match(lines[2]!, /^✘ failed · 2 jobs: 1 passed, 1 failed · \S+ · run run_[0-9A-Z]{26}$/);
    const runId = /run (run_[0-9A-Z]{26})$/.exec(lines[2]!)![1]!;
    assert.match(first.stderr, new RegExp(`queued run ${runId}: 2 jobs`));
    assert.match(first.stderr, new RegExp(`qgjob rerun --failed ${runId}`));

    // 2. The same command again (a retried CI step) with --json: the same run, no new job; stdout is exactly the final RunView.
    const again = await runQgjob([...submit, '--url', url, '--json'], env);
    assert.is(again.code, 1, again.stderr);
    const run = JSON.parse(again.stdout) as RunView;
    assert.is(run.run_id, runId);
    assert.is(run.status, 'failed');
    assert.is(run.idempotency_key, 'ci-812-1');
    assert.equal(run.jobs.map((j) => [j.test_path, j.status]), [['tests/failing.spec.js', 'failed'], ['tests/onboarding.spec.js', 'passed']]);
    assert.equal(run.counts, { queued: 0, assigned: 0, running: 0, passed: 1, failed: 1, error: 0, cancelled: 0, timed_out: 0 });
    assert.ok(run.finished_at !== null && run.duration_ms !== null && run.duration_ms > 0);
    assert.match(again.stderr, /already exists for this idempotency key/);
    assert.match(again.stderr, /✘ failed\s+tests\/failing\.spec\.js/);
    const client = new QgClient({ url });
    assert.is((await client.listJobs({ org_id: 'runs-e2e' })).jobs.length, 2, 'no job was added');

    // 3. rerun --failed: a new run with only the failing spec, which fails again.
    const rerun = await runQgjob(['rerun', '--failed', runId, '--url', url, '--wait', '--json'], env);
    assert.is(rerun.code, 1, rerun.stderr);
    const second = JSON.parse(rerun.stdout) as RunView;
    assert.is.not(second.run_id, runId);
    assert.is(second.rerun_of, runId);
    assert.equal(second.jobs.map((j) => [j.test_path, j.status, j.resubmitted_from]), [['tests/failing.spec.js', 'failed', run.jobs[0]!.job_id]]);

    // 4. status --run and runs see both.
    const status = await runQgjob(['status', '--run', runId, '--url', url], env);
    assert.is(status.code, 0, status.stderr);
    assert.match(status.stdout, /status\s+failed · 2\/2 done · 1 passed · 1 failed/);
    const list = await runQgjob(['runs', '--org-id', 'runs-e2e', '--json', '--url', url], env);
    assert.equal((JSON.parse(list.stdout) as { runs: RunView[] }).runs.map((r) => r.run_id), [second.run_id, runId]);
  });

  s.run();
}

e2e('sqlite runs e2e', async () => undefined);
let drop: () => Promise<void> = async () => {};
e2e(
  'mysql runs e2e',
  async () => {
    const db = await freshMysqlDatabase('runse2e');
    if ('skip' in db) return db;
    drop = db.drop;
    return db.url;
  },
  () => drop(),
);
