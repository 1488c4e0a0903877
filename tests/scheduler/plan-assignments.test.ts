import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { JobQueues, explainWait, planAssignments as planFull, type QueuedJob } from '../../coordinator/scheduler/index.js';
import { slot } from './helpers.js';

// The decisions' job, slot and install reason (each decision also carries the rule and a sentence).
const planAssignments = (...args: Parameters<typeof planFull>) => planFull(...args).map(({ jobId, slotKey, reason }) => ({ jobId, slotKey, reason }));

let n = 0;
const job = (appVersionId: string, over: Partial<QueuedJob> = {}): QueuedJob => ({
  jobId: `job_${String(++n).padStart(4, '0')}`,
  orgId: 'org',
  appVersionId,
  priority: 5,
  target: 'emulator',
  platform: 'android',
  submittedAtMs: 1000 + n,
  avoidSlots: [],
  ...over,
});
const queues = (...jobs: QueuedJob[]) => {
  const q = new JobQueues();
  for (const j of jobs) q.add(j);
  return q;
};

test('a free slot takes a job of the build it already has, even when another build is older', () => {
  const older = job('A');
  const same = job('B');
  const d = planAssignments(queues(older, same).byVersion, [slot('a/1', 'B')], 0);
  assert.equal(d, [{ jobId: same.jobId, slotKey: 'a/1', reason: 'affinity' }]);
});

test('without a warm match: priority first, then age', () => {
  const old = job('A', { priority: 5 });
  const urgent = job('B', { priority: 9 });
  const d = planAssignments(queues(old, urgent).byVersion, [slot('a/1', null)], 0);
  assert.equal(d, [{ jobId: urgent.jobId, slotKey: 'a/1', reason: 'install' }]);
  const first = job('C');
  const second = job('D');
  assert.is(planAssignments(queues(second, first).byVersion, [slot('a/1', null)], 0)[0]!.jobId, first.jobId);
});

test('only matching targets and platforms', () => {
  const ios = job('A', { platform: 'ios' });
  const bs = job('A', { target: 'browserstack' });
  assert.equal(planAssignments(queues(ios, bs).byVersion, [slot('a/1', 'A')], 0), []);
  const d = planAssignments(queues(ios, bs).byVersion, [slot('a/1', 'A', { platform: 'ios' })], 0);
  assert.equal(d, [{ jobId: ios.jobId, slotKey: 'a/1', reason: 'affinity' }]);
});

test('busy and offline slots get nothing; each job goes to one slot', () => {
  // j1 runs long on a/3, so j2 is not held for that warm slot: it installs on the empty one.
  const j1 = job('A', { expectedDurationMs: 600_000 });
  const j2 = job('A');
  const d = planAssignments(
    queues(j1, j2).byVersion,
    [slot('a/1', 'A', { free: false }), slot('a/2', 'A', { online: false }), slot('a/3', 'A'), slot('a/4', null)],
    0,
  );
  assert.equal(d, [
    { jobId: j1.jobId, slotKey: 'a/3', reason: 'affinity' },
    { jobId: j2.jobId, slotKey: 'a/4', reason: 'install' },
  ]);
});

test('warm slots are served before cold ones pick, and empty slots install before warm ones switch', () => {
  const a = job('A');
  const b = job('B');
  // Slot 1 has C (no C jobs), slot 2 has nothing, slot 3 has B.
  const d = planAssignments(queues(a, b).byVersion, [slot('s/1', 'C'), slot('s/2', null), slot('s/3', 'B')], 0);
  assert.equal(d, [
    { jobId: b.jobId, slotKey: 's/3', reason: 'affinity' },
    { jobId: a.jobId, slotKey: 's/2', reason: 'install' },
  ]);
});

test('a slot to avoid is avoided while another could serve the job, and used when none could', () => {
  const j = job('A', { avoidSlots: ['s/1'] });
  assert.equal(planAssignments(queues(j).byVersion, [slot('s/1', 'A'), slot('s/2', null)], 0), [{ jobId: j.jobId, slotKey: 's/2', reason: 'install' }]);
  assert.equal(planAssignments(queues(j).byVersion, [slot('s/1', 'A')], 0), [{ jobId: j.jobId, slotKey: 's/1', reason: 'affinity' }]);
});

test('JobQueues keeps each version in priority/age order and removes cleanly', () => {
  const q = new JobQueues();
  const low = job('A', { priority: 1 });
  const hi = job('A', { priority: 10 });
  const mid = job('A');
  q.add(low);
  q.add(hi);
  q.add(mid);
  assert.equal(q.byVersion.get('A')!.map((j) => j.jobId), [hi.jobId, mid.jobId, low.jobId]);
  assert.is(q.remove(mid.jobId), mid);
  assert.is(q.remove(mid.jobId), undefined);
  q.remove(hi.jobId);
  q.remove(low.jobId);
  assert.is(q.size, 0);
  assert.not.ok(q.byVersion.has('A'));
});

test('explainWait says why a job waits', () => {
  const j = job('A', { platform: 'ios' });
  const q = queues(j);
  assert.match(explainWait(j, q.byVersion, [slot('s/1', null)]), /no connected slot serves emulator\/ios/);
  assert.match(explainWait(j, q.byVersion, [slot('s/1', null, { platform: 'ios', online: false })]), /offline/);
  const ahead = job('B', { platform: 'ios', priority: 9 });
  q.add(ahead);
  assert.match(explainWait(j, q.byVersion, [slot('s/1', null, { platform: 'ios', free: false })]), /busy; 1 job\(s\) ahead/);
});

test.run();
