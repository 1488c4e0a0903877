/** One `JobEventSink` that hands every job event to several (the watch hub, the dashboard, …), in order. */
import type { JobEvent, JobView } from '../../shared/index.js';
import type { JobEventSink } from './job-service.js';

/**
 * A sink that publishes to each of `sinks` in turn. Sinks must not throw: the service calls them
 * after the store took the write, where there is nothing left to undo.
 * @example new JobService(store, fanOutSink(watchHub, dashboardHub))
 */
export function fanOutSink(...sinks: JobEventSink[]): JobEventSink {
  return {
    publish(event: JobEvent): void {
      for (const s of sinks) s.publish(event);
    },
    end(jobId: string, job: JobView): void {
      for (const s of sinks) s.end(jobId, job);
    },
  };
}
