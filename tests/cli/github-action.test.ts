/**
 * The GitHub Action's reporting: (a) the pure functions of cli/github.ts (workflow-command escaping,
 * the step summary, annotations, the outputs file format) on RunView fixtures, and (b) the real
 * `qgjob github-summary` bin as a child process with GITHUB_STEP_SUMMARY and GITHUB_OUTPUT pointed
 * at temp files, as the action's step runs it; then action.yml and the example workflow as files
 * (they parse, inputs never reach a script as code) and the action's scripts run with bash where no
 * coordinator is needed. The action run end to end against a coordinator, an agent and Appium is
 * tests/e2e/github-action.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { JobView, RunView, TestCaseResult } from '../../shared/index.js';
import {
  MAX_ANNOTATIONS,
  SUMMARY_BUDGET_BYTES,
  annotations,
  escapeData,
  escapeProperty,
  formatOutputs,
  parseOutputsFile,
  parseRunView,
  runExitCode,
  specFile,
  stepOutputs,
  stepSummary,
  workflowCommand,
} from '../../cli/github.js';
import { loadAction, runAction } from '../helpers/action-runner.js';
import { jobViewFixture } from '../helpers/fixtures.js';
import { freePort, qgjobBin, repoRoot, runQgjob, tempDir } from '../helpers/processes.js';

// ───────────────────────────── fixtures ─────────────────────────────

const tc = (over: Partial<TestCaseResult> = {}): TestCaseResult => ({
  title: 'user can log in',
  full_title: 'user can log in',
  status: 'passed',
  duration_ms: 321,
  error_message: null,
  retry: 0,
  ...over,
});

const passedJob = (over: Partial<JobView> = {}) =>
  jobViewFixture({
    job_id: 'job_pass',
    test_path: 'tests/onboarding.spec.js',
    status: 'passed',
    attempts: 1,
    duration_ms: 2100,
    test_cases: [tc()],
    video: { url: 'https://qgjob.example.com/videos/job_pass.mp4', platform: 'android', timestamp: null },
    ...over,
  });

const failedJob = (over: Partial<JobView> = {}) =>
  jobViewFixture({
    job_id: 'job_fail',
    test_path: 'tests/failing.spec.js',
    status: 'failed',
    attempts: 1,
    duration_ms: 5200,
    error: { reason: 'test_failed', message: 'shows the home screen after login: Element was not found on the screen' },
    test_cases: [
      tc({
        title: 'shows the home screen after login',
        full_title: 'shows the home screen after login',
        status: 'failed',
        duration_ms: 5000,
        error_message: '\u001b[31mError: Element was not found on the screen\u001b[39m\nCall log: waited 3000ms',
      }),
    ],
    ...over,
  });

const errorJob = (over: Partial<JobView> = {}) =>
  jobViewFixture({
    job_id: 'job_err',
    test_path: 'tests/slow-logs.spec.js',
    status: 'error',
    attempts: 3,
    error: { reason: 'device_offline', message: 'the device at http://127.0.0.1:4723 did not answer' },
    ...over,
  });

function runOf(jobs: JobView[], over: Partial<RunView> = {}): RunView {
  const counts = Object.fromEntries(['queued', 'assigned', 'running', 'passed', 'failed', 'error', 'cancelled', 'timed_out'].map((s) => [s, jobs.filter((j) => j.status === s).length])) as RunView['counts'];
  return {
    run_id: 'run_01TESTRUN',
    org_id: 'qualgent',
    app_version_id: 'xyz123',
    name: 'AppWright Test #42',
    idempotency_key: 'github:acme/app:1:1:appwright',
    rerun_of: null,
    status: 'failed',
    total: jobs.length,
    done: jobs.length,
    counts,
    created_at: '2026-11-25T10:00:00.000Z',
    finished_at: '2026-11-25T10:00:07.300Z',
    duration_ms: 7300,
    jobs,
    ...over,
  };
}

const URL_ = 'https://qgjob.example.com';
/** Table rows of the summary (lines that start with `| ` and are not the header or its rule). */
const tableRows = (md: string) => md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| | Spec'));
/** Cells of a GFM table row, honouring `\|` escapes. */
const cells = (row: string) => row.replace(/\\\|/g, '\u0000').split('|').slice(1, -1).map((c) => c.replace(/\u0000/g, '\\|').trim());

// ───────────────────────────── (a) escaping ─────────────────────────────

test('workflow-command data escapes %, CR and LF (percent first, so nothing is escaped twice)', () => {
  assert.is(escapeData('100% done\r\nnext: a,b'), '100%25 done%0D%0Anext: a,b');
  assert.is(escapeData('literal %0A stays literal'), 'literal %250A stays literal');
});

