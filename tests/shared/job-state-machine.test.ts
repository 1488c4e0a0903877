import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JOB_STATES, JobSpec, QgError, TRANSITIONS, canMove, isFinal, nextState, type JobMove } from '../../shared/index.js';

test('the happy path: queued → assigned → running → passed', () => {
  assert.is(nextState('queued', 'assign'), 'assigned');
  assert.is(nextState('assigned', 'start'), 'running');
  assert.is(nextState('running', 'pass'), 'passed');
  assert.is(nextState('running', 'fail'), 'failed');
});

test('requeue and give_up come only from states on a slot (give_up also from queued)', () => {
  assert.is(nextState('assigned', 'requeue'), 'queued');
  assert.is(nextState('running', 'requeue'), 'queued');
  assert.throws(() => nextState('queued', 'requeue'), (e: unknown) => e instanceof QgError && e.code === 'illegal_transition');
  assert.is(nextState('running', 'give_up'), 'error');
});

test('no move leaves a final state', () => {
  for (const s of JOB_STATES.filter(isFinal)) {
    for (const move of Object.keys(TRANSITIONS) as JobMove[]) {
      assert.not.ok(canMove(s, move), `${move} from ${s}`);
      assert.throws(() => nextState(s, move), /cannot/);
    }
  }
});

test('a result cannot skip start, and cancel works until the end', () => {
  assert.throws(() => nextState('assigned', 'pass'), /cannot pass a job that is assigned/);
  assert.throws(() => nextState('queued', 'start'));
  for (const s of ['queued', 'assigned', 'running'] as const) assert.is(nextState(s, 'cancel'), 'cancelled');
  assert.is(nextState('running', 'time_out'), 'timed_out');
});

test('JobSpec: defaults, and clear errors for bad input', () => {
  const ok = JobSpec.parse({ org_id: 'qualgent', app_version_id: '007', test_path: 'tests/a.spec.js', target: 'emulator' });
  assert.equal(ok, { org_id: 'qualgent', app_version_id: '007', test_path: 'tests/a.spec.js', target: 'emulator', priority: 5, platform: 'android', max_attempts: 3, timeout_ms: 1_800_000, test_retries: 0, build: 'auto' });
  const bad = JobSpec.safeParse({ org_id: 'x', app_version_id: 'v', test_path: '../etc/passwd', target: 'cloud', priority: 11 });
  assert.not.ok(bad.success);
  const paths = bad.error!.issues.map((i) => i.path.join('.'));
  assert.ok(paths.includes('test_path') && paths.includes('target') && paths.includes('priority'), paths.join(','));
  assert.not.ok(JobSpec.safeParse({ org_id: 'x', app_version_id: 'v', test_path: '/abs.spec.js', target: 'device' }).success);
  assert.not.ok(JobSpec.safeParse({ org_id: 'x', app_version_id: 'v', test_path: 't.js', target: 'device', surprise: 1 }).success);
});

test.run();
