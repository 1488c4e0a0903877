/**
 * One scheduling round (pure: queues, slots, the time and the policy in; decisions out; no I/O, no
 * timers, no randomness, no state kept between rounds: the plan is recomputed every round). Each
 * free, online slot, in turn (warm slots with work of their own build first, then empty slots, then
 * slots whose build has no work left):
 *
 *  1. cloud cap: a slot whose cloud account already runs its cap of sessions takes nothing;
 *  2. bounded waiting: if jobs queued longer than `agingBoundMs` fit the slot, it takes one of them
 *     (steps 5–6 choose which; fair share and priority do not apply to them);
 *  3. fair share: among orgs with work the slot may take, the org furthest below its weighted share
 *     of the class gets it; the org of the slot's own build keeps it unless another org is at
 *     least one slot further below its share;
 *  4. priority within the org: only its highest-priority work is considered;
 *  5. affinity: the slot's own build if it has such work — unless spreading releases the slot: its
 *     build finishes by the plan's horizon without it, and another version cannot;
 *  6. otherwise an install: the version furthest behind the plan (latest start first), else (no
 *     version behind) the one with the most work per slot (aged jobs: the oldest).
 *
 * Bounded delay: a job is held for its version's warm slots (free, or busy with an end estimate)
 * while they are expected to start it no later than min(holdFactor × (its expected duration +
 * installCostMs), maxHoldMs) after an install on another slot would; a slot without the build skips
 * held jobs. A free slot thus stays empty only when every job it could take is held (or its cloud
 * cap is reached): it never idles while a job it could take would wait past that bound.
 *
 * Spreading: a version may also take a slot without its build when the plan says it cannot finish
 * by the horizon and it has more than an install plus a job of queued work per slot it has.
 */
import type { Lane } from './job-queues.js';
import { Picks, type JobFilter } from './picks.js';
import { durationOf, resolvePolicy, weightOf } from './policy.js';
import { buildRoundView, holdShare, runningOf, type ClassView, type RoundView, type SlotView, type VersionView } from './round-view.js';
import { SlotIndex } from './slot-index.js';
import type { ClassPlan, Decision, DecisionRule, IdleSlot, QueuedJob, SchedulerInput, SchedulerPolicy, SchedulerRound, SlotState } from './types.js';

const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/** How many deficits a round reports per class. */
const PLAN_DEFICITS = 10;

interface Candidate {
  lane: Lane;
  job: QueuedJob;
  version: VersionView;
  /** The slot has the job's build. */
  affinity: boolean;
}

interface AgedEntry {
  lane: Lane;
  version: VersionView;
  job: QueuedJob | undefined;
  /** `job.priority` (read from the lane while `job` is the lane's oldest: no visit to the job). */
  priority: number;
  /** Jobs of its version that go before `job` (those of a higher priority: it is the oldest of its own); -1 until needed. */
  ahead: number;
}

/**
 * Scratch memory for candidates, reused by every slot of every round (rounds are synchronous and
 * never nested), so a round over many lanes allocates almost nothing: no information carries over.
 */
const scratch = {
  pool: [] as Candidate[],
  used: 0,
  list: [] as Candidate[],
  chosen: [] as Candidate[],
  /** Aged entries, and the lists of them and of open lanes per class served (reset at the start of each round). */
  aged: [] as AgedEntry[],
  agedUsed: 0,
  lists: [] as Array<ScratchList<unknown>>,
  listsUsed: 0,
};

/** A list in scratch memory: its first `n` items (never truncated, so it keeps its memory from round to round). */
class ScratchList<T> {
  items: T[] = [];
  n = 0;
  push(x: T): void {
    this.items[this.n++] = x;
  }
}

/** An empty list from the scratch memory, for this round only. */
function scratchList<T>(): ScratchList<T> {
  let l = scratch.lists[scratch.listsUsed] as ScratchList<T> | undefined;
  if (!l) scratch.lists.push((l = new ScratchList<T>()));
  scratch.listsUsed++;
  l.n = 0;
  return l;
}