test('workflow-command properties also escape : and ,', () => {
  assert.is(escapeProperty('a: b, c%\n'), 'a%3A b%2C c%25%0A');
});

test('workflowCommand joins properties, leaves out empty ones and escapes the message', () => {
  assert.is(workflowCommand('error', { file: 'e2e/a,b.spec.js', line: undefined, title: 'x: y' }, 'one\ntwo'), '::error file=e2e/a%2Cb.spec.js,title=x%3A y::one%0Atwo');
  assert.is(workflowCommand('warning', {}, 'plain'), '::warning::plain');
});

test('specFile joins the test root and the spec path with forward slashes', () => {
  assert.is(specFile('tests/a.spec.js'), 'tests/a.spec.js');
  assert.is(specFile('tests/a.spec.js', '.'), 'tests/a.spec.js');
  assert.is(specFile('tests/a.spec.js', 'examples/appwright-project/'), 'examples/appwright-project/tests/a.spec.js');
  assert.is(specFile('tests\\win.spec.js', 'e2e\\suite'), 'e2e/suite/tests/win.spec.js');
  assert.is(specFile('./tests/a.spec.js', './e2e'), 'e2e/tests/a.spec.js');
});

// ───────────────────────────── (a) annotations ─────────────────────────────

test('annotations: one ::error per failed, timed-out or errored spec, a ::warning per cancelled one, none for passed', () => {
  const run = runOf([
    passedJob(),
    failedJob(),
    errorJob(),
    jobViewFixture({ job_id: 'job_to', test_path: 'tests/long.spec.js', status: 'timed_out', error: { reason: 'timed_out', message: 'the attempt ran past its 60000 ms deadline' } }),
    jobViewFixture({ job_id: 'job_c', test_path: 'tests/c.spec.js', status: 'cancelled' }),
  ]);
  const lines = annotations(run, { testRoot: 'examples/appwright-project', coordinatorUrl: URL_ });
  assert.is(lines.length, 4);
  assert.is(lines[0], `::error file=examples/appwright-project/tests/failing.spec.js,title=tests/failing.spec.js failed::shows the home screen after login (failed)%0AError: Element was not found on the screen%0ACall log: waited 3000ms%0A%0ALogs: qgjob watch job_fail --url ${URL_}`);
  assert.ok(!lines[0]!.includes('\u001b'), 'terminal colours are stripped');
  assert.is(lines[1], `::error file=examples/appwright-project/tests/slow-logs.spec.js,title=tests/slow-logs.spec.js could not be run (device_offline)::device_offline: the device at http://127.0.0.1:4723 did not answer%0A%0ALogs: qgjob watch job_err --url ${URL_}`);
  assert.match(lines[2]!, /^::error file=examples\/appwright-project\/tests\/long\.spec\.js,title=tests\/long\.spec\.js timed out::timed_out: the attempt ran past/);
  assert.match(lines[3]!, /^::warning file=examples\/appwright-project\/tests\/c\.spec\.js,title=tests\/c\.spec\.js cancelled::the job was cancelled/);
  for (const l of lines) assert.not.match(l, /\n|\r/, 'each annotation is one line');
});

test('annotations stop at GitHub’s 10 per step: 9 specs, then one line that counts the rest', () => {
  const jobs = Array.from({ length: 13 }, (_, i) => failedJob({ job_id: `job_${i}`, test_path: `tests/f${i}.spec.js` }));
  const lines = annotations(runOf(jobs));
  assert.is(lines.length, MAX_ANNOTATIONS);
  assert.match(lines[8]!, /file=tests\/f8\.spec\.js/);
  assert.match(lines[9]!, /^::error title=4 more specs did not pass::tests\/f9\.spec\.js failed%0Atests\/f10\.spec\.js failed%0Atests\/f11\.spec\.js failed%0Atests\/f12\.spec\.js failed/);
  // Exactly 10 failures fit without a counting line.
  assert.is(annotations(runOf(jobs.slice(0, 10))).length, 10);
  assert.not.match(annotations(runOf(jobs.slice(0, 10)))[9]!, /more specs/);
});

test('a passed run has no annotations', () => {
  assert.equal(annotations(runOf([passedJob()], { status: 'passed' })), []);
});

// ───────────────────────────── (a) summary ─────────────────────────────

