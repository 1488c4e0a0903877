/**
 * One case per rule of the scheduling policy, each built so that it fails without the rule:
 * affinity, priority within an org, weighted fair share across orgs, bounded waiting (aging),
 * bounded delay (holds), spreading (plan), cloud caps, tail longest-first, burst window; plus
 * purity (input untouched, same answer twice).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_POLICY, classKeyOf } from '../../coordinator/scheduler/index.js';
import { NOW, assigned, busy, job, queues, round, slot } from './helpers.js';

test('affinity: a free slot takes a job of its own build before an older, higher-ranked one that needs an install', () => {
  const other = job('B', { submittedAtMs: NOW - 60_000 });
  const own = job('A');
  const r = round(queues(other, own), [slot('s/1', 'A')]);
  assert.equal(assigned(r), { [own.jobId]: 's/1' });
  assert.is(r.decisions[0]!.reason, 'affinity');
  assert.is(r.decisions[0]!.rule, 'affinity');
});

test('priority within an org: its highest priority goes first, even over the installed build', () => {
  const low = job('A', { priority: 3 });
  const high = job('B', { priority: 9 });
  const r = round(queues(low, high), [slot('s/1', 'A')]);
  assert.equal(assigned(r), { [high.jobId]: 's/1' });
  assert.is(r.decisions[0]!.rule, 'priority');
  // Same priority: affinity wins again.
  const r2 = round(queues(job('A'), job('B')), [slot('s/1', 'A')]);
  assert.is(r2.decisions[0]!.reason, 'affinity');
});

test('fair share: the org furthest below its weighted share gets the slot, and weights change who that is', () => {
  const mine = job('A', { orgId: 'acme' });
  const theirs = job('G', { orgId: 'globex' });
  // acme already runs 3 jobs, globex none: the warm acme slot goes to globex.
  const running = [1, 2, 3].map((i) => busy(`b/${i}`, 'A', 300_000, { runningOrgId: 'acme' }));
  const r = round(queues(mine, theirs), [slot('s/1', 'A'), ...running]);
  assert.equal(assigned(r), { [theirs.jobId]: 's/1' });
  assert.is(r.decisions[0]!.rule, 'fair_share');
  // With acme weighted 4 (3 running / 4 < 1 / 1), acme keeps its warm slot.
  const r2 = round(queues(mine, theirs), [slot('s/1', 'A'), ...running], { orgWeights: { acme: 4 } });
  assert.equal(assigned(r2), { [mine.jobId]: 's/1' });
  assert.is(r2.decisions[0]!.rule, 'affinity');
});

test('fair share is weighted among orgs that compete: two free slots split 2:1 toward the heavier org over rounds', () => {
  // 6 slots, orgs with weights 2 and 1 and plenty of work each, nothing running yet: 4 go to acme, 2 to globex.
  const jobs = [...Array.from({ length: 10 }, () => job('A', { orgId: 'acme' })), ...Array.from({ length: 10 }, () => job('G', { orgId: 'globex' }))];
  const slots = Array.from({ length: 6 }, (_, i) => slot(`s/${i}`, null));
  const r = round(queues(...jobs), slots, { orgWeights: { acme: 2, globex: 1 } });
  const byOrg = { acme: 0, globex: 0 };
  for (const d of r.decisions) byOrg[jobs.find((j) => j.jobId === d.jobId)!.orgId as 'acme' | 'globex']++;
  assert.equal(byOrg, { acme: 4, globex: 2 });
});

test('bounded waiting: a job past the aging bound goes first, over affinity, priority and fair share', () => {
  const aged = job('B', { priority: 1, orgId: 'globex', submittedAtMs: NOW - DEFAULT_POLICY.agingBoundMs - 1 });
  const fresh = job('A', { priority: 9 });
  const r = round(queues(aged, fresh), [slot('s/1', 'A'), busy('b/1', 'Z', 900_000, { runningOrgId: 'globex' })]);
  assert.equal(assigned(r), { [aged.jobId]: 's/1' });
  assert.is(r.decisions[0]!.rule, 'aged');
  // One millisecond younger it is not aged: affinity and priority win.
  const young = { ...aged, submittedAtMs: NOW - DEFAULT_POLICY.agingBoundMs + 1 };
  assert.equal(assigned(round(queues(young, fresh), [slot('s/1', 'A')])), { [fresh.jobId]: 's/1' });
  // The bound is configurable.
  assert.equal(assigned(round(queues(young, fresh), [slot('s/1', 'A')], { agingBoundMs: 60_000 })), { [young.jobId]: 's/1' });
});

test('bounded delay: a job is held for a warm slot that frees soon, not for one that frees late or has no estimate', () => {
  const j = job('A');
  // The warm slot frees in 20 s: installing on the empty slot would start the job only after 60 s.
  const soon = round(queues(j), [slot('s/1', null), busy('b/1', 'A', 20_000)]);
  assert.equal(soon.decisions, []);
  assert.is(soon.idle[0]!.code, 'held_for_affinity');
  assert.is(soon.wakeAtMs, NOW + 20_000 + 1, 'the caller is told when to look again');
  // Frees in 10 minutes: past the bound (min(1.5 × (60 s + 60 s), 150 s) after an install), so it installs now.
  const late = round(queues(j), [slot('s/1', null), busy('b/1', 'A', 600_000)]);
  assert.equal(assigned(late), { [j.jobId]: 's/1' });
  assert.is(late.decisions[0]!.reason, 'install');
  // No end estimate: nothing to wait for.
  const unknown = round(queues(j), [slot('s/1', null), busy('b/1', 'A', 0, { busyUntilMs: null })]);
  assert.equal(assigned(unknown), { [j.jobId]: 's/1' });
  // As many jobs are held as the warm slot can start within the bound; the rest are not.
  const many = Array.from({ length: 6 }, () => job('A'));
  const r = round(queues(...many), [slot('s/1', null), busy('b/1', 'A', 20_000)]);
  assert.is(r.decisions.length, 1);
});

test('bounded delay never idles a slot while a job it could take would wait past the bound', () => {
  const held = job('A');
  const other = job('B');
  const r = round(queues(held, other), [slot('s/1', null), busy('b/1', 'A', 20_000)]);
  assert.equal(assigned(r), { [other.jobId]: 's/1' });
});

test('spreading: a backlog too large for its warm slots gets another slot on purpose, even when its jobs are held', () => {
  // Three 100-s jobs, one warm slot free in 10 s: it could start all three within the hold bound, but the
  // plan says version A cannot finish by the horizon without help.
  const jobs = [1, 2, 3].map(() => job('A', { expectedDurationMs: 100_000 }));
  const slots = [slot('s/1', null), busy('b/1', 'A', 10_000)];
  const on = round(queues(...jobs), slots);
  assert.is(on.decisions.length, 1);
  assert.is(on.decisions[0]!.rule, 'spread');
  assert.ok(on.plans[0]!.horizonMs > NOW);
  const off = round(queues(...jobs), slots, { spreading: false });
  assert.equal(off.decisions, []);
});

test('spreading: a warm slot leaves a build that finishes without it for a version that cannot (McNaughton wrap)', () => {
  // A: 2 short jobs, 3 slots (2 busy for 30 s). B: 30 jobs, 1 busy slot. The free A slot goes to B.
  const a = [1, 2].map(() => job('A'));
  const b = Array.from({ length: 30 }, () => job('B'));
  const slots = [slot('s/1', 'A'), busy('a/2', 'A', 30_000), busy('a/3', 'A', 30_000), busy('b/1', 'B', 30_000)];
  const r = round(queues(...a, ...b), slots);
  assert.is(r.decisions.length, 1);
  assert.ok(b.some((j) => j.jobId === r.decisions[0]!.jobId));
  assert.is(r.decisions[0]!.rule, 'spread');
  assert.is(r.decisions[0]!.reason, 'install');
  // Without spreading it stays with its build.
  const off = round(queues(...a, ...b), slots, { spreading: false });
  assert.ok(a.some((j) => j.jobId === off.decisions[0]!.jobId));
});

test('burst window: a newer backlog never takes a warm slot from an older one', () => {
  const a = [1, 2].map(() => job('A', { submittedAtMs: NOW - 600_000 }));
  const b = Array.from({ length: 30 }, () => job('B'));
  const slots = [slot('s/1', 'A'), busy('a/2', 'A', 30_000), busy('a/3', 'A', 30_000), busy('b/1', 'B', 30_000)];
  const r = round(queues(...a, ...b), slots);
  assert.ok(a.some((j) => j.jobId === r.decisions[0]!.jobId));
  // Within the window they are one burst and the plan balances them.
  const r2 = round(queues(...a, ...b), slots, { burstWindowMs: 3_600_000 });
  assert.ok(b.some((j) => j.jobId === r2.decisions[0]!.jobId));
});

test('cloud caps: slots of one account never run more sessions than its cap; the others wait with a reason', () => {
  // Long jobs, so no job is held for a slot that already has the build.
  const jobs = Array.from({ length: 5 }, () => job('A', { target: 'browserstack', expectedDurationMs: 600_000 }));
  const bs = (k: string, over = {}) => slot(k, null, { target: 'browserstack', cloudAccount: 'bs:acme', ...over });
  const slots = [bs('bs/1', { free: false, runningAppVersionId: 'A', runningOrgId: 'acme', busyUntilMs: NOW + 600_000 }), bs('bs/2'), bs('bs/3'), bs('bs/4')];
  const r = round(queues(...jobs), slots, { cloudCaps: { 'bs:acme': 2 } });
  assert.is(r.decisions.length, 1);
  assert.equal(
    r.idle.map((i) => i.code),
    ['cap_reached', 'cap_reached'],
  );
  // Without a cap for the account all three free slots start.
  assert.is(round(queues(...jobs), slots).decisions.length, 3);
  // Another account is not affected.
  const other = [...slots, slot('bs/5', null, { target: 'browserstack', cloudAccount: 'bs:other' })];
  assert.is(round(queues(...jobs), other, { cloudCaps: { 'bs:acme': 2 } }).decisions.length, 2);
});

test('target and platform matching: a job only goes to a slot of its class', () => {
  const ios = job('A', { platform: 'ios', target: 'device' });
  const r = round(queues(ios), [slot('s/1', 'A'), slot('s/2', null, { target: 'device' })]);
  assert.equal(r.decisions, []);
  const r2 = round(queues(ios), [slot('s/1', 'A'), slot('s/2', null, { target: 'device', platform: 'ios' })]);
  assert.equal(assigned(r2), { [ios.jobId]: 's/2' });
  assert.is(classKeyOf(ios), 'device/ios');
});

test('near the horizon a version runs its longest equal-priority job first; far from it, the oldest', () => {
  const short = job('A', { expectedDurationMs: 20_000 });
  const long = job('A', { expectedDurationMs: 110_000 });
  assert.equal(assigned(round(queues(short, long), [slot('s/1', 'A')])), { [long.jobId]: 's/1' });
  assert.equal(assigned(round(queues(short, long), [slot('s/1', 'A')], { tailLongestFirstMs: 0 })), { [short.jobId]: 's/1' });
});

test('a round is pure: the queues and slots it is given are not changed, and the same input gives the same answer', () => {
  const jobs = Array.from({ length: 20 }, (_, i) => job(i % 2 ? 'A' : 'B', { priority: 1 + (i % 4) }));
  const q = queues(...jobs);
  const slots = [slot('s/1', 'A'), slot('s/2', null), busy('b/1', 'B', 30_000)];
  const before = JSON.stringify({ jobs: [...q.all()], slots });
  const r1 = round(q, slots);
  const r2 = round(q, slots);
  assert.equal(r1, r2);
  assert.is(JSON.stringify({ jobs: [...q.all()], slots }), before);
  assert.is(q.size, 20);
});

test('every decision says why', () => {
  const r = round(queues(job('A'), job('B')), [slot('s/1', 'A'), slot('s/2', null)]);
  for (const d of r.decisions) assert.ok(d.why.length > 10, d.why);
});

test.run();
