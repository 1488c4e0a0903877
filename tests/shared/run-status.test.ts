/** `runStatus` (shared/run.ts): a run's state from its jobs', the rule coordinator, CLI and CI share. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JOB_STATES, RERUN_STATES, RunSpec, isFinal, runStatus, type JobState } from '../../shared/index.js';
import { exitCodeForRun } from '../../cli/exit-codes.js';

test('not every job ended: queued while all wait, running once any left the queue', () => {
  assert.is(runStatus(['queued']), 'queued');
  assert.is(runStatus(['queued', 'queued']), 'queued');
  assert.is(runStatus(['queued', 'assigned']), 'running');
  assert.is(runStatus(['running']), 'running');
  // A finished job counts as having left the queue.
  assert.is(runStatus(['passed', 'queued']), 'running');
  assert.is(runStatus(['failed', 'running', 'queued']), 'running');
});

test('every job ended: passed only if all passed; a test failure outranks an error, an error a cancel', () => {
  assert.is(runStatus(['passed']), 'passed');
  assert.is(runStatus(['passed', 'passed', 'passed']), 'passed');
  assert.is(runStatus(['passed', 'failed']), 'failed');
  assert.is(runStatus(['passed', 'timed_out']), 'failed');
  assert.is(runStatus(['failed', 'error', 'cancelled']), 'failed');
  assert.is(runStatus(['passed', 'error']), 'error');
  assert.is(runStatus(['error', 'cancelled']), 'error');
  assert.is(runStatus(['passed', 'cancelled']), 'cancelled');
  assert.is(runStatus(['cancelled']), 'cancelled');
});

test('every combination of two jobs gets a final status exactly when both ended', () => {
  for (const a of JOB_STATES) {
    for (const b of JOB_STATES) {
      const s = runStatus([a, b] as JobState[]);
      const ended = isFinal(a) && isFinal(b);
      assert.is(['passed', 'failed', 'error', 'cancelled'].includes(s), ended, `${a}+${b} → ${s}`);
      assert.is(runStatus([b, a] as JobState[]), s, 'order does not matter');
    }
  }
});

test('rerun picks up every final state but passed; exit codes: passed 0, failed 1, error and cancelled 3', () => {
  assert.equal(JOB_STATES.filter((s) => RERUN_STATES.has(s)).sort(), ['cancelled', 'error', 'failed', 'timed_out']);
  assert.is(exitCodeForRun('passed'), 0);
  assert.is(exitCodeForRun('failed'), 1);
  assert.is(exitCodeForRun('error'), 3);
  assert.is(exitCodeForRun('cancelled'), 3);
});

test('RunSpec: defaults as for one job; tests must be 1 to 1000 distinct relative paths', () => {
  const ok = RunSpec.parse({ org_id: 'o', app_version_id: 'v', target: 'emulator', tests: ['tests/a.spec.js'] });
  assert.equal({ priority: ok.priority, platform: ok.platform, max_attempts: ok.max_attempts, build: ok.build }, { priority: 5, platform: 'android', max_attempts: 3, build: 'auto' });
  for (const tests of [[], ['a.js', 'a.js'], ['/abs.js'], Array.from({ length: 1001 }, (_, i) => `t${i}.js`)]) {
    assert.not.ok(RunSpec.safeParse({ org_id: 'o', app_version_id: 'v', target: 'emulator', tests }).success, JSON.stringify(tests).slice(0, 40));
  }
});

test.run();