test('summary: heading with the verdict and counts, one table row per spec with status, tests, duration, video and job links', () => {
  const md = stepSummary(runOf([passedJob(), failedJob(), errorJob()], { status: 'failed' }), { coordinatorUrl: `${URL_}/` });
  const lines = md.split('\n');
  assert.is(lines[0], '### ❌ qgjob run failed: 1 of 3 specs failed');
  assert.ok(md.includes('**AppWright Test \\#42** · run `run_01TESTRUN` · app `xyz123` · org `qualgent` · 3 specs: 1 passed, **1 failed**, **1 error** · 7.3s'), md);
  const rows = tableRows(md);
  assert.is(rows.length, 3);
  assert.equal(cells(rows[0]!), ['✅ passed', '`tests/onboarding.spec.js`', '1/1 passed', '2.1s', `[▶ video](${URL_}/videos/job_pass.mp4)`, `[job\\_pass](${URL_}/api/v1/jobs/job_pass)`]);
  assert.equal(cells(rows[1]!), ['❌ failed', '`tests/failing.spec.js`', '0/1 passed, 1 failed', '5.2s', '–', `[job\\_fail](${URL_}/api/v1/jobs/job_fail)`]);
  assert.equal(cells(rows[2]!), ['💥 error (3 attempts)', '`tests/slow-logs.spec.js`', '–', '–', '–', `[job\\_err](${URL_}/api/v1/jobs/job_err)`]);
  assert.ok(md.includes(`Logs of a job, replayed in full: \`qgjob watch <job-id> --url ${URL_}/\``));
});

test('summary: the failures are in a collapsed <details>, with messages (colours stripped), a watch hint and a link', () => {
  const md = stepSummary(runOf([passedJob(), failedJob(), errorJob()]), { coordinatorUrl: URL_ });
  const details = md.slice(md.indexOf('<details>'));
  assert.ok(details.startsWith('<details><summary>Why 2 specs did not pass</summary>\n\n'), details);
  assert.ok(details.trimEnd().endsWith('</details>'));
  assert.ok(details.includes('#### ❌ `tests/failing.spec.js` failed\n\n```text\nshows the home screen after login (failed)\nError: Element was not found on the screen\nCall log: waited 3000ms\n```'), details);
  assert.ok(details.includes(`Logs: \`qgjob watch job_fail --url ${URL_}\` · [job details](${URL_}/api/v1/jobs/job_fail)`));
  assert.ok(details.includes('#### 💥 `tests/slow-logs.spec.js` error\n\n```text\ndevice_offline: the device at http://127.0.0.1:4723 did not answer\n```'));
  assert.not.ok(md.includes('\u001b'));
  assert.not.ok(details.includes('onboarding'), 'passed specs are not in the failures');
});

test('summary of a passed run: no <details>; without a coordinator URL, no links but the job id and the watch hint', () => {
  const md = stepSummary(runOf([passedJob({ video: null })], { status: 'passed', name: null }));
  assert.is(md.split('\n')[0], '### ✅ qgjob run passed: the spec passed');
  assert.not.ok(md.includes('<details>'));
  assert.not.ok(md.includes('](http'), md);
  assert.equal(cells(tableRows(md)[0]!).slice(4), ['–', '`job_pass`']);
  assert.ok(md.includes('`qgjob watch <job-id>`'));
});

test('summary: Markdown in names, spec paths and messages cannot break the table or the code blocks', () => {
  const evil = failedJob({
    test_path: 'tests/a|b`c.spec.js',
    test_cases: [tc({ status: 'failed', title: 't', full_title: 't', error_message: 'has ``` fences\n</details><script>x</script>' })],
  });
  const md = stepSummary(runOf([evil], { name: '<b>*bold*</b> | x' }), { coordinatorUrl: URL_ });
  const rows = tableRows(md);
  assert.is(cells(rows[0]!).length, 6, rows[0]);
  assert.is(cells(rows[0]!)[1], '``tests/a\\|b`c.spec.js``');
  assert.ok(md.includes('**&lt;b&gt;\\*bold\\*&lt;/b&gt; \\| x**'), md);
  // The message sits in a fence longer than any backtick run in it, so it cannot close the block.
  assert.ok(md.includes('````text\nt (failed)\nhas ``` fences\n</details><script>x</script>\n````'), md);
});

test('summary: statuses of the other run states', () => {
  const err = stepSummary(runOf([passedJob(), errorJob()], { status: 'error' }));
  assert.is(err.split('\n')[0], '### 💥 qgjob run error: 1 of 2 specs could not be run (infrastructure error)');
  const cancelled = stepSummary(runOf([jobViewFixture({ status: 'cancelled' })], { status: 'cancelled' }));
  assert.is(cancelled.split('\n')[0], '### 🚫 qgjob run cancelled: the run was cancelled');
  const running = stepSummary(runOf([passedJob(), jobViewFixture({ job_id: 'job_q', status: 'running' })], { status: 'running', duration_ms: null }));
  assert.is(running.split('\n')[0], '### ⏳ qgjob run running: the run has not finished: 1 of 2 specs done');
  assert.not.ok(running.includes('<details>'), 'a running job is not a failure');
});