function candidate(lane: Lane, job: QueuedJob, version: VersionView, affinity: boolean): Candidate {
  let c = scratch.pool[scratch.used];
  if (!c) scratch.pool.push((c = { lane, job, version, affinity }));
  else {
    c.lane = lane;
    c.job = job;
    c.version = version;
    c.affinity = affinity;
  }
  scratch.used++;
  return c;
}

/** The jobs one free slot may take: allowed on it (avoid-slot rule), and past the aging bound when `aged`. */
class SlotFilter implements JobFilter {
  slot!: SlotView;
  cls!: ClassView;
  aged = false;
  cutoffMs = 0;

  constructor(readonly round: Round) {}

  accepts(job: QueuedJob): boolean {
    if (this.aged && job.submittedAtMs > this.cutoffMs) return false;
    return this.round.allowed(job, this.slot, this.cls);
  }
}

/** The round: decisions, slots left empty with why, and when to look again. */
class Round {
  readonly filter: SlotFilter = new SlotFilter(this);
  readonly decisions: Decision[] = [];
  readonly idle: IdleSlot[] = [];
  /** Some free slot stays empty because its jobs are held (then the round asks to be woken). */
  held = false;
  readonly picks = new Picks();
  wakeAtMs = Infinity;
  readonly #alternatives = new Map<string, boolean>();
  readonly #onlineKeys = new Map<ClassView, Set<string>>();
  readonly #aged = new Map<ClassView, ScratchList<AgedEntry>>();
  readonly #openLanes = new Map<ClassView, { lanes: ScratchList<Lane>; held?: VersionView }>();
  readonly #opened = new Set<VersionView>();

  constructor(
    readonly view: RoundView,
    readonly policy: SchedulerPolicy,
  ) {}

  get now(): number {
    return this.view.nowMs;
  }

  /** A job avoids a slot where an earlier attempt broke while another online slot of its class could serve it. */
  allowed(job: QueuedJob, slot: SlotView, cls: ClassView): boolean {
    if (job.avoidSlots.length === 0 || !job.avoidSlots.includes(slot.state.slotKey)) return true;
    let alt = this.#alternatives.get(job.jobId);
    if (alt === undefined) {
      let keys = this.#onlineKeys.get(cls);
      if (!keys) {
        keys = new Set();
        for (const r of this.view.slots.classOf(cls.classKey)?.records ?? []) if (r.state.online) keys.add(r.state.slotKey);
        this.#onlineKeys.set(cls, keys);
      }
      let avoided = 0;
      for (const k of new Set(job.avoidSlots)) if (keys.has(k)) avoided++;
      alt = cls.online > avoided;
      this.#alternatives.set(job.jobId, alt);
    }
    return !alt;
  }

  /** An org's running jobs in the class (plus `extra`) per unit of weight. */
  load(cls: ClassView, org: string, extra: number): number {
    return (runningOf(cls, org) + extra) / weightOf(this.policy, org);
  }

  /** Remaining work per slot if the version got one more slot. */
  perSlot(v: VersionView): number {
    return (v.workMs + v.sumRemainingMs) / (v.slotCount + 1);
  }

  deficit(v: VersionView): number {
    return v.workMs - v.capacityMs;
  }

  /** Latest time a new slot must start on `v` for it to finish by the horizon. */
  latestStart(v: VersionView, cls: ClassView): number {
    return cls.horizonMs - this.deficit(v) - this.policy.installCostMs;
  }

  /** May a slot without this build install it? Not while all its jobs are held for its warm slots, unless spreading says so. */
  eligible(v: VersionView): boolean {
    if (v.count > v.holdCap) return true;
    return this.policy.spreading && v.slotCount > 0 && this.deficit(v) > 0 && v.workMs / v.slotCount > this.policy.installCostMs + v.meanDurationMs;
  }

