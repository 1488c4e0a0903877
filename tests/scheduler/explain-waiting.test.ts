/** `explainWaiting`: every reason a queued job can have for not running yet, in words and as a code. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_POLICY, explainWaiting, waitExplainer, type QueuedJob, type SchedulerPolicy, type SlotState } from '../../coordinator/scheduler/index.js';
import { NOW, busy, job, queues, slot } from './helpers.js';

const explain = (j: QueuedJob, jobs: QueuedJob[], slots: SlotState[], policy?: Partial<SchedulerPolicy>) =>
  explainWaiting(j, { queues: queues(j, ...jobs), slots, nowMs: NOW, ...(policy ? { policy } : {}) });

test('no matching slot, and all matching slots offline', () => {
  const j = job('A', { platform: 'ios' });
  const none = explain(j, [], [slot('s/1', null)]);
  assert.is(none.code, 'no_matching_slot');
  assert.match(none.message, /no connected slot serves emulator\/ios/);
  const off = explain(j, [], [slot('s/1', null, { platform: 'ios', online: false })]);
  assert.is(off.code, 'slots_offline');
  assert.match(off.message, /all 1 emulator\/ios slot\(s\) are offline/);
});

test('cloud cap reached', () => {
  const j = job('A', { target: 'browserstack' });
  const bs = (k: string, free: boolean) =>
    slot(k, 'A', { target: 'browserstack', cloudAccount: 'bs:acme', free, ...(free ? {} : { runningAppVersionId: 'A', runningOrgId: 'acme', busyUntilMs: NOW + 60_000 }) });
  const e = explain(j, [], [bs('bs/1', false), bs('bs/2', true)], { cloudCaps: { 'bs:acme': 1 } });
  assert.is(e.code, 'cap_reached');
  assert.match(e.message, /bs:acme: 1 of 1 sessions in use/);
});

test('all slots busy, with how many jobs go first and how many of them have a higher priority', () => {
  const j = job('A');
  const ahead = job('B', { priority: 9 });
  const e = explain(j, [ahead], [busy('b/1', 'Z', 600_000)]);
  assert.is(e.code, 'slots_busy');
  assert.match(e.message, /all 1 emulator\/android slot\(s\) are busy; 1 job\(s\) ahead of it, 1 of them of higher priority in org acme/);
  assert.is(e.ahead, 1);
  assert.is(e.higherPriorityAhead, 1);
});

test('held for affinity: a warm slot will start it soon', () => {
  const j = job('A');
  const e = explain(j, [], [slot('s/1', null), busy('b/1', 'A', 20_000)]);
  assert.is(e.code, 'held_for_affinity');
  assert.match(e.message, /installed on slot b\/1, expected free in 20 s/);
});

test('behind higher priority of its org while a free slot takes that', () => {
  const j = job('A', { priority: 2 });
  const urgent = job('B', { priority: 8 });
  const e = explain(j, [urgent], [slot('s/1', null)]);
  assert.is(e.code, 'behind_higher_priority');
  assert.match(e.message, /behind 1 job\(s\) of higher priority in org acme/);
});

test('fair share: its org runs more than its share while another org waits', () => {
  const j = job('A', { orgId: 'acme' });
  const theirs = job('G', { orgId: 'globex' });
  const running = [1, 2, 3].map((i) => busy(`b/${i}`, 'A', 600_000));
  const e = explain(j, [theirs], [slot('s/1', null), ...running]);
  assert.is(e.code, 'fair_share');
  assert.match(e.message, /org acme runs 3 job\(s\) at weight 1, more than its share while globex wait/);
});

test('aged, and about to be dispatched', () => {
  const old = job('A', { submittedAtMs: NOW - DEFAULT_POLICY.agingBoundMs - 5_000 });
  const e = explain(old, [], [busy('b/1', 'Z', 600_000)]);
  assert.is(e.code, 'aged');
  assert.match(e.message, /past the aging bound of 3600 s/);
  const d = explain(job('A'), [], [slot('s/1', 'A')]);
  assert.is(d.code, 'dispatching');
  assert.match(d.message, /being dispatched to s\/1: build A is installed here/);
});

test('one explainer for many jobs answers as explainWaiting does for each (one shared round)', () => {
  const jobs = [
    job('A', { orgId: 'acme', priority: 2 }),
    job('A', { orgId: 'acme', priority: 8 }),
    job('B', { orgId: 'globex' }),
    job('C', { platform: 'ios' }),
    job('Z', { submittedAtMs: NOW - DEFAULT_POLICY.agingBoundMs - 5_000 }),
    job('D', { target: 'browserstack' }),
  ];
  const slots = [slot('s/1', 'A'), slot('s/2', null), busy('b/1', 'B', 600_000), busy('b/2', 'Z', 600_000)];
  const input = { queues: queues(...jobs), slots, nowMs: NOW };
  const explain = waitExplainer(input);
  const shared = jobs.map((j) => explain(j));
  assert.equal(
    shared,
    jobs.map((j) => explainWaiting(j, input)),
  );
  // Answers from the shared round (dispatching) and from the shared round view (held for affinity).
  const codes = shared.map((e) => e.code);
  assert.ok(codes.includes('dispatching') && codes.includes('held_for_affinity'), codes.join(', '));
});

test.run();