test('summary stays under its size budget with many long failures, and says what it left out', () => {
  const long = 'x'.repeat(19_000);
  const jobs = Array.from({ length: 400 }, (_, i) => failedJob({ job_id: `job_${i}`, test_path: `tests/f${i}.spec.js`, test_cases: [tc({ status: 'failed', error_message: long })] }));
  const md = stepSummary(runOf(jobs), { coordinatorUrl: URL_ });
  assert.ok(Buffer.byteLength(md) <= SUMMARY_BUDGET_BYTES, `${Buffer.byteLength(md)} bytes`);
  assert.is(tableRows(md).length, 400, 'every spec keeps its table row');
  assert.match(md, /…and \d+ more specs \(left out to keep this summary under GitHub's size limit; see each job's logs\)\.\n\n<\/details>\n$/);
  assert.ok(md.includes('x'.repeat(3000)) && !md.includes('x'.repeat(4001)), 'each message is cut to 4000 characters');
});

// ───────────────────────────── (a) outputs, exit codes, reading ─────────────────────────────

test('outputs: small values only, failed counts failed and timed-out specs, errored the infrastructure ends', () => {
  const run = runOf([passedJob(), failedJob(), errorJob(), jobViewFixture({ job_id: 'j4', status: 'timed_out' }), jobViewFixture({ job_id: 'j5', status: 'cancelled' })]);
  assert.equal(stepOutputs(run, { coordinatorUrl: `${URL_}/` }), {
    'run-id': 'run_01TESTRUN',
    status: 'failed',
    total: '5',
    passed: '1',
    failed: '2',
    errored: '1',
    cancelled: '1',
    'run-url': `${URL_}/api/v1/runs/run_01TESTRUN`,
  });
  assert.not.ok('run-url' in stepOutputs(run));
});

test('the $GITHUB_OUTPUT format is name<<DELIM, value, DELIM; values read back exactly, multiline too', () => {
  assert.is(formatOutputs({ 'run-id': 'run_1', status: 'passed' }, 'EOF_x'), 'run-id<<EOF_x\nrun_1\nEOF_x\nstatus<<EOF_x\npassed\nEOF_x\n');
  const values = { a: 'one', b: 'two\nlines', c: '' };
  const text = formatOutputs(values);
  const delim = /^a<<(.+)$/m.exec(text)![1]!;
  assert.match(delim, /^ghadelimiter_[0-9a-f-]{36}$/);
  assert.is.not(delim, /^a<<(.+)$/m.exec(formatOutputs(values))![1], 'a new random delimiter each time');
  assert.equal(parseOutputsFile(`old=value\n${text}`), { old: 'value', ...values });
  assert.throws(() => formatOutputs({ a: 'x\nEOF_x\ny' }, 'EOF_x'), /contains the delimiter/);
});

test('exit codes: passed 0, failed 1, error, cancelled or unfinished 3', () => {
  assert.is(runExitCode('passed'), 0);
  assert.is(runExitCode('failed'), 1);
  assert.is(runExitCode('error'), 3);
  assert.is(runExitCode('cancelled'), 3);
  assert.is(runExitCode('running'), 3);
  assert.is(runExitCode('queued'), 3);
});

test('parseRunView reads a RunView and refuses what is not one, with a reason', () => {
  const run = runOf([passedJob()], { status: 'passed' });
  assert.equal(parseRunView(JSON.stringify(run)), run);
  assert.throws(() => parseRunView(''), /empty/);
  assert.throws(() => parseRunView('{"run_id":'), /not JSON/);
  assert.throws(() => parseRunView(JSON.stringify({ job_id: 'job_1', status: 'passed' })), /not a qgjob run.*run_id/);
  assert.throws(() => parseRunView(JSON.stringify({ ...run, status: 'great' })), /status/);
  assert.throws(() => parseRunView(JSON.stringify({ ...run, jobs: [{ job_id: 'x' }] })), /jobs\.0\.test_path/);
});

// ───────────────────────────── (b) the bin ─────────────────────────────

