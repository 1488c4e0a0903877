/**
 * A deterministic discrete-event simulator that drives a scheduler with virtual time, the way the
 * dispatcher does: a round runs whenever jobs arrive or slots free (events at the same instant make
 * one round), and when the scheduler asks to be woken (`wakeAtMs`). A job started on a slot whose
 * installed build differs first installs it (`trace.installMs`), then runs its true duration. The
 * scheduler sees what the live system would: queued jobs with estimated durations, and for busy slots
 * the org, version and *estimated* end (assignment + install estimate + estimated duration).
 * Cloud caps are enforced as the cloud does: a session over its account's cap is refused (counted as
 * a cap violation), the job stays queued and the slot is unusable for `refusalMs`.
 */
import { JobQueues, SlotIndex, classKeyOf, resolvePolicy, type QueuedJob, type SlotState } from '../../coordinator/scheduler/index.js';
import type { Scheduler } from './baselines.js';
import type { Trace, TraceJob } from './workloads.js';

export interface OrgFigures {
  jobs: number;
  weight: number;
  /** Slot time its jobs used (ms), installs included. */
  serviceMs: number;
  p95WaitMs: number;
  /** Share received while it and at least one other org had queued work, relative to its weighted entitlement (1 = exact). */
  shareRatio: number;
}

export interface SimResult {
  workload: string;
  scheduler: string;
  jobs: number;
  installs: number;
  installsPerJob: number;
  makespanMs: number;
  waitP50Ms: number;
  waitP95Ms: number;
  waitMaxMs: number;
  /** p95 wait per priority. */
  waitP95ByPriorityMs: Record<string, number>;
  /** Jain's index over orgs of `shareRatio` (1 = each competing org got exactly its weighted share). Null with one org. */
  jain: number | null;
  capViolations: number;
  /** Jobs that waited longer than the aging bound plus the longest job. */
  agingViolations: number;
  rounds: number;
  perOrg: Record<string, OrgFigures>;
  /** Wall time of the scheduler calls (ms). */
  schedulerMs: number;
}

interface SimSlot {
  state: SlotState;
  job: TraceJob | null;
  /** True end of the current job (virtual ms). */
  endMs: number;
  /** A refused session keeps the slot unusable until then. */
  blockedUntilMs: number;
}

