/**
 * How long the scheduling decision takes at scale: 100,000 queued jobs over 1,000 versions (20 orgs,
 * priorities 1–10, three classes, ~5 % of the jobs past the aging bound) and 5,000 slots (BrowserStack ones
 * under account caps).
 *  - steady state: all slots busy; the slot whose estimate ends first frees, a round runs (one
 *    decision, as in a live fleet where rounds follow each freed slot), the job starts, a new job
 *    arrives. Per-round time = per-decision time here.
 *  - cold round: every slot free at once; the round's time divided by its decisions.
 * Only the `scheduleRound` call is timed (not building the inputs).
 */
import { JobQueues, scheduleRound, type QueuedJob, type SchedulerPolicy, type SlotState } from '../../coordinator/scheduler/index.js';
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
  coldRoundMs: number;
  coldDecisions: number;
  coldPerDecisionMs: number;
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

export function decisionTime(opts: { jobs?: number; versions?: number; slots?: number; rounds?: number; coldRounds?: number; seed?: number } = {}): DecisionTime {
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
      queues.add(newJob(now));
    }
  };
  const bySlot = new Map(slots.map((s) => [s.slotKey, s]));

  // Warm-up (JIT), not measured.
  for (let i = 0; i < 50; i++) scheduleRound({ queues, slots, nowMs: now, policy });

  const times: number[] = [];
  let decided = 0;
  for (let r = 0; r < rounds; r++) {
    let first = slots[0]!;
    for (const s of slots) if (!s.free && s.busyUntilMs! < first.busyUntilMs!) first = s;
    now = Math.max(now, first.busyUntilMs!);
    first.free = true;
    first.busyUntilMs = null;
    first.runningOrgId = null;
    first.runningAppVersionId = null;
    const t0 = performance.now();
    const out = scheduleRound({ queues, slots, nowMs: now, policy });
    times.push(performance.now() - t0);
    decided += out.decisions.length;
    apply(out.decisions, bySlot);
  }
  times.sort((a, b) => a - b);

  // Cold round: every slot free.
  const coldSlots = slots.map((s) => ({ ...s, free: true, busyUntilMs: null, runningOrgId: null, runningAppVersionId: null }));
  let coldMs = Infinity;
  let coldDecisions = 0;
  for (let i = 0; i < (opts.coldRounds ?? 3); i++) {
    const t0 = performance.now();
    const out = scheduleRound({ queues, slots: coldSlots, nowMs: now, policy });
    const ms = performance.now() - t0;
    if (ms < coldMs) coldMs = ms;
    coldDecisions = out.decisions.length;
  }
  return {
    queuedJobs: queues.size,
    versions: nVersions,
    slots: nSlots,
    steadyRounds: rounds,
    steadyP50Ms: quantile(times, 0.5),
    steadyP99Ms: quantile(times, 0.99),
    steadyMaxMs: times[times.length - 1]!,
    steadyDecisionsPerRound: decided / rounds,
    coldRoundMs: coldMs,
    coldDecisions,
    coldPerDecisionMs: coldMs / Math.max(1, coldDecisions),
  };
}
