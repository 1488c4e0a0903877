/**
 * How long the scheduling decision takes at scale: 100,000 queued jobs over 1,000 versions (20 orgs,
 * priorities 1–10, three classes, ~5 % of the jobs past the aging bound) and 5,000 slots (BrowserStack ones
 * under account caps). The scheduler is given the fleet's slot index, kept up to date as slots change.
 *  - steady state: all slots busy; the slot whose estimate ends first frees, a round runs (one
 *    decision, as in a live fleet where rounds follow each freed slot), the job starts, a new job
 *    arrives. Per-round time = per-decision time here.
 *  - arrival: a job arrives for a class whose slots are free and have nothing queued (where a free
 *    slot waits in a busy fleet): 50 of the 5,000 slots serve device/android; one round, one decision.
 *  - cold round: every slot free at once; the round's time divided by its decisions.
 * Only the `scheduleRound` call is timed (not building the inputs), after unmeasured rounds of the
 * same kind (the JIT warmed up as in a coordinator that has been running). Separately, the
 * dispatcher's refresh of the index from a fleet of 1,000 agents × 5 slots before a round
 * (`Fleet.syncIndex`, one slot changed) is timed.
 */
import { AgentEntry, Fleet, SlotEntry, type AgentSocket, type RunningJob } from '../../coordinator/agents/fleet.js';
import { JobQueues, SlotIndex, scheduleRound, type QueuedJob, type SchedulerPolicy, type SlotState } from '../../coordinator/scheduler/index.js';
import type { Platform, Target } from '../../shared/index.js';
import { Rng } from './rng.js';

