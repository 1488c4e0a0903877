/** Builders for scheduler tests: jobs, slots and a round at a fixed clock. */
import { JobQueues, scheduleRound, type QueuedJob, type SchedulerPolicy, type SchedulerRound, type SlotState } from '../../coordinator/scheduler/index.js';

export const NOW = 10_000_000;

let n = 0;
/** A queued job of `appVersionId` (org `acme`, priority 5, emulator/android, 60 s, submitted just now). */
export const job = (appVersionId: string, over: Partial<QueuedJob> = {}): QueuedJob => ({
  jobId: `job_${String(++n).padStart(5, '0')}`,
  orgId: 'acme',
  appVersionId,
  priority: 5,
  target: 'emulator',
  platform: 'android',
  submittedAtMs: NOW - 1000 + n,
  avoidSlots: [],
  expectedDurationMs: 60_000,
  ...over,
});

/** A free, online emulator/android slot with `installed` on it. */
export const slot = (slotKey: string, installed: string | null, over: Partial<SlotState> = {}): SlotState => ({
  slotKey,
  target: 'emulator',
  platform: 'android',
  installedAppVersionId: installed,
  free: true,
  online: true,
  ...over,
});

/** A busy slot running `version` for `org`, expected to be free `inMs` from NOW. */
export const busy = (slotKey: string, version: string, inMs: number, over: Partial<SlotState> = {}): SlotState =>
  slot(slotKey, version, { free: false, runningAppVersionId: version, runningOrgId: 'acme', busyUntilMs: NOW + inMs, ...over });

export const queues = (...jobs: QueuedJob[]): JobQueues => JobQueues.of(jobs);

export const round = (q: JobQueues, slots: SlotState[], policy?: Partial<SchedulerPolicy>, nowMs = NOW): SchedulerRound =>
  scheduleRound({ queues: q, slots, nowMs, ...(policy ? { policy } : {}) });

/** `jobId → slotKey` of a round's decisions. */
export const assigned = (r: SchedulerRound): Record<string, string> => Object.fromEntries(r.decisions.map((d) => [d.jobId, d.slotKey]));