  /** Submit time of a version's oldest queued job. */
  oldestOf(v: VersionView): number {
    return v.oldestMs;
  }

  /** Which of two versions behind the plan gets a slot first: the older backlog when they did not arrive together, else the latest start. */
  before(a: Candidate, b: Candidate, cls: ClassView): boolean {
    const window = this.policy.burstWindowMs;
    const ta = this.oldestOf(a.version);
    const tb = this.oldestOf(b.version);
    if (Math.abs(ta - tb) > window) return ta < tb;
    const la = this.latestStart(a.version, cls);
    const lb = this.latestStart(b.version, cls);
    return la < lb || (la === lb && a.job.submittedAtMs < b.job.submittedAtMs);
  }

  /** A retried job that avoids one of its version's warm slots is not held for them. */
  avoidsWarm(job: QueuedJob, v: VersionView, cls: ClassView): boolean {
    if (job.avoidSlots.length === 0) return false;
    // The online slots of the class on its build.
    for (const r of this.view.slots.classOf(cls.classKey)?.builds.get(v.appVersionId)?.members ?? []) if (job.avoidSlots.includes(r.state.slotKey)) return true;
    return false;
  }

  /**
   * Per lane of the class with a job past the aging bound: its oldest such job not taken yet, and how
   * many jobs of its version go before it (those of a higher priority: it is the oldest of its own).
   * Computed once per round; an entry is refreshed when its job is taken.
   */
  agedEntries(cls: ClassView): ScratchList<AgedEntry> {
    let aged = this.#aged.get(cls);
    if (!aged) {
      aged = scratchList<AgedEntry>();
      const cutoff = this.now - this.policy.agingBoundMs;
      for (const lane of cls.lanes!.lanes) {
        if (lane.oldestSubmittedAtMs > cutoff) continue;
        // Entries are scratch memory, reused from round to round: every field is set here.
        const version = cls.versions.get(lane.appVersionId)!;
        let e = scratch.aged[scratch.agedUsed];
        if (!e) scratch.aged.push((e = { lane, version, job: undefined, priority: 0, ahead: -1 }));
        scratch.agedUsed++;
        e.lane = lane;
        e.version = version;
        this.refresh(e, cutoff);
        aged.push(e);
      }
      this.#aged.set(cls, aged);
    }
    return aged;
  }

  /** Points an aged entry at its lane's oldest aged job not taken yet. */
  refresh(e: AgedEntry, cutoffMs: number): void {
    const job = this.picks.oldestOf(e.lane, cutoffMs);
    e.job = job;
    e.priority = job === undefined ? 0 : job === e.lane.oldest() ? e.lane.oldestPriority : job.priority;
    e.ahead = -1;
  }

  /** How many jobs of its version go before an aged entry's job (counted when first needed). */
  ahead(e: AgedEntry): number {
    if (e.ahead < 0) {
      let n = 0;
      for (const lane of e.version.lanes) n += lane.countAbove(e.priority);
      e.ahead = n;
    }
    return e.ahead;
  }