/** A binary min-heap of (time, seq) events. */
class EventHeap<T> {
  readonly #items: Array<{ t: number; seq: number; v: T }> = [];
  #seq = 0;
  get size(): number {
    return this.#items.length;
  }
  push(t: number, v: T): void {
    const a = this.#items;
    a.push({ t, seq: this.#seq++, v });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.t < a[i]!.t || (a[p]!.t === a[i]!.t && a[p]!.seq < a[i]!.seq)) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  peekTime(): number {
    return this.#items[0]?.t ?? Infinity;
  }
  pop(): { t: number; v: T } {
    const a = this.#items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const less = (x: number, y: number) => a[x]!.t < a[y]!.t || (a[x]!.t === a[y]!.t && a[x]!.seq < a[y]!.seq);
        if (l < a.length && less(l, m)) m = l;
        if (r < a.length && less(r, m)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

const quantile = (sorted: readonly number[], q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);

export interface SimOptions {
  /** How long a refused cloud session keeps its slot unusable (ms). Default 30 s. */
  refusalMs?: number;
  /**
   * Keep a `SlotIndex` up to date as slots change and pass it to the scheduler, as the dispatcher
   * does (default true); false: pass an array of the slots' states each round.
   */
  slotIndex?: boolean;
}

export function simulate(trace: Trace, schedulerName: string, scheduler: Scheduler, opts: SimOptions = {}): SimResult {
  const policy = resolvePolicy(trace.policy);
  const refusalMs = opts.refusalMs ?? 30_000;
  const caps = policy.cloudCaps;
  const queues = new JobQueues();
  const slots: SimSlot[] = trace.slots.map((s) => ({
    state: { slotKey: s.slotKey, target: s.target, platform: s.platform, installedAppVersionId: s.installedAppVersionId, free: true, online: true, ...(s.cloudAccount ? { cloudAccount: s.cloudAccount } : {}) },
    job: null,
    endMs: 0,
    blockedUntilMs: 0,
  }));
  const slotByKey = new Map(slots.map((s) => [s.state.slotKey, s]));
  const index = opts.slotIndex === false ? null : SlotIndex.of(slots.map((s) => s.state));
  /** Tells the index a slot's state changed. */
  const changed = (s: SimSlot) => index?.set(s.state);
  const traceJob = new Map(trace.jobs.map((j) => [j.jobId, j]));
  const events = new EventHeap<{ kind: 'end' | 'wake' | 'unblock'; slot?: SimSlot }>();
  const running = new Map<string, number>(); // per cloud account
  const queuedByOrg = new Map<string, number>();
  const runningByOrg = new Map<string, number>();
  const orgs = [...new Set(trace.jobs.map((j) => j.orgId))].sort();
  const received = new Map<string, number>(orgs.map((o) => [o, 0]));
  const entitled = new Map<string, number>(orgs.map((o) => [o, 0]));
  const serviceMs = new Map<string, number>(orgs.map((o) => [o, 0]));
  const waits: number[] = [];
  const waitsByOrg = new Map<string, number[]>(orgs.map((o) => [o, []]));
  const waitsByPriority = new Map<number, number[]>();
  let installs = 0;
  let capViolations = 0;
  let makespanMs = 0;
  let rounds = 0;
  let schedulerMs = 0;
  let next = 0; // next arrival
  let now = 0;
  let done = 0;
  const maxDurationMs = Math.max(...trace.jobs.map((j) => j.durationMs));
  let agingViolations = 0;

  const accountOf = (s: SimSlot) => s.state.cloudAccount;
  const start = (s: SimSlot, j: TraceJob) => {
    const q = queues.remove(j.jobId)!;
    queuedByOrg.set(j.orgId, queuedByOrg.get(j.orgId)! - 1);
    const wait = now - j.arrivalMs;
    waits.push(wait);
    waitsByOrg.get(j.orgId)!.push(wait);
    let wp = waitsByPriority.get(j.priority);
    if (!wp) waitsByPriority.set(j.priority, (wp = []));
    wp.push(wait);
    if (wait > policy.agingBoundMs + maxDurationMs) agingViolations++;
    const install = s.state.installedAppVersionId !== j.appVersionId;
    if (install) installs++;
    const busyMs = (install ? trace.installMs : 0) + j.durationMs;
    s.job = j;
    s.endMs = now + busyMs;
    serviceMs.set(j.orgId, serviceMs.get(j.orgId)! + busyMs);
    s.state.free = false;
    s.state.installedAppVersionId = j.appVersionId;
    s.state.runningAppVersionId = j.appVersionId;
    s.state.runningOrgId = j.orgId;
    s.state.busyUntilMs = now + (install ? policy.installCostMs : 0) + (q.expectedDurationMs ?? policy.defaultJobDurationMs);
    changed(s);
    runningByOrg.set(j.orgId, (runningByOrg.get(j.orgId) ?? 0) + 1);
    events.push(s.endMs, { kind: 'end', slot: s });
  };

  for (;;) {
    const tArrival = next < trace.jobs.length ? trace.jobs[next]!.arrivalMs : Infinity;
    const t = Math.min(tArrival, events.peekTime());
    if (t === Infinity) break;
    // Fairness: integrate the state that held from `now` to `t`.
    const dt = t - now;
    if (dt > 0) {
      const backlogged = orgs.filter((o) => (queuedByOrg.get(o) ?? 0) > 0);
      if (backlogged.length >= 2) {
        let used = 0;
        let weights = 0;
        for (const o of backlogged) {
          used += runningByOrg.get(o) ?? 0;
          weights += policy.orgWeights[o] ?? policy.defaultOrgWeight;
        }
        for (const o of backlogged) {
          received.set(o, received.get(o)! + (runningByOrg.get(o) ?? 0) * dt);
          entitled.set(o, entitled.get(o)! + (used * (policy.orgWeights[o] ?? policy.defaultOrgWeight) * dt) / weights);
        }
      }
    }
    now = t;
    let dirty = false;
    while (next < trace.jobs.length && trace.jobs[next]!.arrivalMs === now) {
      const j = trace.jobs[next++]!;
      const q: QueuedJob = { jobId: j.jobId, orgId: j.orgId, appVersionId: j.appVersionId, priority: j.priority, target: j.target, platform: j.platform, submittedAtMs: j.arrivalMs, avoidSlots: [], expectedDurationMs: j.expectedDurationMs };
      queues.add(q);
      queuedByOrg.set(j.orgId, (queuedByOrg.get(j.orgId) ?? 0) + 1);
      dirty = true;
    }
    while (events.peekTime() === now) {
      const e = events.pop().v;
      if (e.kind === 'end') {
        const s = e.slot!;
        const j = s.job!;
        makespanMs = Math.max(makespanMs, now);
        done++;
        runningByOrg.set(j.orgId, runningByOrg.get(j.orgId)! - 1);
        const a = accountOf(s);
        if (a) running.set(a, running.get(a)! - 1);
        s.job = null;
        s.state.free = true;
        s.state.runningAppVersionId = null;
        s.state.runningOrgId = null;
        s.state.busyUntilMs = null;
        changed(s);
        dirty = true;
      } else if (e.kind === 'unblock') {
        e.slot!.state.online = true;
        changed(e.slot!);
        dirty = true;
      } else dirty = true;
    }
    if (!dirty || queues.size === 0) continue;
    if (!slots.some((s) => s.state.free && s.state.online)) continue;
    rounds++;
    const t0 = performance.now();
    const out = scheduler({ queues, slots: index ?? slots.map((s) => s.state), nowMs: now, policy: trace.policy });
    schedulerMs += performance.now() - t0;
    for (const d of out.decisions) {
      const s = slotByKey.get(d.slotKey);
      const j = traceJob.get(d.jobId);
      if (!s || !j || !s.state.free || !s.state.online || !queues.has(d.jobId) || classKeyOf(s.state) !== classKeyOf(j)) {
        throw new Error(`${schedulerName}: invalid decision ${d.jobId} → ${d.slotKey} at ${now} ms`);
      }
      const a = accountOf(s);
      if (a && caps[a] !== undefined && (running.get(a) ?? 0) >= caps[a]!) {
        // The cloud refuses the session: the job stays queued, the slot is out for a while.
        capViolations++;
        s.state.online = false;
        changed(s);
        s.blockedUntilMs = now + refusalMs;
        events.push(s.blockedUntilMs, { kind: 'unblock', slot: s });
        continue;
      }
      if (a) running.set(a, (running.get(a) ?? 0) + 1);
      start(s, j);
    }
    if (out.wakeAtMs !== null && out.wakeAtMs > now) events.push(out.wakeAtMs, { kind: 'wake' });
  }
  if (done !== trace.jobs.length) throw new Error(`${schedulerName} on ${trace.name}: ${trace.jobs.length - done} job(s) never ran (the scheduler left work queued with no event pending)`);

  waits.sort((a, b) => a - b);
  const perOrg: Record<string, OrgFigures> = {};
  const ratios: number[] = [];
  for (const o of orgs) {
    const w = waitsByOrg.get(o)!.sort((a, b) => a - b);
    const e = entitled.get(o)!;
    const ratio = e > 0 ? received.get(o)! / e : 1;
    if (e > 0) ratios.push(ratio);
    perOrg[o] = { jobs: w.length, weight: policy.orgWeights[o] ?? policy.defaultOrgWeight, serviceMs: serviceMs.get(o)!, p95WaitMs: quantile(w, 0.95), shareRatio: ratio };
  }
  let jain: number | null = null;
  if (orgs.length > 1 && ratios.length > 1) {
    const sum = ratios.reduce((a, b) => a + b, 0);
    const sq = ratios.reduce((a, b) => a + b * b, 0);
    jain = (sum * sum) / (ratios.length * sq);
  }
  const waitP95ByPriorityMs: Record<string, number> = {};
  for (const [p, w] of [...waitsByPriority].sort((a, b) => b[0] - a[0])) waitP95ByPriorityMs[String(p)] = quantile(w.sort((a, b) => a - b), 0.95);
  return {
    workload: trace.name,
    scheduler: schedulerName,
    jobs: trace.jobs.length,
    installs,
    installsPerJob: installs / trace.jobs.length,
    makespanMs,
    waitP50Ms: quantile(waits, 0.5),
    waitP95Ms: quantile(waits, 0.95),
    waitMaxMs: waits[waits.length - 1] ?? 0,
    waitP95ByPriorityMs,
    jain,
    capViolations,
    agingViolations,
    rounds,
    perOrg,
    schedulerMs,
  };
}
