/**
 * The round's view of the fleet: per slot class, the free slots, each app version's backlog and the
 * slots on it (as sums: count, remaining busy time), running jobs per org and per cloud account, and
 * the class's plan horizon. Built every round (the scheduler keeps no state between rounds) from the
 * queue index's lanes and the slot index's counts and lists, plus one pass over the online slots of
 * the classes with queued work for what depends on the time; the round then updates this private
 * copy as it decides, never the input. Busy slots are folded into sums, not objects, so a round over
 * 5,000 slots allocates little.
 */
import type { ClassLanes, JobQueues, Lane } from './job-queues.js';
import { holdBoundMs } from './policy.js';
import type { BuildSlots, ClassSlots, SlotIndex, SlotRecord } from './slot-index.js';
import type { SchedulerPolicy, SlotState } from './types.js';

/** A free slot as the round sees it (updated when the round gives it a job). */
export interface SlotView {
  readonly state: Readonly<SlotState>;
  readonly classKey: string;
  /** Its place in the slot index's order. */
  readonly seq: number;
  /** The build the slot has, or will have once the job the round gave it is installed. */
  version: string | null;
  /** When it can take work (epoch ms): now while free. */
  availMs: number;
  free: boolean;
}

export interface VersionView {
  appVersionId: string;
  lanes: readonly Lane[];
  /** Expected work (ms) of its queued jobs in the class not taken yet this round. */
  workMs: number;
  /** Queued jobs in the class not taken yet this round. */
  count: number;
  /** Submit time of its oldest queued job (epoch ms), as the round began (taking jobs does not change it). */
  oldestMs: number;
  /** Slots of the class on this version: running it, or free with it installed. */
  slotCount: number;
  /** Σ over those slots of their remaining busy time (ms). */
  sumRemainingMs: number;
  /** The longest remaining busy time among those slots (ms), as built (the round does not lower it). */
  maxRemainingMs: number;
  /**
   * Those slots (the slot index's group of this build, kept from round to round while it is live),
   * for horizons shorter than some of their remaining times. Meaningful while `slotCount` > 0.
   */
  build: BuildSlots | undefined;
  /** Work the version's slots can do by the class horizon (ms). */
  capacityMs: number;
  /** Mean expected duration of its queued jobs (ms), fixed for the round. */
  meanDurationMs: number;
  /** How much later than an install on a free slot would allow a job of this version may start on one of its own slots (ms). */
  holdBoundMs: number;
  /** Jobs its slots are expected to start by now + install + hold bound: that many of its queued jobs are held for them (see `ClassView.holds`). */
  holdCap: number;
  /** When a hold for its busy slots should be looked at again if no event comes (epoch ms), for the wake-up time (see `ClassView.holds`). */
  nextEndMs: number;
  /** One of its busy slots (the first in index order), for messages. */
  warmSlot: SlotRecord | null;
}

/** The online slots of a class whose build has no queued work in it: the plan's spare slots, as sums. */
export interface SpareSlots {
  count: number;
  /** Σ of their remaining busy times (ms). */
  sumMs: number;
  /** The longest of their remaining busy times (ms). */
  maxMs: number;
}

export interface ClassView {
  readonly classKey: string;
  readonly lanes: ClassLanes | undefined;
  /** All slots of the class, online or not. */
  total: number;
  /** Online slots of the class. */
  online: number;
  /** Online slots per capped cloud account. */
  readonly perAccount: Map<string, number>;
  readonly free: SlotView[];
  /** Versions with queued jobs in the class (do not add or remove entries: the map is kept between rounds). */
  readonly versions: ReadonlyMap<string, VersionView>;
  readonly spare: SpareSlots;
  /** The plan horizon (epoch ms): when the class's backlog and running work can end, installs included. */
  horizonMs: number;
  /**
   * Its versions' hold caps and next ends are computed: true for a class with a free slot (the only
   * classes a round serves), or for every class when the view is built with `holdsFor` 'all'; else
   * they are 0 and Infinity (the plan needs none of them).
   */
  holds: boolean;
  /** Running jobs per org in this class when the round began (busy slots with `runningOrgId`): the slot index's counts, not to be changed. */
  readonly runningByOrg: ReadonlyMap<string, number>;
  /** Jobs the round gave the class's slots so far, per org (null until the first). */
  takenByOrg: Map<string, number> | null;
}