/** The `qgjob github-summary` step as the action runs it, with its own GITHUB_* files. */
async function summaryStep(run: unknown, opts: { args?: string[]; env?: NodeJS.ProcessEnv; files?: boolean } = {}) {
  const dir = tempDir('gh');
  const from = join(dir, 'run.json');
  if (run !== undefined) writeFileSync(from, typeof run === 'string' ? run : JSON.stringify(run));
  const summaryFile = join(dir, 'step_summary.md');
  const outputFile = join(dir, 'output.txt');
  if (opts.files !== false) {
    // The runner creates both files before the step; earlier content must be kept (append).
    writeFileSync(summaryFile, '## earlier step\n');
    writeFileSync(outputFile, 'earlier=1\n');
  }
  const env: NodeJS.ProcessEnv = {
    GITHUB_STEP_SUMMARY: opts.files === false ? undefined : summaryFile,
    GITHUB_OUTPUT: opts.files === false ? undefined : outputFile,
    GITHUB_WORKSPACE: repoRoot,
    QGJOB_URL: undefined,
    ...opts.env,
  };
  const r = await runQgjob(['github-summary', '--from', from, ...(opts.args ?? [])], env);
  const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : null);
  return { ...r, dir, from, summary: read(summaryFile), outputs: read(outputFile) };
}

test.before(() => {
  if (!existsSync(join(repoRoot, 'dist/cli/github-summary.js'))) throw new Error(`dist/ is missing or stale: run \`npm run build\` before this suite (${qgjobBin})`);
});

test('bin: a failed run appends the summary and outputs, prints the annotations, exits 1', async () => {
  const run = runOf([passedJob(), failedJob()]);
  const r = await summaryStep(run, { args: ['--coordinator-url', URL_, '--test-root', 'examples/appwright-project'] });
  assert.is(r.code, 1, r.stderr);
  assert.ok(r.summary!.startsWith('## earlier step\n### ❌ qgjob run failed: 1 of 2 specs failed\n'), r.summary!);
  assert.is(tableRows(r.summary!).length, 2);
  assert.ok(r.summary!.includes(`[▶ video](${URL_}/videos/job_pass.mp4)`));
  const out = parseOutputsFile(r.outputs!);
  assert.equal(out, { earlier: '1', 'run-id': 'run_01TESTRUN', status: 'failed', total: '2', passed: '1', failed: '1', errored: '0', cancelled: '0', 'run-url': `${URL_}/api/v1/runs/run_01TESTRUN` });
  const stdout = r.stdout.split('\n').filter(Boolean);
  assert.is(stdout.length, 1, 'only the annotation on stdout: the summary went to its file');
  assert.ok(stdout[0]!.startsWith('::error file=examples/appwright-project/tests/failing.spec.js,title=tests/failing.spec.js failed::shows the home screen'), stdout[0]);
  assert.is(r.stderr.trim(), 'qgjob: run run_01TESTRUN failed: 1 of 2 passed, 1 failed');
});

test('bin: a passed run exits 0 with no annotation; --url sets the links, an absolute --test-root is made relative', async () => {
  const r = await summaryStep(runOf([passedJob()], { status: 'passed' }), { args: ['--url', URL_, '--test-root', join(repoRoot, 'examples/appwright-project')] });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '');
  assert.ok(r.summary!.includes(`(${URL_}/api/v1/jobs/job_pass)`));
  assert.is(parseOutputsFile(r.outputs!).status, 'passed');
});

test('bin: an error run and a cancelled run exit 3; QGJOB_URL is the default for links', async () => {
  const err = await summaryStep(runOf([errorJob()], { status: 'error' }), { env: { QGJOB_URL: 'http://10.1.2.3:8080' } });
  assert.is(err.code, 3, err.stderr);
  assert.match(err.stdout, /^::error file=tests\/slow-logs\.spec\.js,title=tests\/slow-logs\.spec\.js could not be run \(device_offline\)::/);
  assert.ok(err.summary!.includes('(http://10.1.2.3:8080/api/v1/jobs/job_err)'));
  const cancelled = await summaryStep(runOf([jobViewFixture({ status: 'cancelled' })], { status: 'cancelled' }));
  assert.is(cancelled.code, 3);
  assert.match(cancelled.stdout, /^::warning /);
});

test('bin: outside GitHub Actions the summary goes to stdout and no output file is written', async () => {
  const r = await summaryStep(runOf([passedJob(), failedJob()]), { files: false });
  assert.is(r.code, 1);
  assert.ok(r.stdout.startsWith('### ❌ qgjob run failed'), r.stdout);
  assert.match(r.stdout, /\n::error file=tests\/failing\.spec\.js,/);
  assert.is(r.summary, null);
  assert.is(r.outputs, null);
});