  /** Decides for one free slot; records a decision or why it stays empty. */
  serve(slot: SlotView, cls: ClassView): void {
    if (!cls.holds) throw new Error(`the view of ${cls.classKey} was built without its holds`); // a class with a free slot always has them
    const account = slot.state.cloudAccount;
    const cap = account === undefined ? undefined : this.policy.cloudCaps[account];
    if (cap !== undefined && (this.view.runningByAccount.get(account!) ?? 0) >= cap) {
      if (cls.lanes && cls.lanes.lanes.size > 0) {
        this.idle.push({ slotKey: slot.state.slotKey, code: 'cap_reached', why: `cloud account ${account} runs ${this.view.runningByAccount.get(account!) ?? 0} of its ${cap} sessions` });
      }
      return;
    }
    if (!cls.lanes || cls.lanes.lanes.size === 0) return;
    const aged = this.candidates(slot, cls, true);
    if (aged.list.length > 0) {
      this.choose(slot, cls, aged.list, true);
      return;
    }
    const normal = this.candidates(slot, cls, false);
    if (normal.list.length > 0) {
      this.choose(slot, cls, normal.list, false);
      return;
    }
    const held = normal.held ?? aged.held;
    if (held) {
      if (held.nextEndMs < this.wakeAtMs) this.wakeAtMs = held.nextEndMs;
      this.held = true;
      this.idle.push({
        slotKey: slot.state.slotKey,
        code: 'held_for_affinity',
        why: `the jobs it could take are held for slots that have their build (e.g. version ${held.appVersionId} on ${held.warmSlot?.state.slotKey ?? 'a free slot'})`,
      });
    }
  }

  /** The lanes' jobs this slot may take now (aged ones only, or all), one per lane, and a version whose jobs are all held. */
  candidates(slot: SlotView, cls: ClassView, aged: boolean): { list: Candidate[]; held?: VersionView } {
    const list = scratch.list;
    list.length = 0;
    scratch.used = 0;
    const ok = this.filter;
    ok.slot = slot;
    ok.cls = cls;
    ok.aged = aged;
    ok.cutoffMs = this.now - this.policy.agingBoundMs;
    const tail = cls.horizonMs - this.now < this.policy.tailLongestFirstMs;
    const out: { list: Candidate[]; held?: VersionView } = { list };
    if (aged) {
      const entries = this.agedEntries(cls);
      for (let i = 0; i < entries.n; i++) {
        const e = entries.items[i]!;
        if (e.job && this.picks.taken.size > 0 && this.picks.taken.has(e.job.jobId)) this.refresh(e, ok.cutoffMs);
        if (!e.job) continue;
        // (A lane none of whose jobs avoids a slot needs no look at the job for the avoid-slot rules.)
        const plain = e.lane.avoidingCount === 0;
        const job = plain || this.allowed(e.job, slot, cls) ? e.job : this.picks.oldest(e.lane, ok, ok.cutoffMs);
        if (!job) continue;
        const affinity = e.lane.appVersionId === slot.version;
        // An aged job is held only while its own version's slots will start it within the bound.
        if (!affinity && e.version.holdCap > 0 && this.ahead(e) < e.version.holdCap && (plain || !this.avoidsWarm(job, e.version, cls))) {
          out.held ??= e.version;
          continue;
        }
        out.list.push(candidate(e.lane, tail ? this.picks.longest(e.lane, job, ok) : job, e.version, affinity));
      }
    } else {
      // The slot's own build, then the lanes a slot without their build may take (the others are held).
      const own = slot.version === null ? undefined : cls.versions.get(slot.version);
      if (own) for (const lane of own.lanes) this.consider(lane, slot, cls, tail, out);
      const open = this.openLanes(cls);
      for (let i = 0; i < open.lanes.n; i++) {
        const lane = open.lanes.items[i]!;
        if (lane.appVersionId !== slot.version) this.consider(lane, slot, cls, tail, out);
      }
      out.held ??= open.held;
    }
    return out;
  }

  /** Adds the job of `lane` this slot may take to `out.list`, or notes its version as held. */
  consider(lane: Lane, slot: SlotView, cls: ClassView, tail: boolean, out: { list: Candidate[]; held?: VersionView }): void {
    const ok = this.filter;
    const version = cls.versions.get(lane.appVersionId)!;
    if (version.count === 0) return;
    // A lane none of whose jobs avoids a slot: every job passes the filter (not aged here), so its first untaken job.
    let job = lane.avoidingCount === 0 ? this.picks.firstUntaken(lane) : this.picks.first(lane, ok);
    if (!job) return;
    const affinity = lane.appVersionId === slot.version;
    if (!affinity && !this.eligible(version) && !this.avoidsWarm(job, version, cls)) {
      out.held ??= version;
      return;
    }
    // Near the horizon, longest first among equal-priority jobs of a version (LPT): the last jobs are short.
    if (tail) job = this.picks.longest(lane, job, ok);
    out.list.push(candidate(lane, job, version, affinity));
  }

