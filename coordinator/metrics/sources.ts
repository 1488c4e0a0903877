/** Where a live coordinator's scrape-time gauges read from: the store, the job service's queues, the fleet. */
import type { Fleet } from '../agents/fleet.js';
import { type JobService, queuedSinceMs } from '../jobs/job-service.js';
import type { JobStore } from '../store/index.js';
import type { MetricsSources } from './coordinator-metrics.js';

/**
 * The sources of a coordinator's metrics.
 * @example const metrics = new CoordinatorMetrics(metricsSources(store, service, fleet, Date.now));
 */
export function metricsSources(store: JobStore, service: JobService, fleet: Fleet, now: () => number): MetricsSources {
  return {
    jobCounts: () => store.countByStatus(),
    *queued() {
      for (const q of service.queues.all()) {
        const row = service.active(q.jobId);
        yield { appVersionId: q.appVersionId, queuedSinceMs: row ? queuedSinceMs(row) : q.submittedAtMs };
      }
    },
    agents: () => fleet.view(),
    now,
  };
}
