/**
 * The `/dashboard` Socket.IO namespace: what the coordinator pushes to the web dashboard. A page
 * gets one `snapshot` when it connects, then `update`s that replace whole sections (only the ones
 * that changed) and append log lines. Everything is filtered for the connection's token: an org's
 * token sees only that org's queues, jobs, results and runs.
 */
import type { AgentView, SlotView } from './api.js';
import type { LogLine } from './protocol.js';
import type { JobState, Platform, Target } from './job.js';
import type { RunView } from './run.js';

export const DASHBOARD_NAMESPACE = '/dashboard';

/** The queued jobs of one app version the viewer may see. */
export interface DashboardQueue {
  app_version_id: string;
  /** Orgs with jobs in this queue (for an org's token: only that org). */
  org_ids: string[];
  /** Jobs waiting for a slot. Jobs waiting out a retry backoff are not counted until it ends. */
  depth: number;
  /** Jobs of this version on a slot (assigned or running). */
  running: number;
  /** Submit time of the job waiting longest; null when `depth` is 0. Its wait is `at − oldest_queued_at`. */
  oldest_queued_at: string | null;
  /** Highest priority waiting; null when `depth` is 0. */
  top_priority: number | null;
  /** Depth per slot class, e.g. `{"emulator/android": 3}`. */
  by_class: Record<string, number>;
}

/**
 * A slot as the viewer may see it. When it holds (or last ran) another org's job, `job_id` and
 * `installed_app_version_id` are null and `redacted` is true.
 */
export interface DashboardSlot extends SlotView {
  redacted: boolean;
}

export interface DashboardAgent extends Omit<AgentView, 'slots'> {
  slots: DashboardSlot[];
}

/** A job on a slot (assigned or running). */
export interface DashboardRunningJob {
  job_id: string;
  org_id: string;
  app_version_id: string;
  test_path: string;
  target: Target;
  platform: Platform;
  priority: number;
  status: Extract<JobState, 'assigned' | 'running'>;
  attempt: number;
  max_attempts: number;
  agent_id: string | null;
  slot_id: string | null;
  assigned_at: string | null;
  started_at: string | null;
  /** True when this attempt installed the build first; null before it started. */
  installed_build: boolean | null;
}

/** A log line in a running job's tail; `n` grows by one per line of the job (never reused), so a page can drop repeats. */
export interface DashboardLogLine extends LogLine {
  n: number;
}

/** The last lines of a running job's current attempt. */
export interface DashboardTail {
  job_id: string;
  attempt: number;
  lines: DashboardLogLine[];
}

/** A job that ended. */
export interface DashboardResult {
  job_id: string;
  org_id: string;
  app_version_id: string;
  test_path: string;
  target: Target;
  platform: Platform;
  status: Extract<JobState, 'passed' | 'failed' | 'error' | 'cancelled' | 'timed_out'>;
  attempts: number;
  /** How long the spec ran, as the agent measured it; null when it never ran. */
  duration_ms: number | null;
  finished_at: string | null;
  agent_id: string | null;
  slot_id: string | null;
  error: { reason: string; message: string } | null;
  video_url: string | null;
  /** Test cases by status, e.g. `{passed: 3, failed: 1}`. */
  tests: Record<string, number>;
}

/** A run without its job list. */
export type DashboardRun = Omit<RunView, 'jobs' | 'idempotency_key'>;

/** Everything a page shows; sent once per connection. */
export interface DashboardSnapshot {
  /** Server time of the snapshot (use it, not the browser's clock, for waits and ages). */
  at: string;
  version: string;
  /** Whom the connection acts as: an org, or `*` (every org). */
  viewer: { org: string };
  /** True when the coordinator requires tokens. */
  auth: boolean;
  queues: DashboardQueue[];
  agents: DashboardAgent[];
  running: DashboardRunningJob[];
  /** Log tails of the running jobs. */
  tails: DashboardTail[];
  /** Jobs that ended, newest first (at most 50). */
  recent: DashboardResult[];
  /** Runs, newest first; null when this coordinator has no runs. */
  runs: DashboardRun[] | null;
}

/**
 * A change: the sections present replace the page's; `logs` appends lines to tails (a tail whose
 * attempt changed starts again). Sent at most a few times a second, coalescing what happened meanwhile.
 */
export interface DashboardUpdate {
  at: string;
  queues?: DashboardQueue[];
  agents?: DashboardAgent[];
  running?: DashboardRunningJob[];
  recent?: DashboardResult[];
  runs?: DashboardRun[] | null;
  logs?: DashboardTail[];
}

export interface CoordinatorToDashboard {
  snapshot: (s: DashboardSnapshot) => void;
  update: (u: DashboardUpdate) => void;
}

/** A page only listens. */
export type DashboardToCoordinator = Record<string, never>;

/** `data` of the connect error a page gets when the coordinator requires a token it did not send (or sent a wrong one). */
export interface DashboardConnectError {
  code: 'unauthorized';
  message: string;
}
