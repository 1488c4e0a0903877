/** The metrics room's door: the coordinator's Prometheus metrics and where they read from. */
export { CoordinatorMetrics, type MetricsSources } from './coordinator-metrics.js';
export { metricsSources } from './sources.js';