test('bin: a missing, empty or foreign --from file exits 2 with one line and writes nothing', async () => {
  for (const [content, reason] of [
    [undefined, /cannot read --from .*run\.json: no such file/],
    ['', /the file is empty/],
    ['not json', /the file is not JSON/],
    [JSON.stringify(jobViewFixture()), /the file is not a qgjob run/],
  ] as const) {
    const r = await summaryStep(content);
    assert.is(r.code, 2, `${String(content)}: ${r.stderr}`);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, reason);
    assert.is(r.stdout, '');
    assert.is(r.summary, '## earlier step\n', 'the summary file is untouched');
    assert.is(r.outputs, 'earlier=1\n', 'the output file is untouched');
  }
});

test('bin: a missing --from or a bad --coordinator-url exits 2', async () => {
  const none = await runQgjob(['github-summary']);
  assert.is(none.code, 2);
  assert.match(none.stderr, /^qgjob: missing required option --from <run\.json>/);
  const bad = await summaryStep(runOf([passedJob()]), { args: ['--coordinator-url', 'qgjob.example.com'] });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--coordinator-url must be an http\(s\) URL/);
});

test('bin: --help shows the command and an example', async () => {
  const r = await runQgjob(['github-summary', '--help']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /--from <file>/);
  assert.match(r.stdout, /github-summary --from run\.json/);
  const top = await runQgjob(['--help']);
  assert.match(top.stdout, /github-summary/);
});

// ───────────────────────────── action.yml and the workflow, as files ─────────────────────────────

const exprs = (s: string) => [...s.matchAll(/\$\{\{\s*(.*?)\s*\}\}/g)].map((m) => m[1]!);

test('action.yml: a composite action; every run step has shell: bash and no ${{ }} inside its script', () => {
  const action = loadAction();
  assert.is(action.runs.using, 'composite');
  assert.ok(action.name && action.description);
  for (const name of ['coordinator-url', 'org-id', 'app-version-id', 'tests']) assert.is(action.inputs[name]?.required, true, name);
  assert.equal(Object.keys(action.inputs).filter((n) => action.inputs[n]!.required), ['coordinator-url', 'org-id', 'app-version-id', 'tests']);
  assert.is(action.inputs['test-root']!.default, '.');
  assert.is(action.inputs.target!.default, 'emulator');
  for (const [name, spec] of Object.entries(action.inputs)) assert.ok(spec.description, `input ${name} has a description`);
  const ids = action.runs.steps.map((st) => st.id);
  assert.equal(ids, ['install', 'submit', 'report']);
  for (const st of action.runs.steps) {
    assert.is(st.shell, 'bash', `step ${st.id} names its shell`);
    assert.equal(exprs(st.run!), [], `step ${st.id}: inputs reach the script through env only`);
    for (const e of exprs(JSON.stringify(st.env ?? {}))) {
      for (const term of e.split('||').map((t) => t.trim())) {
        const m = /^inputs\.([\w-]+)$/.exec(term);
        if (m) assert.ok(m[1]! in action.inputs, `step ${st.id} reads a declared input (${term})`);
        else assert.match(term, /^steps\.(submit|report)\.outputs\.[\w-]+$/, `step ${st.id}: ${term}`);
      }
    }
  }
  for (const name of ['run-id', 'status', 'passed', 'failed', 'total']) assert.match(action.outputs[name]!.value, new RegExp(`^\\$\\{\\{ steps\\.report\\.outputs\\.${name} \\}\\}$`));
});

test('the AppWright Test workflow: on push, MySQL 8 with a health check, the action on the passing example specs, logs kept on failure', () => {
  const wf = parse(readFileSync(join(repoRoot, '.github/workflows/appwright-test.yml'), 'utf8'));
  assert.is(wf.name, 'AppWright Test');
  assert.ok('push' in wf.on && 'workflow_dispatch' in wf.on);
  const job = wf.jobs.appwright;
  assert.match(job['runs-on'], /^ubuntu-/);
  assert.match(job.services.mysql.image, /^mysql:8\./);
  assert.match(job.services.mysql.options, /--health-cmd="mysqladmin ping -h 127\.0\.0\.1/);
  assert.ok(job.services.mysql.ports.includes('3306:3306'));
  assert.match(job.env.DATABASE_URL, /^mysql:\/\/qgjob:qgjob@127\.0\.0\.1:3306\/qgjob$/);
  const steps: Array<Record<string, any>> = job.steps;
  assert.ok(steps.some((st) => st.uses?.startsWith('actions/setup-node@') && String(st.with['node-version']) === '20'));
  assert.ok(steps.some((st) => st.run?.trim() === 'npm ci'));
  const start = steps.find((st) => /coordinator/.test(st.run ?? ''))!.run as string;
  for (const file of ['node_modules/appium/index.js', 'bin/qgjob.js', 'examples/lab.json']) {
    assert.ok(start.includes(file), `the start step runs ${file}`);
    assert.ok(existsSync(join(repoRoot, file)), `${file} exists`);
  }
  assert.match(start, /qgjob\.js coordinator /);
  assert.match(start, /qgjob\.js agent --config examples\/lab\.json/);
  // The action, with inputs it declares, on specs that exist and pass.
  const use = steps.find((st) => st.uses === './')!;
  const declared = loadAction().inputs;
  for (const name of Object.keys(use.with)) assert.ok(name in declared, `action input ${name}`);
  assert.is(use.with['test-root'], 'examples/appwright-project');
  const fallback = /\|\| '([^']+)'/.exec(use.with.tests)![1]!;
  assert.is(fallback, wf.on.workflow_dispatch.inputs.tests.default);
  for (const spec of fallback.split(/\s+/)) {
    assert.ok(existsSync(join(repoRoot, 'examples/appwright-project', spec)), spec);
    assert.not.match(spec, /failing|long-running/, 'push runs only the passing specs');
  }
  const upload = steps.find((st) => st.uses?.startsWith('actions/upload-artifact@'))!;
  assert.is(upload.if, 'failure()');
  // No expression is pasted into a script: values reach scripts through env.
  for (const st of steps) if (st.run) assert.equal(exprs(st.run), [], st.name);
});

