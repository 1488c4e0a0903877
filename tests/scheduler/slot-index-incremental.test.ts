/**
 * The slot index kept up to date slot by slot equals one recomputed from scratch, after random
 * sequences of slot changes (seeded, so a failure replays): its order, per-class counts and lists,
 * build groups, per-org and per-account counts and packed columns; and rounds (decisions, idle
 * slots, plans, wake-up time) and explanations given the long-lived index equal those given the
 * same slots as an array.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../bench/scheduler/rng.js';
import { JobQueues, SlotIndex, classKeyOf, explainWaiting, scheduleRound, type QueuedJob, type SchedulerPolicy, type SlotState } from '../../coordinator/scheduler/index.js';
import type { Platform, Target } from '../../shared/index.js';

const CLASSES: ReadonlyArray<readonly [Target, Platform]> = [
  ['emulator', 'android'],
  ['device', 'ios'],
  ['browserstack', 'android'],
];
const VERSIONS = ['A', 'B', 'C', 'D', 'E', 'F'];
const ORGS = ['acme', 'globex', 'initech'];

/** A random slot state for `slotKey` (any class, free or busy, online or not, with or without an estimate). */
function randomState(rng: Rng, slotKey: string, nowMs: number): SlotState {
  const [target, platform] = rng.pick(CLASSES);
  const s: SlotState = { slotKey, target, platform, installedAppVersionId: rng.next() < 0.2 ? null : rng.pick(VERSIONS), free: rng.next() < 0.4, online: rng.next() < 0.85 };
  if (target === 'browserstack') s.cloudAccount = rng.pick(['bs:a', 'bs:b']);
  if (!s.free) {
    if (rng.next() < 0.8) s.runningAppVersionId = rng.pick(VERSIONS);
    if (rng.next() < 0.8) s.runningOrgId = rng.pick(ORGS);
    if (rng.next() < 0.8) s.busyUntilMs = nowMs + rng.int(-300, 300) * 1000;
    else if (rng.next() < 0.5) s.busyUntilMs = null;
  }
  return s;
}

/** A state without its undefined fields (the index keeps the copy it has when only those differ). */
const plain = (s: SlotState) => Object.fromEntries(Object.entries(s).filter(([, v]) => v !== undefined));

/** Everything the index says, as plain data, read through its public surface. */
function snapshot(index: SlotIndex) {
  const count = (m: ReadonlyMap<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : 1)));
  return {
    size: index.size,
    order: index.states().map((s) => s.slotKey),
    states: index.states().map(plain),
    runningByAccount: count(index.runningByAccount),
    classes: index.classes().map((c) => ({
      classKey: c.classKey,
      records: c.records.map((r) => r.state.slotKey),
      positions: c.records.map((r, i) => r.pos === i && r.slots === c),
      online: c.online,
      free: c.free.map((r) => r.state.slotKey),
      builds: [...c.builds.values()]
        .map((b) => ({ build: b.appVersionId, members: b.members.map((r) => r.state.slotKey), own: b.slots === c && b.members.every((r) => r.build === b) }))
        .sort((a, b) => String(a.build).localeCompare(String(b.build))),
      runningByOrg: count(c.runningByOrg),
      onlineByAccount: count(c.onlineByAccount),
      columns: c.records.map((r, i) => [
        c.columns.buildId[i] === (r.build?.id ?? -1),
        c.columns.account[i] === (r.state.cloudAccount === undefined ? -1 : index.accountIds.get(r.state.cloudAccount)),
        c.columns.free[i],
        c.columns.busyUntilMs[i],
      ]),
    })),
  };
}