  /**
   * The lanes of a class that a slot without their build may take at the start of the round (their
   * version is not entirely held, or some job avoids a warm slot), and a held version (computed once
   * per round; versions that open up during the round are added by `take`).
   */
  openLanes(cls: ClassView): { lanes: ScratchList<Lane>; held?: VersionView } {
    let open = this.#openLanes.get(cls);
    if (!open) {
      open = { lanes: scratchList<Lane>() };
      for (const v of cls.versions.values()) {
        if (v.count === 0) continue;
        const eligible = this.eligible(v);
        if (eligible) this.#opened.add(v);
        else if (!open.held || v.nextEndMs < open.held.nextEndMs) open.held = v;
        for (const lane of v.lanes) if (eligible || lane.avoidingCount > 0) open.lanes.push(lane);
      }
      this.#openLanes.set(cls, open);
    }
    return open;
  }

  /** Steps 3–6 over the candidates. */
  choose(slot: SlotView, cls: ClassView, list: readonly Candidate[], aged: boolean): void {
    let mine: readonly Candidate[] = list;
    let rule: DecisionRule | undefined = aged ? 'aged' : undefined;
    let why = aged ? `queued past the aging bound of ${seconds(this.policy.agingBoundMs)}; ` : '';
    let ownBelow: Candidate | undefined;
    if (!aged) {
      // Fair share across orgs.
      const orgs = new Map<string, { priority: number; affinity: boolean }>();
      for (const c of list) {
        const o = orgs.get(c.lane.orgId);
        if (!o) orgs.set(c.lane.orgId, { priority: c.job.priority, affinity: c.affinity });
        else {
          if (c.job.priority > o.priority) o.priority = c.job.priority;
          if (c.affinity) o.affinity = true;
        }
      }
      let fairest: string | undefined;
      let ownOrg: string | undefined;
      for (const [org, o] of orgs) {
        const l = this.load(cls, org, 1);
        if (fairest === undefined || l < this.load(cls, fairest, 1) || (l === this.load(cls, fairest, 1) && org < fairest)) fairest = org;
        if (o.affinity && (ownOrg === undefined || l < this.load(cls, ownOrg, 1))) ownOrg = org;
      }
      let org = fairest!;
      if (ownOrg !== undefined && ownOrg !== fairest && !(this.load(cls, ownOrg, 0) > this.load(cls, fairest!, 1))) org = ownOrg;
      if (orgs.size > 1 && org !== ownOrg) {
        rule = 'fair_share';
        why = `fair share: org ${org} is furthest below its weighted share (${runningOf(cls, org)} running, weight ${weightOf(this.policy, org)}); `;
      }
      // Priority within the org.
      const top = orgs.get(org)!.priority;
      const chosen = scratch.chosen;
      chosen.length = 0;
      for (const c of list) {
        if (c.lane.orgId !== org) continue;
        if (c.job.priority === top) chosen.push(c);
        else if (c.affinity && c.job.priority < top) ownBelow = c;
      }
      mine = chosen;
      if (ownBelow && !rule) {
        rule = 'priority';
        why = `priority ${top} in org ${org} goes before its priority-${ownBelow.job.priority} work on the installed build; `;
      }
    }

    const horizon = seconds(cls.horizonMs - this.now);
    let stay: Candidate | undefined;
    for (const c of mine) if (c.affinity) stay = c;
    if (stay) {
      const release = this.policy.spreading ? this.release(cls, stay, mine) : undefined;
      if (!release) {
        this.take(slot, cls, stay, rule ?? 'affinity', `${why}build ${stay.job.appVersionId} is installed here`);
        return;
      }
      this.take(
        slot,
        cls,
        release,
        rule ?? 'spread',
        `${why}plan: version ${release.job.appVersionId} cannot finish by the horizon (${horizon}) without another slot (${seconds(this.deficit(release.version))} uncovered); ${stay.job.appVersionId} can without this one`,
      );
      return;
    }

    let pick: Candidate | undefined;
    if (this.policy.spreading) {
      for (const c of mine) {
        if (this.deficit(c.version) <= 0) continue;
        if (!pick || this.before(c, pick, cls)) pick = c;
      }
      if (pick) {
        rule ??= 'spread';
        why += `plan: version ${pick.job.appVersionId} has ${seconds(this.deficit(pick.version))} of backlog its ${pick.version.slotCount} slot(s) cannot finish by the horizon (${horizon})`;
      }
    }
    if (!pick && aged) {
      for (const c of mine) if (!pick || c.job.submittedAtMs < pick.job.submittedAtMs || (c.job.submittedAtMs === pick.job.submittedAtMs && c.job.jobId < pick.job.jobId)) pick = c;
      why += 'the oldest';
    }
    if (!pick) {
      let best = -Infinity;
      for (const c of mine) {
        const w = this.perSlot(c.version);
        if (!pick || w > best || (w === best && c.job.submittedAtMs < pick.job.submittedAtMs)) {
          pick = c;
          best = w;
        }
      }
      rule ??= 'longest_backlog';
      why += `version ${pick!.job.appVersionId} has the most work per slot (${seconds(best)})`;
    }
    this.take(slot, cls, pick!, rule!, why);
  }