// ───────────────────────────── action.yml's scripts, with bash ─────────────────────────────

/** A `node` first on PATH that records each call's arguments, then runs the real node. */
function recordingNode(): { dir: string; calls(): string[][] } {
  const dir = tempDir('node-shim');
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'node'), `#!/usr/bin/env bash\n{ printf '%s\\0' "$@"; printf '\\n\\0'; } >> '${log}'\nexec '${process.execPath}' "$@"\n`);
  chmodSync(join(dir, 'node'), 0o755);
  return {
    dir,
    calls: () =>
      readFileSync(log, 'utf8')
        .split('\n\0')
        .filter(Boolean)
        .map((c) => c.split('\0').filter((a, i, all) => i < all.length - 1 || a !== '')),
  };
}

test('action: the submit step passes each input as one argument, with name and idempotency key from the GitHub context', async () => {
  const shim = recordingNode();
  const closed = `http://127.0.0.1:${await freePort()}`;
  const run = await runAction(
    {
      'coordinator-url': closed,
      'org-id': 'qualgent',
      'app-version-id': 'xyz123',
      tests: 'tests/onboarding.spec.js\n  tests/slow-*.spec.js   tests/a b',
      'test-root': 'examples/appwright-project',
      priority: '7',
      'job-timeout-minutes': '08',
      args: '--max-attempts 2',
    },
    { skip: ['install'], env: { PATH: `${shim.dir}:${process.env.PATH}` } },
  );
  const submit = shim.calls().find((c) => c[1] === 'submit')!;
  assert.ok(submit, JSON.stringify(shim.calls()));
  assert.is(submit[0], join(repoRoot, 'bin/qgjob.js'));
  const args = submit.slice(1);
  const value = (f: string) => args[args.indexOf(f) + 1];
  assert.is(value('--url'), closed);
  assert.is(value('--org-id'), 'qualgent');
  assert.is(value('--test-root'), 'examples/appwright-project');
  assert.equal(args.flatMap((a, i) => (a === '--test' ? [args[i + 1]] : [])), ['tests/onboarding.spec.js', 'tests/slow-*.spec.js', 'tests/a', 'b'], 'globs reach qgjob unexpanded');
  assert.is(value('--priority'), '7');
  assert.is(value('--timeout-ms'), String(8 * 60_000));
  assert.is(value('--max-attempts'), '2');
  assert.is(value('--name'), 'AppWright Test #7');
  assert.match(value('--idempotency-key')!, /^github:acme\/app:1000:1:appwright:[0-9a-f]{12}$/);
  assert.equal(args.slice(-2), ['--wait', '--json']);
  assert.ok(!args.includes('--build') && !args.includes('--test-retries'), 'empty inputs add no flag');
  // The coordinator is not there: the submit step records qgjob's exit and the report step fails with it.
  const [s, r] = run.steps;
  assert.is(s!.code, 0, s!.stderr);
  assert.match(s!.outputs['exit-code']!, /^[23]$/);
  assert.ok(s!.outputs['run-json']!.startsWith(run.runnerTemp));
  assert.is(r!.code, Number(s!.outputs['exit-code']));
  assert.match(r!.stdout, new RegExp(`^::error title=qgjob submit failed::qgjob submit exited ${r!.code} without a run result`));
});