/** What the index should hold for `states` (in order), computed directly from them. */
function expected(states: readonly SlotState[]) {
  const count = (xs: string[]) => {
    const m: Record<string, number> = {};
    for (const x of xs.sort()) m[x] = (m[x] ?? 0) + 1;
    return m;
  };
  const buildOf = (s: SlotState) => (s.free ? s.installedAppVersionId : (s.runningAppVersionId ?? s.installedAppVersionId));
  const keys = [...new Set(states.map((s) => classKeyOf(s)))];
  return {
    size: states.length,
    order: states.map((s) => s.slotKey),
    states: states.map(plain),
    runningByAccount: count(states.filter((s) => !s.free && s.cloudAccount !== undefined).map((s) => s.cloudAccount!)),
    classes: keys.map((classKey) => {
      const of = states.filter((s) => classKeyOf(s) === classKey);
      const online = of.filter((s) => s.online);
      const builds = [...new Set(online.map(buildOf))];
      return {
        classKey,
        records: of.map((s) => s.slotKey),
        positions: of.map(() => true),
        online: online.length,
        free: online.filter((s) => s.free).map((s) => s.slotKey),
        builds: builds
          .map((b) => ({ build: b, members: online.filter((s) => buildOf(s) === b).map((s) => s.slotKey), own: true }))
          .sort((a, b) => String(a.build).localeCompare(String(b.build))),
        runningByOrg: count(online.filter((s) => !s.free && s.runningOrgId).map((s) => s.runningOrgId!)),
        onlineByAccount: count(online.filter((s) => s.cloudAccount !== undefined).map((s) => s.cloudAccount!)),
        columns: of.map((s) => [true, true, s.free ? 1 : 0, s.free ? 0 : (s.busyUntilMs ?? NaN)]),
      };
    }),
  };
}

test('after random sets and deletes, the index equals a recomputation from its slots, and an index built from scratch', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const rng = new Rng(seed);
    const index = new SlotIndex();
    // The model: a Map keeps first-insertion order and gives it up on delete, as the index does.
    const model = new Map<string, SlotState>();
    const keys = Array.from({ length: rng.int(1, 40) }, (_, i) => `agent-${i % 4}/s${i}`);
    for (let step = 0; step < 300; step++) {
      const key = rng.pick(keys);
      const r = rng.next();
      if (r < 0.1) {
        assert.is(index.delete(key), model.delete(key));
      } else if (r < 0.5 && model.has(key)) {
        // A small change to the slot's current state (what a live slot mostly does).
        const s = { ...model.get(key)! };
        const c = rng.int(0, 4);
        if (c === 0) Object.assign(s, { free: true, runningOrgId: null, runningAppVersionId: null, busyUntilMs: null });
        else if (c === 1) Object.assign(s, { free: false, runningOrgId: rng.pick(ORGS), runningAppVersionId: rng.pick(VERSIONS), busyUntilMs: 1000 * rng.int(0, 100) });
        else if (c === 2) s.online = !s.online;
        else if (c === 3) s.installedAppVersionId = rng.pick(VERSIONS);
        else s.busyUntilMs = s.free ? s.busyUntilMs : 1000 * rng.int(0, 100);
        index.set(s);
        model.set(key, s);
      } else {
        const s = randomState(rng, key, 1_000_000);
        index.set(s);
        model.set(key, s);
      }
      if (step % 10 === 9 || step === 299) {
        const want = expected([...model.values()]);
        assert.equal(snapshot(index), want, `seed ${seed}, step ${step}`);
        assert.equal(snapshot(SlotIndex.of(model.values())), want, `seed ${seed}, step ${step}: from scratch`);
      }
    }
    // Live build groups have distinct ids below the limit.
    const ids = index.classes().flatMap((c) => [...c.builds.values()].map((b) => b.id));
    assert.is(new Set(ids).size, ids.length);
    assert.ok(ids.every((id) => id >= 0 && id < index.buildIdLimit));
  }
});

test('the index copies what it is given and ignores a repeated state', () => {
  const s: SlotState = { slotKey: 'a/1', target: 'emulator', platform: 'android', installedAppVersionId: 'A', free: true, online: true };
  const index = SlotIndex.of([s]);
  const stored = index.get('a/1');
  s.free = false; // changing the caller's object changes nothing
  assert.is(index.classOf('emulator/android')!.free.length, 1);
  index.set({ ...stored! });
  assert.is(index.get('a/1'), stored, 'the same state again keeps the stored copy');
  assert.throws(() => SlotIndex.of([stored!, stored!]), /given twice/);
});

