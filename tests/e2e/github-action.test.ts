/**
 * The GitHub Action end to end, as a workflow runs it: action.yml's own `run:` scripts (bash, the
 * GITHUB_* files in temp folders, GITHUB_ACTION_PATH = this repo, the install step skipped for the
 * built bin) against a real coordinator (MySQL when QGJOB_TEST_MYSQL_URL is set, else SQLite), a
 * real agent and an Appium server with its fake driver, running the example AppWright project.
 * It needs runs (`qgjob submit --test … --test-root … --wait --json` printing a RunView).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunView } from '../../shared/index.js';
import { parseOutputsFile } from '../../cli/github.js';
import { runAction } from '../helpers/action-runner.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type Proc, freePort, freshMysqlDatabase, startAgentProc, startCoordinatorProc } from '../helpers/processes.js';

let appium: AppiumServer | undefined;
let coordinator: Proc | undefined;
let agent: Proc | undefined;
let dropDb: (() => Promise<void>) | undefined;
let url = '';

test.before(async () => {
  appium = await startAppium();
  const db = await freshMysqlDatabase('ghaction');
  if ('url' in db) dropDb = db.drop;
  else console.log(`github action e2e on SQLite: ${db.skip}`);
  const c = await startCoordinatorProc('url' in db ? { database: db.url } : {});
  coordinator = c.proc;
  url = c.url;
  agent = await startAgentProc({ url, appiumUrl: appium.url });
});

test.after(async () => {
  await agent?.stop();
  await coordinator?.stop();
  await appium?.stop();
  await dropDb?.();
});

const inputs = (over: Record<string, string> = {}) => ({
  'coordinator-url': url,
  'org-id': 'qualgent',
  'app-version-id': 'xyz123',
  'test-root': 'examples/appwright-project',
  tests: 'tests/onboarding.spec.js\ntests/failing.spec.js',
  ...over,
});
const tableRows = (md: string) => md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| | Spec'));

test('a passing and a failing spec: summary table, an ::error on the failing spec file, outputs, and the step fails with 1', async () => {
  const run = await runAction(inputs(), { skip: ['install'], github: { run_id: '5001' } });
  const [submit, report] = run.steps;
  assert.is(submit!.code, 0, submit!.stderr);
  assert.is(submit!.outputs['exit-code'], '1', `qgjob submit exits 1 when a test failed\n${submit!.stderr}`);
  assert.match(submit!.stderr, /tests\/failing\.spec\.js/, 'progress is in the log (stderr)');

  const view = JSON.parse(readFileSync(run.outputs['run-json']!, 'utf8')) as RunView;
  assert.is(view.status, 'failed');
  assert.equal(view.jobs.map((j) => [j.test_path, j.status]), [['tests/onboarding.spec.js', 'passed'], ['tests/failing.spec.js', 'failed']]);
  assert.is(view.name, 'AppWright Test #7');
  assert.match(view.idempotency_key ?? '', /^github:acme\/app:5001:1:appwright:[0-9a-f]{12}$/);

  assert.is(report!.code, 1, report!.stderr);
  assert.ok(report!.summary.startsWith('### ❌ qgjob run failed: 1 of 2 specs failed'), report!.summary);
  const rows = tableRows(report!.summary);
  assert.is(rows.length, 2);
  assert.match(rows[0]!, /^\| ✅ passed \| `tests\/onboarding\.spec\.js` \| 1\/1 passed \| [\d.]+m?s \|/);
  assert.match(rows[1]!, /^\| ❌ failed \| `tests\/failing\.spec\.js` \| 0\/1 passed, 1 failed \|/);
  assert.ok(rows[1]!.includes(`](${url}/api/v1/jobs/${view.jobs[1]!.job_id})`));
  assert.match(report!.summary, /<details><summary>Why 1 spec did not pass<\/summary>[\s\S]*Element was not found on the screen[\s\S]*<\/details>/);

  const annotations = report!.stdout.split('\n').filter((l) => l.startsWith('::'));
  assert.is(annotations.length, 1, report!.stdout);
  assert.match(annotations[0]!, /^::error file=examples\/appwright-project\/tests\/failing\.spec\.js,title=tests\/failing\.spec\.js failed::shows the home screen after login \(failed\)%0A.*Element was not found on the screen/);

  assert.equal(parseOutputsFile(readFileSync(join(run.runnerTemp, '_steps', 'report', 'output'), 'utf8')), report!.outputs);
  assert.equal(
    { id: run.outputs['run-id'], status: run.outputs.status, total: run.outputs.total, passed: run.outputs.passed, failed: run.outputs.failed, errored: run.outputs.errored },
    { id: view.run_id, status: 'failed', total: '2', passed: '1', failed: '1', errored: '0' },
  );

  // The same CI attempt submitting again (the step re-run by hand, a retried request) gets the same run.
  const again = await runAction(inputs(), { skip: ['install'], github: { run_id: '5001' } });
  assert.is(again.outputs['run-id'], view.run_id);
  assert.is(again.last.code, 1);
});

test('a glob of passing specs, expanded in test-root: the step passes with 0 and no annotation', async () => {
  const run = await runAction(inputs({ tests: 'tests/onboard*.spec.js' }), { skip: ['install'], github: { run_id: '5002' } });
  assert.is(run.last.id, 'report');
  assert.is(run.last.code, 0, `${run.steps.map((s) => s.stderr).join('\n')}`);
  assert.is(run.outputs.status, 'passed');
  assert.is(run.outputs.total, '1');
  assert.is(run.last.stdout.trim(), '');
  assert.ok(run.summary.startsWith('### ✅ qgjob run passed: the spec passed'), run.summary);
  assert.ok(run.summary.includes('`tests/onboarding.spec.js`'));
});

test('an unreachable coordinator: the report step fails with 3 and says why', async () => {
  const run = await runAction(inputs({ 'coordinator-url': `http://127.0.0.1:${await freePort()}` }), { skip: ['install'], github: { run_id: '5003' } });
  assert.is(run.steps[0]!.outputs['exit-code'], '3', run.steps[0]!.stderr);
  assert.match(run.steps[0]!.stderr, /cannot reach the coordinator/);
  assert.is(run.last.code, 3);
  assert.match(run.last.stdout, /^::error title=qgjob submit failed::qgjob submit exited 3 without a run result/);
  assert.is(run.outputs['run-id'], '');
});

test.run();
