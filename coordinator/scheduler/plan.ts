/**
 * The scheduler's first door, kept for callers that hand it the per-version map
 * (`queues.byVersion`) and no policy: thin wrappers over `scheduleRound` and `explainWaiting`
 * with `DEFAULT_POLICY` (or the policy given). New callers use those two directly.
 */
import { explainWaiting } from './explain.js';
import { JobQueues } from './job-queues.js';
import { scheduleRound } from './schedule-round.js';
import type { Decision, QueuedJob, SchedulerPolicy, SlotState } from './types.js';

type Queues = ReadonlyMap<string, readonly QueuedJob[]> | JobQueues;

/** The live index behind a `byVersion` map (no copy), or a new index of the map's jobs. */
function indexOf(queues: Queues): JobQueues {
  if (queues instanceof JobQueues) return queues;
  const owner = JobQueues.owning(queues);
  if (owner) return owner;
  const q = new JobQueues();
  for (const list of queues.values()) for (const j of list) q.add(j);
  return q;
}

/**
 * The decisions of one round (see `scheduleRound`).
 * @example planAssignments(queues.byVersion, fleet.slotStates(), Date.now()) // → [{ jobId, slotKey, reason: 'affinity', rule: 'affinity', why }]
 */
export function planAssignments(queues: Queues, slots: readonly SlotState[], nowMs: number, policy?: Partial<SchedulerPolicy>): Decision[] {
  return scheduleRound({ queues: indexOf(queues), slots, nowMs, ...(policy ? { policy } : {}) }).decisions;
}

/**
 * Why a queued job is not running yet, in words for `qgjob status` and the API (see `explainWaiting`).
 * `nowMs` defaults to the job's submit time: pass the clock so aging and holds are judged now.
 * @example explainWait(job, queues.byVersion, fleet.slotStates(), Date.now()) // → "all 2 emulator/android slot(s) are busy; 3 job(s) ahead of it"
 */
export function explainWait(
  job: QueuedJob,
  queues: Queues,
  slots: readonly SlotState[],
  nowMs: number = job.submittedAtMs,
  policy?: Partial<SchedulerPolicy>,
): string {
  return explainWaiting(job, { queues: indexOf(queues), slots, nowMs, ...(policy ? { policy } : {}) }).message;
}
