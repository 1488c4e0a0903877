/**
 * The jobs a round has taken so far, without touching the queues it was given: a set of taken ids
 * and a cursor per lane, so taking lane heads one after another stays O(1) per take.
 */
import type { Lane, LaneLevel } from './job-queues.js';
import type { QueuedJob } from './types.js';

/** Which jobs the caller may take (an object, not a closure: rounds run often and closures cost). */
export interface JobFilter {
  accepts(job: QueuedJob): boolean;
}

const ANY: JobFilter = { accepts: () => true };

const older = (a: QueuedJob, b: QueuedJob): boolean => a.submittedAtMs < b.submittedAtMs || (a.submittedAtMs === b.submittedAtMs && a.jobId < b.jobId);

export class Picks {
  readonly taken = new Set<string>();
  readonly #cursor = new Map<Lane, { li: number; ji: number }>();

  /** Records that `job` of `lane` is taken. */
  take(lane: Lane, job: QueuedJob): void {
    this.taken.add(job.jobId);
    if (!this.#cursor.has(lane)) this.#cursor.set(lane, { li: 0, ji: 0 });
  }

  /** The first job of `lane` in scheduling order (priority, then age) not taken yet that `ok` accepts. */
  first(lane: Lane, ok: JobFilter): QueuedJob | undefined {
    const levels = lane.levels;
    const c = this.#cursor.get(lane);
    if (!c) {
      // Nothing taken from this lane yet: no allocation, no set lookups.
      for (const l of levels) for (const j of l.jobs) if (ok.accepts(j)) return j;
      return undefined;
    }
    while (c.li < levels.length) {
      const jobs = levels[c.li]!.jobs;
      if (c.ji >= jobs.length) {
        c.li++;
        c.ji = 0;
      } else if (this.taken.has(jobs[c.ji]!.jobId)) c.ji++;
      else break;
    }
    for (let li = c.li; li < levels.length; li++) {
      const jobs = levels[li]!.jobs;
      for (let ji = li === c.li ? c.ji : 0; ji < jobs.length; ji++) {
        const j = jobs[ji]!;
        if (!this.taken.has(j.jobId) && ok.accepts(j)) return j;
      }
    }
    return undefined;
  }

  /** `first` with a filter that accepts every job: O(1) while nothing of the lane is taken. */
  firstUntaken(lane: Lane): QueuedJob | undefined {
    return this.#cursor.has(lane) ? this.first(lane, ANY) : lane.head();
  }

  /** The job of `lane` queued longest, submitted no later than `cutoffMs`, not taken yet, that `ok` accepts. */
  oldest(lane: Lane, ok: JobFilter, cutoffMs = Infinity): QueuedJob | undefined {
    let best: QueuedJob | undefined;
    for (const l of lane.levels) {
      for (const j of l.jobs) {
        if (j.submittedAtMs > cutoffMs) break; // a level is in age order: the rest are newer still
        if (this.taken.has(j.jobId) || !ok.accepts(j)) continue;
        if (!best || older(j, best)) best = j;
        break; // its first acceptable job is its oldest
      }
    }
    return best;
  }

  /** The job of `lane` queued longest, submitted no later than `cutoffMs`, not taken yet (`oldest` with no filter; O(1) while nothing of the lane is taken). */
  oldestOf(lane: Lane, cutoffMs: number): QueuedJob | undefined {
    if (this.taken.size === 0 || !this.#cursor.has(lane)) return lane.oldestSubmittedAtMs <= cutoffMs ? lane.oldest() : undefined;
    return this.oldest(lane, ANY, cutoffMs);
  }

  /** Among the jobs of `lane` with `first`'s priority, not taken yet and accepted by `ok`, the longest expected one (`first` on ties). */
  longest(lane: Lane, first: QueuedJob, ok: JobFilter): QueuedJob {
    let best = first;
    let level: LaneLevel | undefined;
    for (const l of lane.levels) if (l.priority === first.priority) level = l;
    if (!level) return best;
    for (const j of level.jobs) {
      if (this.taken.has(j.jobId) || !ok.accepts(j)) continue;
      if ((j.expectedDurationMs ?? 0) > (best.expectedDurationMs ?? 0)) best = j;
    }
    return best;
  }
}
