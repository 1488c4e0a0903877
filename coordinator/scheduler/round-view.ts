/**
 * The round's view of the fleet: per slot class, the free slots, each app version's backlog and the
 * slots on it (as sums: count, remaining busy time), running jobs per org and per cloud account, and
 * the class's plan horizon. Built from the input in one pass over slots and one over lanes, every
 * round (the scheduler keeps no state between rounds); the round then updates this private copy as
 * it decides, never the input. Busy slots are folded into sums, not objects, so a round over 5,000
 * slots allocates little.
 */
import { classKeyOf, type ClassLanes, type JobQueues, type Lane } from './job-queues.js';
import { holdBoundMs } from './policy.js';
import type { SchedulerPolicy, SlotState } from './types.js';

/** A free slot as the round sees it (updated when the round gives it a job). */
export interface SlotView {
  readonly state: SlotState;
  readonly classKey: string;
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
  /** Slots of the class on this version: running it, or free with it installed. */
  slotCount: number;
  /** Σ over those slots of their remaining busy time (ms). */
  sumRemainingMs: number;
  /** The longest remaining busy time among those slots (ms), as built (the round does not lower it). */
  maxRemainingMs: number;
  /** Remaining busy time of each of those slots at build time (ms), the first `remainingCount` entries: for horizons shorter than some of them. */
  remainingMs: number[];
  remainingCount: number;
  /** Work the version's slots can do by the class horizon (ms). */
  capacityMs: number;
  /** Mean expected duration of its queued jobs (ms), fixed for the round. */
  meanDurationMs: number;
  /** How much later than an install on a free slot would allow a job of this version may start on one of its own slots (ms). */
  holdBoundMs: number;
  /** Jobs its slots are expected to start by now + install + hold bound: that many of its queued jobs are held for them. */
  holdCap: number;
  /** When a hold for its busy slots should be looked at again if no event comes (epoch ms), for the wake-up time. */
  nextEndMs: number;
  /** One of its busy slots, for messages. */
  warmSlotKey: string | null;
  /** Busy slots on it running a job of its (single) lane's org: folded into the class's per-org counts after the slot pass. */
  runningOwnOrg: number;
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
  /** Versions with queued jobs in the class. */
  readonly versions: Map<string, VersionView>;
  /** Remaining busy time of the online slots whose build has no queued work in the class (ms): the plan's spare slots. */
  readonly spareRemainingMs: number[];
  /** The plan horizon (epoch ms): when the class's backlog and running work can end, installs included. */
  horizonMs: number;
  /** Running jobs per org in this class (busy slots with `runningOrgId`). */
  readonly runningByOrg: Map<string, number>;
}