export interface DecisionTime {
  queuedJobs: number;
  versions: number;
  slots: number;
  steadyRounds: number;
  /** Per round with one freed slot (= per decision), ms. */
  steadyP50Ms: number;
  steadyP99Ms: number;
  steadyMaxMs: number;
  /** Decisions per steady round (mean). */
  steadyDecisionsPerRound: number;
  arrivalRounds: number;
  /** Per round triggered by a job arriving with a free slot, ms. */
  arrivalP50Ms: number;
  arrivalP99Ms: number;
  arrivalMaxMs: number;
  arrivalDecisionsPerRound: number;
  /** `Fleet.syncIndex` with one slot changed, 1,000 agents × 5 slots, ms. */
  refreshP50Ms: number;
  refreshP99Ms: number;
  coldRoundMs: number;
  coldDecisions: number;
  coldPerDecisionMs: number;
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export function decisionTime(opts: { jobs?: number; versions?: number; slots?: number; rounds?: number; warmUpRounds?: number; arrivalRounds?: number; coldRounds?: number; seed?: number } = {}): DecisionTime {
  const nJobs = opts.jobs ?? 100_000;
  const nVersions = opts.versions ?? 1_000;
  const nSlots = opts.slots ?? 5_000;
  const rounds = opts.rounds ?? 2_000;
  const rng = new Rng(opts.seed ?? 7);
  const classes: Array<{ target: Target; platform: Platform; share: number }> = [
    { target: 'emulator', platform: 'android', share: 0.75 },
    { target: 'device', platform: 'ios', share: 0.2 },
    { target: 'browserstack', platform: 'android', share: 0.05 },
  ];
  const policy: Partial<SchedulerPolicy> = {
    orgWeights: { 'org-00': 3, 'org-01': 2 },
    cloudCaps: { 'bs:a': 100, 'bs:b': 80 },
  };
  const versions = Array.from({ length: nVersions }, (_, i) => ({
    id: `v${String(i).padStart(4, '0')}`,
    org: `org-${String(i % 20).padStart(2, '0')}`,
    cls: classes[rng.weighted(classes.map((c) => c.share))]!,
  }));
  const byClass = new Map<string, typeof versions>();
  for (const v of versions) {
    const k = `${v.cls.target}/${v.cls.platform}`;
    byClass.set(k, [...(byClass.get(k) ?? []), v]);
  }
  let now = 10 * 3600_000;
  let seq = 0;
  const newJob = (submittedAtMs: number): QueuedJob => {
    const v = versions[Math.floor(rng.next() * rng.next() * nVersions)]!; // skewed: low ids are busier
    return {
      jobId: `j${String(seq++).padStart(8, '0')}`,
      orgId: v.org,
      appVersionId: v.id,
      priority: rng.int(1, 10),
      target: v.cls.target,
      platform: v.cls.platform,
      submittedAtMs,
      avoidSlots: [],
      expectedDurationMs: rng.int(20, 120) * 1000,
    };
  };
  const queues = new JobQueues();
  // Submitted over the last 63 minutes: about 5 % are past the (default, 60-minute) aging bound.
  for (let i = 0; i < nJobs; i++) queues.add(newJob(now - Math.floor(rng.uniform(0, 63 * 60_000))));

  const slots: SlotState[] = [];
  for (let i = 0; i < nSlots; i++) {
    const cls = classes[rng.weighted(classes.map((c) => c.share))]!;
    const pool = byClass.get(`${cls.target}/${cls.platform}`)!;
    const v = rng.pick(pool);
    const s: SlotState = {
      slotKey: `agent-${String(Math.floor(i / 10)).padStart(3, '0')}/s${i % 10}`,
      target: cls.target,
      platform: cls.platform,
      installedAppVersionId: v.id,
      free: false,
      online: true,
      runningAppVersionId: v.id,
      runningOrgId: v.org,
      busyUntilMs: now + Math.floor(rng.uniform(0, 120_000)),
    };
    if (cls.target === 'browserstack') s.cloudAccount = i % 2 ? 'bs:a' : 'bs:b';
    slots.push(s);
  }

  const apply = (decisions: ReadonlyArray<{ jobId: string; slotKey: string; reason: string }>, bySlot: Map<string, SlotState>) => {
    for (const d of decisions) {
      const j = queues.remove(d.jobId)!;
      const s = bySlot.get(d.slotKey)!;
      s.free = false;
      s.installedAppVersionId = j.appVersionId;
      s.runningAppVersionId = j.appVersionId;
      s.runningOrgId = j.orgId;
      s.busyUntilMs = now + (d.reason === 'install' ? 60_000 : 0) + (j.expectedDurationMs ?? 60_000);
      index.set(s);
      queues.add(newJob(now));
    }
  };
  const bySlot = new Map(slots.map((s) => [s.slotKey, s]));
  // The fleet's slot index, kept up to date as slots change (as the dispatcher does).
  const index = SlotIndex.of(slots);

  // Warm-up, not measured: rounds like the measured ones (a slot frees, a job starts, a new one
  // arrives), so the JIT has seen every path a long-running coordinator runs.
  const warmUp = opts.warmUpRounds ?? Math.min(500, rounds);
  const times: number[] = [];
  let decided = 0;
  for (let r = -warmUp; r < rounds; r++) {
    let first = slots[0]!;
    for (const s of slots) if (!s.free && s.busyUntilMs! < first.busyUntilMs!) first = s;
    now = Math.max(now, first.busyUntilMs!);
    first.free = true;
    first.busyUntilMs = null;
    first.runningOrgId = null;
    first.runningAppVersionId = null;
    index.set(first);
    const t0 = performance.now();
    const out = scheduleRound({ queues, slots: index, nowMs: now, policy });
    if (r >= 0) {
      times.push(performance.now() - t0);
      decided += out.decisions.length;
    }
    apply(out.decisions, bySlot);
  }
  times.sort((a, b) => a - b);

  const queuedJobs = queues.size;
  // Arrival: 1 % of the slots (at most 50) serve device/android, free, with nothing of that class
  // queued; every other slot is busy. Each round one job for device/android arrives and goes to one
  // of them (it then ends at once).
  const arrivalSlots = slots.map((s) => ({ ...s }));
  const nIdle = Math.min(50, Math.ceil(nSlots / 100));
  arrivalSlots.forEach((s, i) => {
    if (i < nIdle) {
      Object.assign(s, { target: 'device', platform: 'android', installedAppVersionId: `dva-${i % 5}`, free: true, runningOrgId: null, runningAppVersionId: null, busyUntilMs: null });
      delete s.cloudAccount;
    } else if (s.free) {
      // A slot the steady state left free (its jobs held, or its account at its cap) is busy here.
      Object.assign(s, { free: false, runningOrgId: 'org-00', runningAppVersionId: s.installedAppVersionId, busyUntilMs: now + 60_000 });
    }
  });
  const arrivalIndex = SlotIndex.of(arrivalSlots);
  const arrivalTimes: number[] = [];
  let arrived = 0;
  const arrivalRounds = opts.arrivalRounds ?? Math.ceil(rounds / 2);
  for (let r = -Math.min(200, arrivalRounds); r < arrivalRounds; r++) {
    now += 100;
    const job: QueuedJob = {
      jobId: `a${String(r + 1000).padStart(8, '0')}`,
      orgId: 'org-05',
      appVersionId: `dva-${rng.int(0, 6)}`,
      priority: 5,
      target: 'device',
      platform: 'android',
      submittedAtMs: now,
      avoidSlots: [],
      expectedDurationMs: 60_000,
    };
    queues.add(job);
    const t0 = performance.now();
    const out = scheduleRound({ queues, slots: arrivalIndex, nowMs: now, policy });
    const ms = performance.now() - t0;
    if (r >= 0) {
      arrivalTimes.push(ms);
      arrived += out.decisions.length;
    }
    for (const d of out.decisions) {
      const j = queues.remove(d.jobId)!;
      arrivalIndex.set({ ...arrivalIndex.get(d.slotKey)!, installedAppVersionId: j.appVersionId });
    }
  }
  arrivalTimes.sort((a, b) => a - b);

  // Cold round: every slot free.
  const coldSlots = SlotIndex.of(slots.map((s) => ({ ...s, free: true, busyUntilMs: null, runningOrgId: null, runningAppVersionId: null })));
  let coldMs = Infinity;
  let coldDecisions = 0;
  for (let i = 0; i < (opts.coldRounds ?? 3); i++) {
    const t0 = performance.now();
    const out = scheduleRound({ queues, slots: coldSlots, nowMs: now, policy });
    const ms = performance.now() - t0;
    if (ms < coldMs) coldMs = ms;
    coldDecisions = out.decisions.length;
  }
  const refresh = refreshTime(slots, rounds, rng);
  return {
    queuedJobs,
    versions: nVersions,
    slots: nSlots,
    steadyRounds: rounds,
    steadyP50Ms: quantile(times, 0.5),
    steadyP99Ms: quantile(times, 0.99),
    steadyMaxMs: times[times.length - 1]!,
    steadyDecisionsPerRound: decided / rounds,
    arrivalRounds,
    arrivalP50Ms: quantile(arrivalTimes, 0.5),
    arrivalP99Ms: quantile(arrivalTimes, 0.99),
    arrivalMaxMs: arrivalTimes[arrivalTimes.length - 1]!,
    arrivalDecisionsPerRound: arrived / arrivalRounds,
    refreshP50Ms: refresh.p50Ms,
    refreshP99Ms: refresh.p99Ms,
    coldRoundMs: coldMs,
    coldDecisions,
    coldPerDecisionMs: coldMs / Math.max(1, coldDecisions),
  };
}

/**
 * The dispatcher's refresh of the slot index before a round: a fleet of agents with 5 slots each
 * holding `slots`' states (held slots run a job), one slot freed or given a job, then `syncIndex`.
 */
function refreshTime(slots: readonly SlotState[], rounds: number, rng: Rng): { p50Ms: number; p99Ms: number } {
  const fleet = new Fleet();
  const jobs = new Map<string, RunningJob>();
  const entries: SlotEntry[] = [];
  const agents = new Map<string, Map<string, SlotEntry>>();
  for (let i = 0; i < slots.length; i++) {
    const st = slots[i]!;
    const agentId = `agent-${String(Math.floor(i / 5)).padStart(4, '0')}`;
    let agentSlots = agents.get(agentId);
    if (!agentSlots) agents.set(agentId, (agentSlots = new Map()));
    const slotId = `s${i % 5}`;
    const jobId = st.free ? null : `job-${i}`;
    if (jobId) jobs.set(jobId, { orgId: st.runningOrgId ?? 'org-00', appVersionId: st.runningAppVersionId ?? 'v0000', busyUntilMs: st.busyUntilMs ?? 0 });
    const entry = new SlotEntry({
      key: `${agentId}/${slotId}`,
      agentId,
      info: {
        slot_id: slotId,
        target: st.target,
        platform: st.platform,
        device_name: 'bench',
        endpoint: 'http://127.0.0.1:1',
        installed_app_version_id: st.installedAppVersionId,
        health: 'ok',
        health_reason: null,
        cloud_account: st.cloudAccount ?? null,
        cloud_cap: st.cloudAccount ? 100 : null,
      },
      attemptId: jobId ? `att-${jobId}` : null,
      jobId,
    });
    agentSlots.set(slotId, entry);
    entries.push(entry);
  }
  for (const [agentId, agentSlots] of agents) {
    fleet.agents.set(agentId, new AgentEntry({ agentId, name: agentId, version: 'bench', socket: {} as AgentSocket, connectedAtMs: 0, lastSeenMs: 0, slots: agentSlots }));
  }
  const jobOf = (jobId: string) => jobs.get(jobId);
  const describe = (_: SlotEntry, job: RunningJob) => job;
  fleet.syncIndex(jobOf, describe);
  const times: number[] = [];
  for (let r = -Math.min(500, rounds); r < rounds; r++) {
    const e = rng.pick(entries);
    if (e.attemptId === null) {
      e.jobId = `job-r${r}`;
      e.attemptId = `att-${e.jobId}`;
      jobs.set(e.jobId, { orgId: 'org-01', appVersionId: e.info.installed_app_version_id ?? 'v0000', busyUntilMs: r * 1000 });
    } else {
      e.attemptId = null;
      e.jobId = null;
    }
    const t0 = performance.now();
    fleet.syncIndex(jobOf, describe);
    if (r >= 0) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99) };
}