  /**
   * Spreading: should this slot leave its build (which still has work) for another version? Only
   * when its build finishes by the horizon without it, and a version of the same org and priority
   * that arrived with it (oldest jobs within `burstWindowMs`, or earlier) cannot: McNaughton's
   * wrap-around, one slot at a time. A newer backlog never takes a slot from an older one.
   */
  release(cls: ClassView, stay: Candidate, mine: readonly Candidate[]): Candidate | undefined {
    const own = stay.version;
    if (own.capacityMs - Math.max(0, cls.horizonMs - this.now) < own.workMs) return undefined;
    let best: Candidate | undefined;
    const window = this.policy.burstWindowMs;
    const ownOldest = this.oldestOf(own);
    for (const c of mine) {
      if (c.affinity || this.deficit(c.version) <= 0) continue;
      if (this.oldestOf(c.version) > ownOldest + window) continue;
      if (!best || this.before(c, best, cls)) best = c;
    }
    return best;
  }

  /** Records the decision and updates the round's view: the slot is busy, the job taken, counts moved. */
  take(slot: SlotView, cls: ClassView, c: Candidate, rule: DecisionRule, why: string): void {
    const now = this.now;
    const horizon = cls.horizonMs;
    const job = c.job;
    const d = durationOf(this.policy, job);
    const install = slot.state.installedAppVersionId !== job.appVersionId;
    this.picks.take(c.lane, job);
    const v = c.version;
    v.workMs -= d;
    v.count--;
    // The slot leaves the version it was counted for (its own build, if that has work here)…
    const before = slot.availMs;
    const old = slot.version === null ? undefined : cls.versions.get(slot.version);
    if (old) {
      old.holdCap -= holdShare(before, true, old, now, this.policy.installCostMs);
      old.slotCount--;
      old.sumRemainingMs -= before - now;
      old.capacityMs -= Math.max(0, horizon - before);
      // Its build lost a warm slot: its jobs may no longer be held.
      const open = this.#openLanes.get(cls);
      if (open && old !== v && !this.#opened.has(old) && old.count > 0 && this.eligible(old)) {
        this.#opened.add(old);
        for (const lane of old.lanes) if (lane.avoidingCount === 0) open.lanes.push(lane);
      }
    }
    // …and counts for the job's version until it is free again.
    slot.version = job.appVersionId;
    slot.availMs = now + (install ? this.policy.installCostMs : 0) + d;
    slot.free = false;
    v.slotCount++;
    v.sumRemainingMs += slot.availMs - now;
    v.capacityMs += Math.max(0, horizon - slot.availMs);
    v.holdCap += holdShare(slot.availMs, true, v, now, this.policy.installCostMs);
    cls.takenByOrg ??= new Map();
    cls.takenByOrg.set(job.orgId, (cls.takenByOrg.get(job.orgId) ?? 0) + 1);
    const account = slot.state.cloudAccount;
    if (account) this.view.runningByAccount.set(account, (this.view.runningByAccount.get(account) ?? 0) + 1);
    this.decisions.push({ jobId: job.jobId, slotKey: slot.state.slotKey, reason: install ? 'install' : 'affinity', rule, why });
  }
}

