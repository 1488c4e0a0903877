/**
 * The coordinator's Prometheus metrics (prom-client), served at `GET /metrics`. Each coordinator
 * has its own registry (never prom-client's global one), so several coordinators in one process
 * keep apart. Counters are fed by the job observer calls (after the store took each write);
 * gauges are read at scrape time from their source: the store for jobs by state (so finished
 * jobs count across restarts), the queues for depth and oldest wait, the fleet for agents and slots.
 * The list, with each metric's meaning, is in the README ("Metrics").
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FINAL_STATES, JOB_STATES, type AgentView, type JobState, type SlotView } from '../../shared/index.js';
import type { JobObserver } from '../jobs/job-observer.js';

/** Where the scrape-time gauges read from (the composition root wires the store, queues and fleet). */
export interface MetricsSources {
  /** Jobs per state, as stored. May reject (database down): the jobs gauge then has no samples. */
  jobCounts(): Promise<Record<string, number>>;
  /** Every job in a queue: its app version and when it entered the queue (epoch ms). */
  queued(): Iterable<{ appVersionId: string; queuedSinceMs: number }>;
  /** The fleet as `GET /api/v1/agents` shows it. */
  agents(): AgentView[];
  now(): number;
}

const SLOT_STATES: ReadonlyArray<SlotView['state']> = ['idle', 'busy', 'offline', 'quarantined', 'draining'];

/** Dispatch latency buckets (s): from a free slot taking the job at once to an hour-long backlog. */
const DISPATCH_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600];

/**
 * The metrics of one coordinator, and the observer that feeds them.
 * @example const m = new CoordinatorMetrics(sources); service.observer = m; res.end(await m.text());
 */
export class CoordinatorMetrics implements JobObserver {
  readonly registry = new Registry();
  readonly #submitted: Counter;
  readonly #started: Counter;
  readonly #finished: Counter<'status'>;
  readonly #installs: Counter;
  readonly #logLines: Counter;
  readonly #dispatch: Histogram;
  #startedCount = 0;
  #installCount = 0;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    const metrics = this;
    new Gauge({
      name: 'qgjob_jobs',
      help: 'Jobs by state, as stored (finished states count every job ever finished).',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        const counts = await sources.jobCounts().catch(() => null);
        if (!counts) return;
        for (const s of JOB_STATES) this.set({ state: s }, counts[s] ?? 0);
      },
    });
    this.#submitted = new Counter({ name: 'qgjob_jobs_submitted_total', help: 'Jobs accepted (submitted or resubmitted) since the coordinator started.', registers });
    this.#started = new Counter({ name: 'qgjob_jobs_started_total', help: 'Attempts that started running since the coordinator started.', registers });
    this.#finished = new Counter({
      name: 'qgjob_jobs_finished_total',
      help: 'Jobs that reached a final state since the coordinator started, by that state.',
      labelNames: ['status'],
      registers,
    });
    for (const s of FINAL_STATES) this.#finished.inc({ status: s }, 0);
    new Gauge({
      name: 'qgjob_queue_depth',
      help: 'Jobs waiting in the queue of each app version (not those waiting out a retry backoff).',
      labelNames: ['app_version_id'],
      registers,
      collect() {
        this.reset();
        for (const [version, v] of byVersion(sources)) this.set({ app_version_id: version }, v.depth);
      },
    });
    new Gauge({
      name: 'qgjob_queue_oldest_wait_seconds',
      help: 'How long the longest-waiting queued job of each app version has been in its queue.',
      labelNames: ['app_version_id'],
      registers,
      collect() {
        this.reset();
        const now = sources.now();
        for (const [version, v] of byVersion(sources)) this.set({ app_version_id: version }, Math.max(0, now - v.oldestMs) / 1000);
      },
    });
    this.#installs = new Counter({ name: 'qgjob_installs_total', help: 'App build installs reported by agents (an install event stored) since the coordinator started.', registers });
    new Gauge({
      name: 'qgjob_installs_per_job',
      help: 'qgjob_installs_total / qgjob_jobs_started_total: the share of started attempts that had to install their build (0 before any started).',
      registers,
      collect() {
        this.set(metrics.#startedCount === 0 ? 0 : metrics.#installCount / metrics.#startedCount);
      },
    });
    this.#dispatch = new Histogram({
      name: 'qgjob_dispatch_latency_seconds',
      help: 'Time from a job entering its queue to an agent acknowledging its assignment.',
      buckets: DISPATCH_BUCKETS_S,
      registers,
    });
    new Gauge({
      name: 'qgjob_agents_connected',
      help: 'Agents connected now.',
      registers,
      collect() {
        this.set(sources.agents().filter((a) => a.connected).length);
      },
    });
    new Gauge({
      name: 'qgjob_slots',
      help: 'Slots of known agents by state (idle, busy, offline, quarantined, draining).',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map<string, number>(SLOT_STATES.map((s) => [s, 0]));
        for (const a of sources.agents()) for (const s of a.slots) counts.set(s.state, (counts.get(s.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    this.#logLines = new Counter({ name: 'qgjob_log_lines_total', help: 'Spec log lines stored since the coordinator started; rate() gives lines per second.', registers });
    collectDefaultMetrics({ register: this.registry });
  }

  /** The content type of `text()` (Prometheus text exposition format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** Every metric in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  submitted(): void {
    this.#submitted.inc();
  }

  started(installed: boolean): void {
    this.#started.inc();
    this.#startedCount++;
    if (installed) {
      this.#installs.inc();
      this.#installCount++;
    }
  }

  finished(status: JobState): void {
    this.#finished.inc({ status });
  }

  dispatched(waitMs: number): void {
    this.#dispatch.observe(waitMs / 1000);
  }

  logLines(count: number): void {
    this.#logLines.inc(count);
  }
}

/** Queue depth and the oldest entry time per app version. */
function byVersion(sources: MetricsSources): Map<string, { depth: number; oldestMs: number }> {
  const out = new Map<string, { depth: number; oldestMs: number }>();
  for (const q of sources.queued()) {
    const v = out.get(q.appVersionId);
    if (v) {
      v.depth++;
      v.oldestMs = Math.min(v.oldestMs, q.queuedSinceMs);
    } else out.set(q.appVersionId, { depth: 1, oldestMs: q.queuedSinceMs });
  }
  return out;
}
