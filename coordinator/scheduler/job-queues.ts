/**
 * The in-memory index of queued jobs, one queue per app_version_id, each kept in scheduling order
 * (priority high→low, then submit time old→new, then job id). The store is the truth; this index
 * is rebuilt from it at start-up. No I/O here.
 */
import type { QueuedJob } from './types.js';

/** Scheduling order within a queue: priority desc, then age asc, then id (ULIDs sort by time). */
export function compareJobs(a: QueuedJob, b: QueuedJob): number {
  return b.priority - a.priority || a.submittedAtMs - b.submittedAtMs || (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0);
}

export class JobQueues {
  readonly #byVersion = new Map<string, QueuedJob[]>();
  readonly #byId = new Map<string, QueuedJob>();

  get size(): number {
    return this.#byId.size;
  }

  /** The per-version queues, each in scheduling order. Read-only view. */
  get byVersion(): ReadonlyMap<string, readonly QueuedJob[]> {
    return this.#byVersion;
  }

  has(jobId: string): boolean {
    return this.#byId.has(jobId);
  }

  get(jobId: string): QueuedJob | undefined {
    return this.#byId.get(jobId);
  }

  /** Adds (or re-adds) a job in its place. */
  add(job: QueuedJob): void {
    if (this.#byId.has(job.jobId)) this.remove(job.jobId);
    this.#byId.set(job.jobId, job);
    let q = this.#byVersion.get(job.appVersionId);
    if (!q) this.#byVersion.set(job.appVersionId, (q = []));
    // Binary search for the insertion point keeps each queue sorted in O(log n) comparisons.
    let lo = 0;
    let hi = q.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareJobs(q[mid]!, job) <= 0) lo = mid + 1;
      else hi = mid;
    }
    q.splice(lo, 0, job);
  }

  /** Removes a job; returns it, or undefined if it was not queued. */
  remove(jobId: string): QueuedJob | undefined {
    const job = this.#byId.get(jobId);
    if (!job) return undefined;
    this.#byId.delete(jobId);
    const q = this.#byVersion.get(job.appVersionId)!;
    q.splice(q.indexOf(job), 1);
    if (q.length === 0) this.#byVersion.delete(job.appVersionId);
    return job;
  }

  /** All queued jobs in no particular order. */
  all(): IterableIterator<QueuedJob> {
    return this.#byId.values();
  }
}
