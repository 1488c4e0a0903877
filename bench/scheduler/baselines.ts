/**
 * The schedulers the benchmark compares, all behind one signature (the round's input in,
 * decisions out): qgjob's policy and three baselines.
 *  - first-free FIFO: a free slot takes the oldest fitting job (Selenium Grid, appium-device-farm);
 *  - per-version sticky: a version runs on one slot at a time; a slot keeps its build while it has work;
 *  - v0 two-pass: qgjob's previous scheduler (affinity pass, then priority/age install pass).
 * The baselines ignore cloud caps, as the peers do; the simulator refuses sessions over the cap.
 */
import { SlotIndex, classKeyOf, compareJobs, scheduleRound, type QueuedJob, type SchedulerInput, type SlotState } from '../../coordinator/scheduler/index.js';

export interface SimDecision {
  jobId: string;
  slotKey: string;
}

export type Scheduler = (input: SchedulerInput) => { decisions: SimDecision[]; wakeAtMs: number | null };

export const qgjob: Scheduler = (input) => scheduleRound(input);

const byAge = (a: QueuedJob, b: QueuedJob) => a.submittedAtMs - b.submittedAtMs || (a.jobId < b.jobId ? -1 : 1);
/** The slots in order (the baselines read them as a list). */
const listOf = (slots: SchedulerInput['slots']): readonly SlotState[] => (slots instanceof SlotIndex ? slots.states() : slots);
const freeSlots = (slots: SchedulerInput['slots']) => listOf(slots).filter((s) => s.free && s.online);

export const firstFreeFifo: Scheduler = ({ queues, slots }) => {
  const decisions: SimDecision[] = [];
  const free = freeSlots(slots);
  if (free.length === 0) return { decisions, wakeAtMs: null };
  const jobs = [...queues.all()].sort(byAge);
  const taken = new Set<string>();
  for (const s of free) {
    const j = jobs.find((x) => !taken.has(x.jobId) && classKeyOf(x) === classKeyOf(s));
    if (!j) continue;
    taken.add(j.jobId);
    decisions.push({ jobId: j.jobId, slotKey: s.slotKey });
  }
  return { decisions, wakeAtMs: null };
};

export const perVersionSticky: Scheduler = ({ queues, slots }) => {
  const decisions: SimDecision[] = [];
  const free = freeSlots(slots);
  if (free.length === 0) return { decisions, wakeAtMs: null };
  const jobs = [...queues.all()].sort(byAge);
  const taken = new Set<string>();
  // A version is active in a class while a busy slot runs it.
  const active = new Set<string>();
  for (const s of listOf(slots)) if (!s.free && s.online) active.add(`${classKeyOf(s)}|${s.runningAppVersionId ?? s.installedAppVersionId}`);
  const fits = (j: QueuedJob, s: SlotState) => !taken.has(j.jobId) && classKeyOf(j) === classKeyOf(s);
  const assign = (j: QueuedJob, s: SlotState) => {
    taken.add(j.jobId);
    active.add(`${classKeyOf(s)}|${j.appVersionId}`);
    decisions.push({ jobId: j.jobId, slotKey: s.slotKey });
  };
  const cold: SlotState[] = [];
  for (const s of free) {
    const j = jobs.find((x) => fits(x, s) && x.appVersionId === s.installedAppVersionId);
    if (j) assign(j, s);
    else cold.push(s);
  }
  for (const s of cold) {
    const j = jobs.find((x) => fits(x, s) && !active.has(`${classKeyOf(s)}|${x.appVersionId}`));
    if (j) assign(j, s);
  }
  return { decisions, wakeAtMs: null };
};

/** qgjob's scheduler before issue 3: warm slots take their build's best job, then others install the best job by priority, then age. */
export const v0TwoPass: Scheduler = ({ queues, slots }) => {
  const decisions: SimDecision[] = [];
  const taken = new Set<string>();
  const fits = (j: QueuedJob, s: SlotState) => !taken.has(j.jobId) && j.target === s.target && j.platform === s.platform;
  const free = freeSlots(slots);
  const cold: SlotState[] = [];
  for (const s of free) {
    const q = s.installedAppVersionId === null ? undefined : queues.byVersion.get(s.installedAppVersionId);
    const j = q?.find((x) => fits(x, s));
    if (j) {
      taken.add(j.jobId);
      decisions.push({ jobId: j.jobId, slotKey: s.slotKey });
    } else cold.push(s);
  }
  cold.sort((a, b) => Number(a.installedAppVersionId !== null) - Number(b.installedAppVersionId !== null));
  for (const s of cold) {
    let best: QueuedJob | undefined;
    for (const q of queues.byVersion.values()) {
      const head = q.find((x) => fits(x, s));
      if (head && (!best || compareJobs(head, best) < 0)) best = head;
    }
    if (best) {
      taken.add(best.jobId);
      decisions.push({ jobId: best.jobId, slotKey: s.slotKey });
    }
  }
  return { decisions, wakeAtMs: null };
};

export const SCHEDULERS: ReadonlyArray<{ name: string; run: Scheduler }> = [
  { name: 'qgjob', run: qgjob },
  { name: 'first-free FIFO', run: firstFreeFifo },
  { name: 'per-version sticky', run: perVersionSticky },
  { name: 'v0 two-pass', run: v0TwoPass },
];