/** An org's running jobs in a class, counting those the round gave it so far. */
export const runningOf = (cls: ClassView, org: string): number => (cls.runningByOrg.get(org) ?? 0) + (cls.takenByOrg?.get(org) ?? 0);

export interface RoundView {
  readonly nowMs: number;
  readonly slots: SlotIndex;
  readonly classes: Map<string, ClassView>;
  /** Free online slots of every class, in the slot index's order (an array of slots: its order). */
  readonly free: SlotView[];
  /** Busy sessions per cloud account (all classes). */
  readonly runningByAccount: Map<string, number>;
}

/**
 * How many queued jobs of `v` a slot free at `availMs` is expected to start by the hold deadline
 * (now + install estimate + hold bound). `known` is false for a busy slot without an end estimate.
 */
export function holdShare(availMs: number, known: boolean, v: VersionView, nowMs: number, installCostMs: number): number {
  if (!known) return 0;
  const slack = nowMs + installCostMs + v.holdBoundMs - availMs;
  return slack < 0 ? 0 : 1 + Math.floor(slack / v.meanDurationMs);
}

/**
 * When an online slot can take work (epoch ms): now while free; a busy one when its estimate says,
 * or (no estimate) half a default job from now, or (overdue by x) x from now: it was that wrong already.
 */
const availOf = (free: number, until: number, nowMs: number, halfJobMs: number): number =>
  free === 1 ? nowMs : until !== until ? nowMs + halfJobMs : until >= nowMs ? until : 2 * nowMs - until;

/** `availOf` of a slot record. */
const availOfRecord = (r: SlotRecord, clock: Clock): number => {
  const cols = r.slots.columns;
  return availOf(cols.free[r.pos]!, cols.busyUntilMs[r.pos]!, clock.nowMs, clock.halfJobMs);
};

/** The round's time and policy, for the rare passes over slots that need them again (short horizons). */
interface Clock {
  nowMs: number;
  halfJobMs: number;
}

/** Work a version's slots can do within `h` ms from now. */
function capacityOf(v: VersionView, h: number, clock: Clock): number {
  if (h >= v.maxRemainingMs) return v.slotCount * h - v.sumRemainingMs;
  // A horizon shorter than some slot's remaining time: slot by slot, in index order.
  let c = 0;
  for (const r of v.build!.members) c += Math.max(0, h - (availOfRecord(r, clock) - clock.nowMs));
  return c;
}

/** Work the spare slots of a class can do within `h` ms from now, when `h` is shorter than some of their remaining times. */
function spareWithin(h: number, slots: ClassSlots, clock: Clock): number {
  let supply = 0;
  for (const r of slots.records) {
    if (r.build === null || worked(r.build)) continue;
    supply += Math.max(0, h - (availOfRecord(r, clock) - clock.nowMs));
  }
  return supply;
}

/**
 * The versions with queued work of the class whose horizon is being found, packed for the bisection
 * (scratch: one class at a time; rounds are synchronous and never nested).
 */
const plan = {
  n: 0,
  at: [] as VersionView[],
  workMs: new Float64Array(0),
  slots: new Float64Array(0),
  sumMs: new Float64Array(0),
  maxMs: new Float64Array(0),
  /** sumMs / slots: its slots' mean remaining time (ms), divided once rather than at every step. */
  meanMs: new Float64Array(0),
};

