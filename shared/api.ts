/** Shapes of the HTTP API's answers (`/api/v1/...`). Times are ISO-8601 strings in UTC. */
import type { JobState, Platform, Target, TestCaseResult } from './job.js';

export interface JobView {
  job_id: string;
  org_id: string;
  app_version_id: string;
  test_path: string;
  priority: number;
  target: Target;
  platform: Platform;
  status: JobState;
  /** Attempts made so far (an attempt is one assignment to a slot). */
  attempts: number;
  max_attempts: number;
  /** Deadline of an attempt once it runs (ms). */
  timeout_ms: number;
  /** Playwright retries of a failing test inside one run. */
  test_retries: number;
  /** While queued after an infrastructure error: not dispatched before this time (backoff). */
  not_before: string | null;
  /** The job this one was resubmitted from, if any. */
  resubmitted_from: string | null;
  /** The run the job belongs to (`POST /api/v1/runs`), if any. */
  run_id: string | null;
  attempt_id: string | null;
  agent_id: string | null;
  slot_id: string | null;
  created_at: string;
  updated_at: string;
  assigned_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  /** True when the current/last attempt had to install the build; null before it started. */
  installed_build: boolean | null;
  /**
   * Why the job did not pass: `test_failed` with the first failure's message when it `failed`; the
   * infrastructure reason (e.g. `agent_lost`, `runner_error`) when it ended in `error` or is being
   * retried after one; null otherwise.
   */
  error: { reason: string; message: string } | null;
  test_cases: TestCaseResult[];
  video: { url: string; platform: string | null; timestamp: string | null } | null;
  video_note: string | null;
  /** Why a queued job is waiting (present only while queued). */
  waiting_reason: string | null;
}

export interface JobList {
  jobs: JobView[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: string | null;
}

export interface SlotView {
  slot_id: string;
  target: Target;
  platform: Platform;
  device_name: string;
  endpoint: string;
  installed_app_version_id: string | null;
  /**
   * `offline`: the agent is disconnected or the device does not answer; `quarantined`: the slot
   * failed several jobs in a row for infrastructure reasons; `draining`: the agent is shutting down.
   * Only `idle` slots get new jobs.
   */
  state: 'idle' | 'busy' | 'offline' | 'quarantined' | 'draining';
  /** Why the slot is offline or quarantined. */
  health_reason: string | null;
  job_id: string | null;
  /** Builds installed on this slot since the agent connected. */
  installs: number;
}

export interface AgentView {
  agent_id: string;
  name: string;
  version: string;
  connected: boolean;
  connected_at: string;
  last_seen_at: string;
  slots: SlotView[];
}

export interface SubmitReply {
  job_id: string;
  status: 'queued';
}

export interface Health {
  ok: boolean;
  version: string;
  database: 'sqlite' | 'mysql';
  agents: number;
  queued: number;
}

/** A registered app build (`GET /api/v1/apps/:app_version_id`). */
export interface AppBuildView {
  app_version_id: string;
  platform: Platform;
  /** Hex sha256 of the file: the identity of the build. */
  sha256: string;
  size_bytes: number;
  file_name: string;
  /** `upload`: the coordinator holds the bytes; `url`: it registered `url` and redirects to it. */
  source: 'upload' | 'url';
  /** The registered URL (source `url`), else null. */
  url: string | null;
  /** Where to download exactly these bytes; it refuses once the version is replaced by another build. */
  download_url: string;
  /** When this build was registered under the version. */
  created_at: string;
}

/**
 * The answer to `POST /api/v1/apps`. HTTP 201 when the version got a build (`created`, or
 * `replaced`: a rebuilt binary under the same version string), 200 when it already had exactly
 * this one (`unchanged`: re-uploading is idempotent).
 */
export interface AppUploadReply extends AppBuildView {
  outcome: 'created' | 'unchanged' | 'replaced';
  /** With `replaced`: the sha256 the version had before. */
  previous_sha256: string | null;
}
