/**
 * The operational logs of real `qgjob coordinator` and `qgjob agent` processes. With stderr a pipe
 * (not a terminal) each line is one JSON object with level, time, name and msg, and a job's lines
 * carry its job_id, attempt_id and agent_id; `QGJOB_LOG_FORMAT=pretty` gives lines for people;
 * `QGJOB_LOG_LEVEL` filters, and a level that does not exist is a usage error.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { JobView } from '../../shared/index.js';
import { type AppiumServer, startAppium } from '../helpers/appium.js';
import { type Proc, runQgjob, startAgentProc, startCoordinatorProc, tempDir } from '../helpers/processes.js';

let appium: AppiumServer;
const procs: Proc[] = [];

test.before(async () => {
  appium = await startAppium();
});
test.after.each(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop()));
});
test.after(() => appium.stop());

interface Entry {
  level: number;
  time: string;
  name: string;
  msg: string;
  job_id?: string;
  attempt_id?: string;
  agent_id?: string;
  slot_id?: string;
}

/** Every stderr line as a JSON entry; fails on a line that is not one. */
function entries(stderr: string, name: string): Entry[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('qgjob: SIG')) // the CLI's own shutdown notice
    .map((l) => {
      let e: Entry;
      try {
        e = JSON.parse(l) as Entry;
      } catch {
        throw new Error(`not a JSON log line: ${l}`);
      }
      assert.type(e.level, 'number', l);
      assert.ok(!Number.isNaN(Date.parse(e.time)), `time: ${l}`);
      assert.type(e.msg, 'string', l);
      assert.is(e.name, name, l);
      return e;
    });
}

test('JSON lines on a pipe, with the ids of the job on its lines', async () => {
  const c = await startCoordinatorProc();
  procs.push(c.proc);
  const agent = await startAgentProc({ url: c.url, appiumUrl: appium.url, agentId: 'log-agent' });
  procs.push(agent);

  const r = await runQgjob(['submit', '--url', c.url, '--org-id', 'acme', '--app-version-id', 'logs-v1', '--test', 'tests/onboarding.spec.js', '--target', 'emulator', '--wait', '--json']);
  assert.is(r.code, 0, r.stderr);
  const job = JSON.parse(r.stdout) as JobView;
  assert.is(job.status, 'passed');
  // The coordinator logs the result once it is stored; the CLI may have seen the end a moment earlier.
  await c.proc.waitFor(/"msg":"attempt \S+ ended passed/);
  await agent.waitFor(/"msg":"attempt \S+ passed/);

  const coord = entries(c.proc.stderr, 'coordinator');
  assert.ok(coord.some((e) => /^listening on http/.test(e.msg)), 'the start-up line');
  const ofJob = coord.filter((e) => e.job_id === job.job_id);
  assert.ok(ofJob.length >= 3, `assigned, started and ended lines:\n${c.proc.stderr}`);
  for (const e of ofJob) {
    assert.is(e.attempt_id, job.attempt_id, e.msg);
    assert.is(e.agent_id, 'log-agent', e.msg);
    assert.is(e.slot_id, 'fake-1', e.msg);
  }
  assert.ok(ofJob.some((e) => /assigned to log-agent\/fake-1/.test(e.msg)));

  const ag = entries(agent.stderr, 'agent');
  assert.ok(ag.every((e) => e.agent_id === 'log-agent'), 'every agent line names the agent');
  const agentJob = ag.filter((e) => e.job_id === job.job_id);
  assert.ok(agentJob.some((e) => /^running tests\/onboarding\.spec\.js/.test(e.msg)), agent.stderr);
  for (const e of agentJob) assert.is(e.attempt_id, job.attempt_id, e.msg);
});

test('QGJOB_LOG_FORMAT=pretty gives lines for people', async () => {
  const c = await startCoordinatorProc({ env: { QGJOB_LOG_FORMAT: 'pretty' } });
  procs.push(c.proc);
  await c.proc.waitFor(/INFO \(coordinator\): listening on/);
  const lines = c.proc.stderr.split('\n').filter(Boolean);
  assert.ok(lines.length > 0);
  for (const l of lines) assert.not.ok(l.startsWith('{'), `not JSON: ${l}`);
  assert.ok(lines.some((l) => /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(coordinator\): listening on http:\/\/127\.0\.0\.1:\d+ /.test(l)), c.proc.stderr);
});

test('QGJOB_LOG_LEVEL filters; an unknown level or format is a usage error', async () => {
  const quiet = await startCoordinatorProc({ env: { QGJOB_LOG_LEVEL: 'warn' } });
  procs.push(quiet.proc);
  assert.not.match(quiet.proc.stderr, /listening on/, 'an info line at level warn');

  const bad = await runQgjob(['coordinator', '--port', '0', '--data-dir', tempDir('badlog')], { QGJOB_LOG_LEVEL: 'loud' });
  assert.is(bad.code, 2, bad.stderr);
  assert.is(bad.stderr, 'qgjob: QGJOB_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"\n');
  const badFormat = await runQgjob(['coordinator', '--port', '0', '--data-dir', tempDir('badlog')], { QGJOB_LOG_FORMAT: 'xml' });
  assert.is(badFormat.code, 2, badFormat.stderr);
  assert.match(badFormat.stderr, /^qgjob: QGJOB_LOG_FORMAT must be json or pretty, got "xml"\n$/);
});

test.run();