/** A random fleet and queue, changed step by step: each round given the long-lived index and the same slots as an array must agree. */
test('rounds and explanations with the long-lived index equal those with the slots as an array', () => {
  let rounds = 0;
  let decisions = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const rng = new Rng(1000 + seed);
    let now = 50_000_000;
    const versions = Array.from({ length: rng.int(3, 30) }, (_, i) => ({ id: `v${i}`, orgs: rng.next() < 0.15 ? [rng.pick(ORGS), rng.pick(ORGS)] : [rng.pick(ORGS)], cls: rng.pick(CLASSES) }));
    const policy: Partial<SchedulerPolicy> = {
      orgWeights: { acme: 2 },
      cloudCaps: { 'bs:a': rng.int(0, 6), 'bs:b': rng.int(1, 10) },
      ...(rng.next() < 0.3 ? { agingBoundMs: rng.int(60, 600) * 1000 } : {}),
      ...(rng.next() < 0.2 ? { spreading: false } : {}),
    };
    const slots: SlotState[] = Array.from({ length: rng.int(2, 120) }, (_, i) => {
      const s = randomState(rng, `agent-${i % 7}/s${i}`, now);
      if (s.installedAppVersionId !== null) s.installedAppVersionId = rng.pick(versions).id;
      if (s.runningAppVersionId) s.runningAppVersionId = rng.pick(versions).id;
      return s;
    });
    const index = SlotIndex.of(slots);
    const queues = new JobQueues();
    let seq = 0;
    const newJob = (submittedAtMs: number): QueuedJob => {
      const v = rng.pick(versions);
      const j: QueuedJob = {
        jobId: `j${String(seq++).padStart(7, '0')}`,
        orgId: rng.pick(v.orgs),
        appVersionId: v.id,
        priority: rng.next() < 0.7 ? 5 : rng.int(1, 10),
        target: v.cls[0],
        platform: v.cls[1],
        submittedAtMs,
        avoidSlots: rng.next() < 0.05 ? [rng.pick(slots).slotKey] : [],
      };
      if (rng.next() < 0.9) j.expectedDurationMs = rng.int(20, 120) * 1000;
      return j;
    };
    for (let i = 0, n = rng.int(0, 400); i < n; i++) queues.add(newJob(now - rng.int(0, 3600) * 1000));
    for (let step = 0; step < 80; step++) {
      for (let k = rng.int(0, 4); k > 0; k--) {
        const s = rng.pick(slots);
        const r = rng.next();
        if (r < 0.35) Object.assign(s, { free: true, runningAppVersionId: null, runningOrgId: null, busyUntilMs: null });
        else if (r < 0.45) s.online = !s.online;
        else if (r < 0.55) s.installedAppVersionId = rng.next() < 0.2 ? null : rng.pick(versions).id;
        else if (r < 0.6) s.busyUntilMs = s.free ? null : now + rng.int(-100, 200) * 1000;
        else queues.add(newJob(now));
        index.set(s);
      }
      now += rng.int(0, 40) * 1000;
      const withIndex = scheduleRound({ queues, slots: index, nowMs: now, policy });
      const withArray = scheduleRound({ queues, slots, nowMs: now, policy });
      assert.equal(withIndex, withArray, `seed ${seed}, step ${step}`);
      rounds++;
      decisions += withIndex.decisions.length;
      const queued = [...queues.all()];
      if (queued.length > 0) {
        const job = rng.pick(queued);
        assert.equal(explainWaiting(job, { queues, slots: index, nowMs: now, policy }), explainWaiting(job, { queues, slots, nowMs: now, policy }));
      }
      for (const d of withIndex.decisions) {
        const j = queues.remove(d.jobId)!;
        const s = slots.find((x) => x.slotKey === d.slotKey)!;
        Object.assign(s, { free: false, installedAppVersionId: j.appVersionId, runningAppVersionId: j.appVersionId, runningOrgId: j.orgId, busyUntilMs: now + (j.expectedDurationMs ?? 60_000) });
        index.set(s);
      }
    }
  }
  // The comparison is not vacuous: the rounds decided things.
  assert.ok(decisions > 100, `${decisions} decisions in ${rounds} rounds`);
});

test.run();