test('action: the idempotency key differs between submissions of different specs, and an explicit one is kept', async () => {
  const keys: string[] = [];
  for (const tests of ['tests/a.spec.js', 'tests/b.spec.js', 'tests/a.spec.js']) {
    const shim = recordingNode();
    await runAction({ 'coordinator-url': 'http://127.0.0.1:9', 'org-id': 'o', 'app-version-id': 'v', tests }, { skip: ['install', 'report'], env: { PATH: `${shim.dir}:${process.env.PATH}` } });
    const submit = shim.calls().find((c) => c[1] === 'submit')!;
    keys.push(submit[submit.indexOf('--idempotency-key') + 1]!);
  }
  assert.is.not(keys[0], keys[1]);
  assert.is(keys[0], keys[2]);
  const shim = recordingNode();
  await runAction({ 'coordinator-url': 'http://127.0.0.1:9', 'org-id': 'o', 'app-version-id': 'v', tests: 't.spec.js', 'idempotency-key': 'mine', name: 'Nightly' }, { skip: ['install', 'report'], env: { PATH: `${shim.dir}:${process.env.PATH}` } });
  const submit = shim.calls().find((c) => c[1] === 'submit')!;
  assert.is(submit[submit.indexOf('--idempotency-key') + 1], 'mine');
  assert.is(submit[submit.indexOf('--name') + 1], 'Nightly');
});

test('action: input values are data, never shell code', async () => {
  const dir = tempDir('inject');
  const marker = (n: number) => join(dir, `pwned${n}`);
  const run = await runAction(
    {
      'coordinator-url': `http://127.0.0.1:${await freePort()}`,
      'org-id': `$(touch ${marker(1)})`,
      'app-version-id': `\`touch ${marker(2)}\``,
      tests: `tests/a.spec.js"; touch ${marker(3)}; echo "`,
      name: `'; touch ${marker(4)}; '`,
      'test-root': `$(touch ${marker(5)})`,
      args: `; touch ${marker(6)}`,
    },
    { skip: ['install'] },
  );
  for (let n = 1; n <= 6; n++) assert.not.ok(existsSync(marker(n)), `input ${n} was run as code`);
  assert.is.not(run.last.code, 0);
});

test('action: missing tests or a bad job-timeout-minutes fail the submit step with exit 2 and an ::error; the report step does not run', async () => {
  const empty = await runAction({ 'coordinator-url': 'http://127.0.0.1:9', 'org-id': 'o', 'app-version-id': 'v', tests: ' \n ' }, { skip: ['install'] });
  assert.is(empty.steps.length, 1);
  assert.is(empty.last.code, 2);
  assert.is(empty.last.stdout.trim(), '::error title=qgjob action::the tests input names no spec file');
  const bad = await runAction({ 'coordinator-url': 'http://127.0.0.1:9', 'org-id': 'o', 'app-version-id': 'v', tests: 't.spec.js', 'job-timeout-minutes': '1.5' }, { skip: ['install'] });
  assert.is(bad.last.code, 2);
  assert.match(bad.last.stdout, /job-timeout-minutes must be a whole number of minutes, got "1\.5"/);
});

test('action: the report step reads the RunView the submit step left, writes the summary and outputs, and fails the step with the run', async () => {
  // The submit step is skipped; its outputs are what it would have written.
  const runJson = join(tempDir('report'), 'run.json');
  writeFileSync(runJson, JSON.stringify(runOf([passedJob(), failedJob()])));
  const action = loadAction();
  const report = action.runs.steps.find((st) => st.id === 'report')!;
  const dir = tempDir('report-step');
  const files = { summary: join(dir, 'summary'), output: join(dir, 'output') };
  for (const f of Object.values(files)) writeFileSync(f, '');
  const script = join(dir, 'script.sh');
  writeFileSync(script, report.run!);
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', script], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, GITHUB_ACTION_PATH: repoRoot, GITHUB_WORKSPACE: repoRoot, GITHUB_STEP_SUMMARY: files.summary, GITHUB_OUTPUT: files.output, RUN_JSON: runJson, SUBMIT_EXIT: '1', LINK_URL: URL_, INPUT_TEST_ROOT: 'examples/appwright-project' },
  });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stdout, /^::error file=examples\/appwright-project\/tests\/failing\.spec\.js,title=tests\/failing\.spec\.js failed::/);
  assert.ok(readFileSync(files.summary, 'utf8').startsWith('### ❌ qgjob run failed: 1 of 2 specs failed'));
  assert.equal(parseOutputsFile(readFileSync(files.output, 'utf8')), stepOutputs(runOf([passedJob(), failedJob()]), { coordinatorUrl: URL_ }));
});

test.run();