export interface RoundView {
  readonly nowMs: number;
  readonly slots: readonly SlotState[];
  readonly classes: Map<string, ClassView>;
  /** Free online slots of every class, in input order. */
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

/** Work a version's slots can do within `h` ms from now. */
function capacityOf(v: VersionView, h: number): number {
  if (h >= v.maxRemainingMs) return v.slotCount * h - v.sumRemainingMs;
  let c = 0;
  for (let i = 0; i < v.remainingCount; i++) c += Math.max(0, h - v.remainingMs[i]!);
  return c;
}

/** Can the class's queued work end within h ms (see `horizonOf`)? */
function feasibleAt(h: number, cls: ClassView, versions: readonly VersionView[], spare: { count: number; sum: number; max: number }, scale: number, install: number): boolean {
    let supply = 0;
    if (h >= spare.max) supply = spare.count * h - spare.sum;
    else for (const r of cls.spareRemainingMs) supply += Math.max(0, h - r);
    supply *= scale;
    let need = 0;
    let pieces = 0;
    const piece = Math.max((h - install) * scale, 1000);
    for (const v of versions) {
      const all = capacityOf(v, h) * scale;
      if (all < v.workMs) {
        need += v.workMs - all;
        pieces += Math.ceil((v.workMs - all) / piece);
        continue;
      }
      // Fewest slots (of mean remaining time) that finish the work by h; the rest is supply.
      const per = (h - v.sumRemainingMs / v.slotCount) * scale;
      const kept = Math.min(v.slotCount, Math.ceil(v.workMs / per)) * per;
      supply += all - kept;
      if (kept - v.workMs > install * scale) supply += kept - v.workMs;
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
function horizonOf(cls: ClassView, policy: SchedulerPolicy, effectiveSlots: number): number {
  const versions: VersionView[] = [];
  let totalWork = 0;
  let sumRemaining = 0;
  for (const v of cls.versions.values()) {
    sumRemaining += v.sumRemainingMs;
    if (v.count === 0) continue;
    totalWork += v.workMs;
    versions.push(v);
  }
  if (totalWork <= 0 || effectiveSlots <= 0 || cls.online === 0) return 0;
  let spareSum = 0;
  let spareMax = 0;
  for (const r of cls.spareRemainingMs) {
    spareSum += r;
    if (r > spareMax) spareMax = r;
  }
  sumRemaining += spareSum;
  const spareCount = cls.spareRemainingMs.length;
  const scale = effectiveSlots / cls.online;
  const install = policy.installCostMs;
  const spare = { count: spareCount, sum: spareSum, max: spareMax };
  const feasible = (h: number): boolean => feasibleAt(h, cls, versions, spare, scale, install);
  let hi = (totalWork + sumRemaining) / effectiveSlots + install;
  let lo = 0;
  while (!feasible(hi)) {
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1000) {
    const mid = (lo + hi) / 2;
    if (feasible(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Version views are reused from round to round (keyed by the queue index's per-version lane list,
 * which lives as long as the version has queued jobs in the class) to spare the garbage collector:
 * every field is reset when a round builds its view, so nothing carries over between rounds.
 */
const versionViews = new WeakMap<readonly Lane[], VersionView>();

function newClass(key: string, queues: JobQueues, nowMs: number, policy: SchedulerPolicy): ClassView {
  const lanes = queues.lanesOf(key);
  const c: ClassView = {
    classKey: key,
    lanes,
    total: 0,
    online: 0,
    perAccount: new Map(),
    free: [],
    versions: new Map(),
    spareRemainingMs: [],
    horizonMs: nowMs,
    runningByOrg: new Map(),
  };
  if (lanes) {
    for (const [version, vl] of lanes.byVersion) {
      let work = 0;
      let count = 0;
      for (const l of vl) {
        work += l.workMs(policy.defaultJobDurationMs);
        count += l.size;
      }
      const mean = count > 0 ? work / count : policy.defaultJobDurationMs;
      let v = versionViews.get(vl);
      if (!v) {
        v = {
          appVersionId: version,
          lanes: vl,
          workMs: 0,
          count: 0,
          slotCount: 0,
          sumRemainingMs: 0,
          maxRemainingMs: 0,
          remainingMs: [],
          remainingCount: 0,
          capacityMs: 0,
          meanDurationMs: 0,
          holdBoundMs: 0,
          holdCap: 0,
          nextEndMs: Infinity,
          warmSlotKey: null,
          runningOwnOrg: 0,
        };
        versionViews.set(vl, v);
      }
      v.appVersionId = version;
      v.workMs = work;
      v.count = count;
      v.slotCount = 0;
      v.sumRemainingMs = 0;
      v.maxRemainingMs = 0;
      v.remainingCount = 0;
      v.capacityMs = 0;
      v.meanDurationMs = Math.max(1000, mean);
      v.holdBoundMs = holdBoundMs(policy, mean);
      v.holdCap = 0;
      v.nextEndMs = Infinity;
      v.warmSlotKey = null;
      v.runningOwnOrg = 0;
      c.versions.set(version, v);
    }
  }
  return c;
}

/** Builds the round's view. Cost: O(slots + lanes), plus a bisection over the versions of each class. */
export function buildRoundView(queues: JobQueues, slots: readonly SlotState[], nowMs: number, policy: SchedulerPolicy): RoundView {
  const classes = new Map<string, ClassView>();
  const runningByAccount = new Map<string, number>();
  const view: RoundView = { nowMs, slots, classes, free: [], runningByAccount };
  // Accounts already at their cap: their free slots can take nothing, so they hold nothing for anyone.
  const atCap = new Set<string>();
  for (const cap of Object.keys(policy.cloudCaps)) {
    if (cap) {
      let running = 0;
      for (const st of slots) if (st.cloudAccount === cap && !st.free) running++;
      if (running >= policy.cloudCaps[cap]!) atCap.add(cap);
    }
  }
  let last: ClassView | undefined;
  let lastTarget = '';
  let lastPlatform = '';
  for (const state of slots) {
    let cls: ClassView;
    if (last && state.target === lastTarget && state.platform === lastPlatform) cls = last;
    else {
      const key = classKeyOf(state);
      let c = classes.get(key);
      if (!c) classes.set(key, (c = newClass(key, queues, nowMs, policy)));
      cls = last = c;
      lastTarget = state.target;
      lastPlatform = state.platform;
    }
    cls.total++;
    const account = state.cloudAccount;
    if (account !== undefined && !state.free) runningByAccount.set(account, (runningByAccount.get(account) ?? 0) + 1);
    if (!state.online) continue;
    cls.online++;
    if (account !== undefined && policy.cloudCaps[account] !== undefined) cls.perAccount.set(account, (cls.perAccount.get(account) ?? 0) + 1);
    let version: string | null;
    let availMs: number;
    let known: boolean;
    if (state.free) {
      version = state.installedAppVersionId;
      availMs = nowMs;
      known = true;
      const s: SlotView = { state, classKey: cls.classKey, version, availMs, free: true };
      cls.free.push(s);
      view.free.push(s);
    } else {
      // No estimate: assume half a default job. Overdue by x: assume it needs x more (it was that wrong already).
      const until = state.busyUntilMs;
      known = until !== undefined && until !== null;
      availMs = !known ? nowMs + policy.defaultJobDurationMs / 2 : until! >= nowMs ? until! : 2 * nowMs - until!;
      version = state.runningAppVersionId ?? state.installedAppVersionId;
    }
    const v = version === null ? undefined : cls.versions.get(version);
    if (!state.free) {
      const org = state.runningOrgId;
      // Most running jobs belong to the org of their version's only lane: count those on the version (no map update per slot).
      if (v && v.lanes.length === 1 && v.lanes[0]!.orgId === org) v.runningOwnOrg++;
      else if (org) cls.runningByOrg.set(org, (cls.runningByOrg.get(org) ?? 0) + 1);
    }
    const remaining = availMs - nowMs;
    if (!v) {
      cls.spareRemainingMs.push(remaining);
      continue;
    }
    v.slotCount++;
    v.sumRemainingMs += remaining;
    if (remaining > v.maxRemainingMs) v.maxRemainingMs = remaining;
    v.remainingMs[v.remainingCount++] = remaining;
    const share = state.free && account !== undefined && atCap.has(account) ? 0 : holdShare(availMs, known, v, nowMs, policy.installCostMs);
    v.holdCap += share;
    if (!state.free) {
      v.warmSlotKey ??= state.slotKey;
      if (share > 0) {
        // When to look again if nothing happens: when its estimate runs out, or (already overdue) a mean job later.
        const recheck = state.busyUntilMs! >= nowMs ? state.busyUntilMs! : nowMs + v.meanDurationMs;
        if (recheck < v.nextEndMs) v.nextEndMs = recheck;
      }
    }
  }

  for (const cls of classes.values()) {
    for (const v of cls.versions.values()) {
      if (v.runningOwnOrg > 0) {
        const org = v.lanes[0]!.orgId;
        cls.runningByOrg.set(org, (cls.runningByOrg.get(org) ?? 0) + v.runningOwnOrg);
      }
    }
    if (cls.versions.size === 0) continue;
    // Slots of a capped cloud account count for at most the cap.
    let effective = cls.online;
    for (const [a, n] of cls.perAccount) effective -= n - Math.min(n, Math.max(0, policy.cloudCaps[a]!));
    const h = horizonOf(cls, policy, effective);
    cls.horizonMs = nowMs + h;
    for (const v of cls.versions.values()) v.capacityMs = capacityOf(v, h);
  }
  return view;
}