/** Can the class's queued work end within h ms (see `horizonOf`)? */
function feasibleAt(h: number, cls: ClassView, slots: ClassSlots, scale: number, install: number, clock: Clock): boolean {
  const spare = cls.spare;
  let supply = 0;
  if (h >= spare.maxMs) supply = spare.count * h - spare.sumMs;
  else supply = spareWithin(h, slots, clock);
  supply *= scale;
  let need = 0;
  let pieces = 0;
  const piece = Math.max((h - install) * scale, 1000);
  const { n, workMs, slots: slotCount, sumMs, maxMs, meanMs } = plan;
  const installScaled = install * scale;
  for (let k = 0; k < n; k++) {
    const work = workMs[k]!;
    // The version's capacity within h (see `capacityOf`).
    const all = (h >= maxMs[k]! ? slotCount[k]! * h - sumMs[k]! : capacityOf(plan.at[k]!, h, clock)) * scale;
    if (all < work) {
      need += work - all;
      pieces += Math.ceil((work - all) / piece);
      continue;
    }
    // Fewest slots (of mean remaining time) that finish the work by h; the rest is supply.
    const per = (h - meanMs[k]!) * scale;
    const kept = Math.min(slotCount[k]!, Math.ceil(work / per)) * per;
    supply += all - kept;
    if (kept - work > installScaled) supply += kept - work;
  }
  return supply >= need + pieces * install * scale;
}

/**
 * The horizon of a class (ms from now): the least H by which the class's queued work can end, as a
 * McNaughton-style plan sees it. Each version keeps the fewest of its slots that finish its backlog
 * by H; its other slots, the slots of builds without queued work, and a kept slot's leftover when
 * longer than an install, are the supply. A version its slots cannot finish by H has a deficit,
 * covered by pieces of supply, each piece paying an install. Leftovers shorter than an install are
 * lost, which is why this is later than the plain fluid bound and closer to what a schedule reaches.
 * Feasibility grows with H, so bisection finds it (to within a second).
 */
