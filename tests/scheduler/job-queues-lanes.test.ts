/** The queue index the policy reads: lanes per class, version and org, their running sums, and cleanup. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueues } from '../../coordinator/scheduler/index.js';
import { NOW, job } from './helpers.js';

test('lanes group jobs by class, version and org, by priority level, with their expected work summed', () => {
  const q = new JobQueues();
  const a1 = job('A', { priority: 3, expectedDurationMs: 10_000, submittedAtMs: NOW - 50 });
  const a2 = job('A', { priority: 7, expectedDurationMs: 20_000, submittedAtMs: NOW - 10 });
  const a3 = job('A', { priority: 7, submittedAtMs: NOW - 30 });
  delete (a3 as { expectedDurationMs?: number }).expectedDurationMs;
  const ios = job('A', { platform: 'ios', target: 'device' });
  const other = job('A', { orgId: 'globex' });
  for (const j of [a1, a2, a3, ios, other]) q.add(j);
  const emu = q.lanesOf('emulator/android')!;
  assert.is(emu.lanes.size, 2);
  assert.is(emu.byVersion.get('A')!.length, 2, 'one lane per org');
  const lane = emu.byVersion.get('A')!.find((l) => l.orgId === 'acme')!;
  assert.equal(lane.levels.map((l) => [l.priority, l.jobs.map((j) => j.jobId)]), [
    [7, [a3.jobId, a2.jobId]],
    [3, [a1.jobId]],
  ]);
  assert.is(lane.head(), a3);
  assert.is(lane.oldest(), a1);
  assert.is(lane.oldestSubmittedAtMs, NOW - 50);
  assert.is(lane.oldestPriority, 3);
  assert.is(lane.workMs(60_000), 10_000 + 20_000 + 60_000);
  assert.is(lane.countBefore(a1), 2);
  assert.is(lane.countAbove(3), 2);
  assert.is(q.lanesOf('device/ios')!.lanes.size, 1);
  // Removing keeps the sums and the oldest right, and empty lanes and classes go away.
  q.remove(a1.jobId);
  assert.is(lane.oldestSubmittedAtMs, NOW - 30);
  assert.is(lane.oldest(), a3);
  assert.is(lane.oldestPriority, 7);
  assert.is(lane.countAbove(3), 2);
  assert.is(lane.workMs(60_000), 80_000);
  q.remove(ios.jobId);
  assert.is(q.lanesOf('device/ios'), undefined);
  assert.equal([...q.classKeys()], ['emulator/android']);
});

test('JobQueues.owning finds the index behind a byVersion map, so map-based callers need no copy', () => {
  const q = JobQueues.of([job('A')]);
  assert.is(JobQueues.owning(q.byVersion), q);
  assert.is(JobQueues.owning(new Map()), undefined);
});

test.run();
