/**
 * The scheduling decision (pure: queues, slots and the time in; decisions out; no I/O, no timers).
 *
 * For every free, online slot:
 *  1. affinity — a slot whose installed build has queued jobs that fit (target and platform) takes
 *     the first of them in scheduling order (priority, then age): no install is needed;
 *  2. install — slots still free then take the best fitting job of any version (priority, then
 *     age), slots with no build installed first, so warm slots stay warm for their version.
 * A job does not go back to a slot it is told to avoid (an earlier attempt broke there) while
 * another online slot could serve it; when none could, it may (better late than never).
 */
import { compareJobs } from './job-queues.js';
import type { Decision, QueuedJob, SlotState } from './types.js';

const serves = (job: QueuedJob, slot: SlotState): boolean => job.target === slot.target && job.platform === slot.platform;

/**
 * @example planAssignments(queues.byVersion, slots, Date.now()) // → [{ jobId, slotKey, reason: 'affinity' }]
 */
export function planAssignments(
  queues: ReadonlyMap<string, readonly QueuedJob[]>,
  slots: readonly SlotState[],
  _nowMs: number,
): Decision[] {
  const decisions: Decision[] = [];
  const taken = new Set<string>();
  // A slot to avoid is avoided only while some other online slot could serve the job.
  const hasAlternative = new Map<string, boolean>();
  const fits = (job: QueuedJob, slot: SlotState): boolean => {
    if (!serves(job, slot)) return false;
    if (job.avoidSlots.length === 0 || !job.avoidSlots.includes(slot.slotKey)) return true;
    let alt = hasAlternative.get(job.jobId);
    if (alt === undefined) {
      alt = slots.some((s) => s.online && serves(job, s) && !job.avoidSlots.includes(s.slotKey));
      hasAlternative.set(job.jobId, alt);
    }
    return !alt;
  };
  const firstFitting = (q: readonly QueuedJob[] | undefined, slot: SlotState): QueuedJob | undefined =>
    q?.find((j) => !taken.has(j.jobId) && fits(j, slot));

  const free = slots.filter((s) => s.free && s.online);
  const cold: SlotState[] = [];
  for (const slot of free) {
    const job = slot.installedAppVersionId === null ? undefined : firstFitting(queues.get(slot.installedAppVersionId), slot);
    if (job) {
      taken.add(job.jobId);
      decisions.push({ jobId: job.jobId, slotKey: slot.slotKey, reason: 'affinity' });
    } else cold.push(slot);
  }

  // Slots with nothing installed go first, then the others in their given order (stable sort).
  cold.sort((a, b) => Number(a.installedAppVersionId !== null) - Number(b.installedAppVersionId !== null));
  for (const slot of cold) {
    let best: QueuedJob | undefined;
    for (const q of queues.values()) {
      const head = firstFitting(q, slot);
      if (head && (!best || compareJobs(head, best) < 0)) best = head;
    }
    if (best) {
      taken.add(best.jobId);
      decisions.push({ jobId: best.jobId, slotKey: slot.slotKey, reason: 'install' });
    }
  }
  return decisions;
}

/** Why a queued job is not running yet, in words for `qgjob status` and the API. */
export function explainWait(job: QueuedJob, queues: ReadonlyMap<string, readonly QueuedJob[]>, slots: readonly SlotState[]): string {
  const matching = slots.filter((s) => s.target === job.target && s.platform === job.platform);
  if (matching.length === 0) return `no connected slot serves ${job.target}/${job.platform}`;
  const online = matching.filter((s) => s.online);
  if (online.length === 0) return `all ${matching.length} ${job.target}/${job.platform} slot(s) are offline`;
  let ahead = 0;
  for (const q of queues.values()) {
    for (const other of q) {
      if (other.jobId !== job.jobId && other.target === job.target && other.platform === job.platform && compareJobs(other, job) < 0) ahead++;
    }
  }
  const busy = online.filter((s) => !s.free).length;
  if (busy === online.length) {
    return `all ${online.length} ${job.target}/${job.platform} slot(s) are busy; ${ahead} job(s) ahead of it`;
  }
  return `waiting for dispatch; ${ahead} job(s) ahead of it`;
}