function horizonOf(cls: ClassView, slots: ClassSlots, policy: SchedulerPolicy, effectiveSlots: number, clock: Clock): number {
  if (plan.workMs.length < cls.versions.size) {
    const size = Math.max(cls.versions.size, 2 * plan.workMs.length);
    plan.workMs = new Float64Array(size);
    plan.slots = new Float64Array(size);
    plan.sumMs = new Float64Array(size);
    plan.maxMs = new Float64Array(size);
    plan.meanMs = new Float64Array(size);
  }
  let n = 0;
  let totalWork = 0;
  let sumRemaining = 0;
  for (const v of cls.versions.values()) {
    sumRemaining += v.sumRemainingMs;
    if (v.count === 0) continue;
    totalWork += v.workMs;
    plan.at[n] = v;
    plan.workMs[n] = v.workMs;
    plan.slots[n] = v.slotCount;
    plan.sumMs[n] = v.sumRemainingMs;
    plan.maxMs[n] = v.maxRemainingMs;
    plan.meanMs[n] = v.sumRemainingMs / v.slotCount;
    n++;
  }
  plan.n = n; // entries past n are left from an earlier class (not truncated: the array keeps its memory)
  if (totalWork <= 0 || effectiveSlots <= 0 || cls.online === 0) return 0;
  sumRemaining += cls.spare.sumMs;
  const scale = effectiveSlots / cls.online;
  const install = policy.installCostMs;
  let hi = (totalWork + sumRemaining) / effectiveSlots + install;
  let lo = 0;
  while (!feasibleAt(hi, cls, slots, scale, install, clock)) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1000) {
    const mid = (lo + hi) / 2;
    if (feasibleAt(mid, cls, slots, scale, install, clock)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Version views are reused from round to round (keyed by the queue index's per-version lane list,
 * which lives as long as the version has queued jobs in the class) to spare the garbage collector:
 * every field is reset when a round builds its view, so nothing carries over between rounds. The
 * map of a class's versions is kept while the class's lanes stay the same (`ClassLanes.revision`).
 */
const versionViews = new WeakMap<readonly Lane[], VersionView>();
const versionMaps = new WeakMap<ClassLanes, { revision: number; versions: Map<string, VersionView> }>();

function versionsOf(lanes: ClassLanes): Map<string, VersionView> {
  const cached = versionMaps.get(lanes);
  if (cached && cached.revision === lanes.revision) return cached.versions;
  const versions = new Map<string, VersionView>();
  for (const [version, vl] of lanes.byVersion) {
    let v = versionViews.get(vl);
    if (!v) {
      v = {
        appVersionId: version,
        lanes: vl,
        workMs: 0,
        count: 0,
        oldestMs: Infinity,
        slotCount: 0,
        sumRemainingMs: 0,
        maxRemainingMs: 0,
        build: undefined,
        capacityMs: 0,
        meanDurationMs: 0,
        holdBoundMs: 0,
        holdCap: 0,
        nextEndMs: Infinity,
        warmSlot: null,
      };
      versionViews.set(vl, v);
    }
    versions.set(version, v);
  }
  versionMaps.set(lanes, { revision: lanes.revision, versions });
  return versions;
}

const NO_VERSIONS: ReadonlyMap<string, VersionView> = new Map();

function newClass(key: string, queues: JobQueues, runningByOrg: ReadonlyMap<string, number>, nowMs: number): ClassView {
  const lanes = queues.lanesOf(key);
  return {
    classKey: key,
    lanes,
    total: 0,
    online: 0,
    perAccount: new Map(),
    free: [],
    versions: lanes ? versionsOf(lanes) : NO_VERSIONS,
    spare: { count: 0, sumMs: 0, maxMs: 0 },
    horizonMs: nowMs,
    holds: false,
    runningByOrg,
    takenByOrg: null,
  };
}

/**
 * Scratch for a round's pass over the slots (rounds are synchronous and never nested): per build
 * group id, the position k of its version in the class's version list (-1: none); per version, its
 * inputs and sums in one stretch of 8 numbers from k * 8 (one cache line), so the pass reads and
 * writes little memory.
 */
const pass = {
  versionAt: new Int32Array(0),
  data: new Float64Array(0),
};
/** Offsets in a version's stretch of `pass.data`. */
const BOUND = 0; // its hold bound (ms)
const MEAN = 1; // its mean job duration (ms)
const COUNT = 2; // its slots
const SUM = 3; // Σ remaining time (ms)
const MAX = 4; // longest remaining time (ms)
const HOLD = 5; // hold cap
const NEXT = 6; // next end to look again at (epoch ms)
const WARM = 7; // index (in the class's records) of its first busy slot; -1: none
const STRIDE = 8;

function reserve(builds: number, versions: number): void {
  if (pass.versionAt.length < builds) {
    const a = new Int32Array(Math.max(builds, 2 * pass.versionAt.length));
    a.fill(-1);
    pass.versionAt = a;
  }
  if (pass.data.length < versions * STRIDE) pass.data = new Float64Array(Math.max(versions, 2 * (pass.data.length / STRIDE)) * STRIDE);
}

/** A class's versions with slots, in order: the first `passCount` entries (scratch, one class at a time; never truncated, so it keeps its memory). */
const passVersions: VersionView[] = [];
let passCount = 0;

/** Is the slot's build one with queued work in the class being built (for `spareWithin`, during the horizon's bisection)? */
const worked = (b: BuildSlots): boolean => pass.versionAt[b.id]! >= 0;

/**
 * Sets the class's version views for this round (backlog, mean duration and hold bound from their
 * lanes; slot sums zero) and puts those with slots into the pass's arrays (positions 0 … passCount - 1),
 * with their build groups. One pass over the versions.
 */
function prepareVersions(cls: ClassView, cs: ClassSlots, policy: SchedulerPolicy): void {
  const { versionAt, data } = pass;
  passCount = 0;
  for (const v of cls.versions.values()) {
    let work = 0;
    let count = 0;
    let oldest = Infinity;
    for (const l of v.lanes) {
      work += l.workMs(policy.defaultJobDurationMs);
      count += l.size;
      if (l.oldestSubmittedAtMs < oldest) oldest = l.oldestSubmittedAtMs;
    }
    const mean = count > 0 ? work / count : policy.defaultJobDurationMs;
    v.oldestMs = oldest;
    v.workMs = work;
    v.count = count;
    v.capacityMs = 0;
    v.meanDurationMs = Math.max(1000, mean);
    v.holdBoundMs = holdBoundMs(policy, mean);
    // The group found last round, while it is still this class's live group of the build; else look it up.
    let b = v.build;
    if (b === undefined || b.slots !== cs || b.members.length === 0) b = v.build = cs.builds.get(v.appVersionId);
    if (!b) {
      // No slot on it: its slot sums stay zero (`storeSums` sets the others').
      v.slotCount = 0;
      v.sumRemainingMs = 0;
      v.maxRemainingMs = 0;
      v.holdCap = 0;
      v.nextEndMs = Infinity;
      v.warmSlot = null;
      continue;
    }
    const k = passCount++;
    passVersions[k] = v;
    versionAt[b.id] = k;
    const o = k * STRIDE;
    data[o + BOUND] = v.holdBoundMs;
    data[o + MEAN] = v.meanDurationMs;
    data[o + COUNT] = 0;
    data[o + SUM] = 0;
    data[o + MAX] = 0;
    data[o + HOLD] = 0;
    data[o + NEXT] = Infinity;
    data[o + WARM] = -1;
  }
}

/**
 * The pass over a class's online slots, in index order: per version (its slot count, Σ and longest
 * remaining time, hold cap, next end, first busy slot) and for the spare slots. Reads only packed
 * columns and typed arrays, and runs the same code for every slot (a path first taken late would
 * send the JIT back to the interpreter for many rounds): `capped` (by account id + 1) is read for all.
 */
function passOverSlots(cs: ClassSlots, spare: SpareSlots, nowMs: number, halfJobMs: number, install: number, capped: Uint8Array, holds: boolean): void {
  const { versionAt, data } = pass;
  const { buildId, busyUntilMs, free, account } = cs.columns;
  const n = cs.records.length;
  let spareCount = 0;
  let spareSum = 0;
  let spareMax = 0;
  for (let i = 0; i < n; i++) {
    const b = buildId[i]!;
    if (b < 0) continue; // offline
    const until = busyUntilMs[i]!;
    const isFree = free[i] === 1;
    const availMs = availOf(free[i]!, until, nowMs, halfJobMs);
    const remaining = availMs - nowMs;
    const atCap = capped[account[i]! + 1] === 1;
    const k = versionAt[b]!;
    if (k < 0) {
      spareCount++;
      spareSum += remaining;
      if (remaining > spareMax) spareMax = remaining;
      continue;
    }
    const o = k * STRIDE;
    data[o + COUNT]++;
    data[o + SUM] += remaining;
    if (remaining > data[o + MAX]!) data[o + MAX] = remaining;
    // Hold share (see `holdShare`): jobs the slot is expected to start by now + install + the version's
    // hold bound. None for a busy slot without an estimate, or a free one whose account is at its cap.
    if (!isFree && data[o + WARM]! < 0) data[o + WARM] = i;
    if (!holds || (isFree ? atCap : until !== until)) continue;
    const slack = nowMs + install + data[o + BOUND]! - availMs;
    if (slack < 0) continue;
    data[o + HOLD] += 1 + Math.floor(slack / data[o + MEAN]!);
    // When to look again if nothing happens (a busy slot): when its estimate runs out, or (already overdue) a mean job later.
    const recheck = isFree ? Infinity : until >= nowMs ? until : nowMs + data[o + MEAN]!;
    if (recheck < data[o + NEXT]!) data[o + NEXT] = recheck;
  }
  spare.count = spareCount;
  spare.sumMs = spareSum;
  spare.maxMs = spareMax;
}

/** Copies the pass's sums into the version views. */
function storeSums(cs: ClassSlots): void {
  const data = pass.data;
  for (let k = 0; k < passCount; k++) {
    const v = passVersions[k]!;
    const o = k * STRIDE;
    v.slotCount = data[o + COUNT]!;
    v.sumRemainingMs = data[o + SUM]!;
    v.maxRemainingMs = data[o + MAX]!;
    v.holdCap = data[o + HOLD]!;
    v.nextEndMs = data[o + NEXT]!;
    const warm = data[o + WARM]!;
    v.warmSlot = warm < 0 ? null : cs.records[warm]!;
  }
}

/**
 * Builds the round's view from the slot index. Counts (slots, online, free, running per org and per
 * cloud account, the slots on each build) come from the index; the time-dependent part (each busy
 * slot's remaining time, hold shares) is one pass over the online slots of each class with queued
 * work, in index order, with no lookup by key. `holdsFor` 'served': hold shares only in classes with
 * a free slot (see `ClassView.holds`). Cost: O(lanes + slots of those classes), plus a bisection over
 * the versions of each class.
 */
export function buildRoundView(queues: JobQueues, slots: SlotIndex, nowMs: number, policy: SchedulerPolicy, holdsFor: 'all' | 'served' = 'all'): RoundView {
  const classes = new Map<string, ClassView>();
  const runningByAccount = new Map(slots.runningByAccount);
  const view: RoundView = { nowMs, slots, classes, free: [], runningByAccount };
  // Accounts already at their cap: their free slots can take nothing, so they hold nothing for anyone.
  // (By account id + 1, as the slot index's `account` column has it: 0 is "no account".)
  const capped = new Uint8Array(slots.accountIds.size + 1);
  for (const cap of Object.keys(policy.cloudCaps)) {
    const id = slots.accountIds.get(cap);
    if (cap && id !== undefined && (runningByAccount.get(cap) ?? 0) >= policy.cloudCaps[cap]!) capped[id + 1] = 1;
  }
  const clock: Clock = { nowMs, halfJobMs: policy.defaultJobDurationMs / 2 };
  const install = policy.installCostMs;
  let freeCount = 0;
  for (const cs of slots.classes()) {
    const cls = newClass(cs.classKey, queues, cs.runningByOrg, nowMs);
    classes.set(cs.classKey, cls);
    cls.total = cs.records.length;
    cls.online = cs.online;
    cls.holds = holdsFor === 'all' || cs.free.length > 0;
    for (const [account, n] of cs.onlineByAccount) if (policy.cloudCaps[account] !== undefined) cls.perAccount.set(account, n);
    for (const r of cs.free) cls.free.push({ state: r.state, classKey: cls.classKey, version: r.state.installedAppVersionId, availMs: nowMs, free: true, seq: r.seq });
    freeCount += cls.free.length;
    if (cls.versions.size === 0) continue;
    // Each version's build group, then one pass over the slots: remaining times, hold shares.
    reserve(slots.buildIdLimit, cls.versions.size);
    prepareVersions(cls, cs, policy);
    passOverSlots(cs, cls.spare, nowMs, clock.halfJobMs, install, capped, cls.holds);
    storeSums(cs);
    // Slots of a capped cloud account count for at most the cap.
    let effective = cls.online;
    for (const [a, n] of cls.perAccount) effective -= n - Math.min(n, Math.max(0, policy.cloudCaps[a]!));
    const h = horizonOf(cls, cs, policy, effective, clock);
    cls.horizonMs = nowMs + h;
    for (const v of cls.versions.values()) v.capacityMs = capacityOf(v, h, clock);
    for (let k = 0; k < passCount; k++) pass.versionAt[passVersions[k]!.build!.id] = -1;
  }
  // Free online slots of every class, in index order.
  for (const cls of classes.values()) for (const s of cls.free) view.free.push(s);
  if (classes.size > 1 && freeCount > 1) view.free.sort((a, b) => a.seq - b.seq);
  return view;
}