/** The fleet's index, or a new index of an array of slots (in its order). */
export const indexOf = (slots: SlotIndex | readonly SlotState[]): SlotIndex => (slots instanceof SlotIndex ? slots : SlotIndex.of(slots));

/**
 * The scheduling round: which queued job goes to which free slot now.
 * Cost: O(lanes + online slots of the classes with queued work) to build the round's view and plan
 * (no lookup per slot: counts come from the slot index; O(slots) more to index an array of slots),
 * then O(lanes of the slot's class) per free slot.
 * @example scheduleRound({ queues, slots: fleet.slots, nowMs: Date.now(), policy: { cloudCaps: { 'browserstack:acme': 5 } } }).decisions
 */
export function scheduleRound(input: SchedulerInput): SchedulerRound {
  const policy = resolvePolicy(input.policy);
  // Holds are weighed only in the classes the round serves (those with a free slot).
  const view = buildRoundView(input.queues, indexOf(input.slots), input.nowMs, policy, 'served');
  const round = new Round(view, policy);
  scratch.agedUsed = 0;
  scratch.listsUsed = 0;
  // Warm slots with work of their own build first, then empty slots, then slots that must switch builds;
  // each group in the order the slots were given.
  const order: SlotView[][] = [[], [], []];
  for (const s of view.free) {
    const rank = s.version === null ? 1 : view.classes.get(s.classKey)!.versions.has(s.version) ? 0 : 2;
    order[rank]!.push(s);
  }
  for (const group of order) for (const s of group) round.serve(s, view.classes.get(s.classKey)!);
  const plans: ClassPlan[] = [];
  for (const cls of view.classes.values()) {
    if (cls.versions.size === 0) continue;
    // The ten largest deficits, largest first (a summary for logs and explanations; the round used them all).
    const top: Array<{ appVersionId: string; deficitMs: number; slots: number }> = [];
    for (const v of cls.versions.values()) {
      const d = v.workMs - v.capacityMs;
      if (d <= 0 || v.count === 0) continue;
      if (top.length === PLAN_DEFICITS && d <= top[PLAN_DEFICITS - 1]!.deficitMs) continue;
      // Insert in place, largest first (after equal ones); a full list drops its last.
      const entry = { appVersionId: v.appVersionId, deficitMs: Math.round(d), slots: v.slotCount };
      let i = Math.min(top.length, PLAN_DEFICITS - 1);
      if (top.length < PLAN_DEFICITS) top.push(entry);
      while (i > 0 && top[i - 1]!.deficitMs < d) {
        top[i] = top[i - 1]!;
        i--;
      }
      top[i] = entry;
    }
    plans.push({ classKey: cls.classKey, horizonMs: Math.round(cls.horizonMs), deficits: top });
  }
  return { decisions: round.decisions, idle: round.idle, plans, wakeAtMs: round.held && Number.isFinite(round.wakeAtMs) ? round.wakeAtMs + 1 : null };
}
