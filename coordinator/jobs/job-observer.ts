/**
 * What the job service and the dispatcher tell an observer (the metrics) as jobs move. Every call
 * comes after the store took the write it reports; an observer only counts, it never throws and
 * never changes a job. The default observer does nothing.
 */
import type { JobState } from '../../shared/index.js';

export interface JobObserver {
  /** A new job was stored (submitted or resubmitted). */
  submitted(): void;
  /** An attempt started running; `installed`: the agent installed the build first. */
  started(installed: boolean): void;
  /** A job reached a final state. */
  finished(status: JobState): void;
  /** An agent acknowledged an assignment `waitMs` after the job entered its queue. */
  dispatched(waitMs: number): void;
  /** Log lines of an attempt were stored. */
  logLines(count: number): void;
}

export const NO_OBSERVER: JobObserver = {
  submitted: () => {},
  started: () => {},
  finished: () => {},
  dispatched: () => {},
  logLines: () => {},
};
