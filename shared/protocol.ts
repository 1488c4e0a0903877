/**
 * The Socket.IO wire contract: namespace `/agents` (agents ⇄ coordinator) and `/watch`
 * (watchers ⇄ coordinator). Every payload is a zod schema; both ends parse what they receive.
 * Every acknowledgement is the last argument and answers with an `Ack`.
 */
import { z } from 'zod';
import type { ErrorCode } from './errors.js';
import { ERROR_REASONS, JobState, Platform, Target, TestCaseResult } from './job.js';
import type { JobView } from './api.js';
import type { RunView } from './run.js';

export const AGENTS_NAMESPACE = '/agents';
export const WATCH_NAMESPACE = '/watch';

/** Answer to every acknowledged message. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: { code: ErrorCode; message: string } };

const Id = z.string().min(1).max(255);
export const SLOT_HEALTH = ['ok', 'offline', 'quarantined'] as const;
export type SlotHealth = (typeof SLOT_HEALTH)[number];
/**
 * Agent and slot ids: letters, digits and `. _ : @ -` (no `/`, which joins them into slot keys,
 * and no spaces).
 */
export const AGENT_ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
const AgentId = z.string().regex(AGENT_ID_PATTERN, 'must be 1-128 letters, digits or . _ : @ -');

// ───────────────────────────── /agents ─────────────────────────────

/** One place a job can run: a device (or emulator) behind an Appium endpoint, or a cloud session. */
export const SlotInfo = z.object({
  slot_id: AgentId,
  target: Target,
  platform: Platform,
  device_name: z.string().max(255),
  /** WebDriver/Appium base URL the slot's sessions are created on. */
  endpoint: z.string().max(1024),
  /** The app build currently installed on the device; null when unknown or none. */
  installed_app_version_id: z.string().max(255).nullable(),
  /** `offline`: the device does not answer; `quarantined`: it failed several jobs in a row. Neither gets jobs. */
  health: z.enum(SLOT_HEALTH).default('ok'),
  health_reason: z.string().max(2000).nullable().default(null),
  /** Cloud slots: the account whose parallel sessions they share (e.g. `browserstack:<user>`), and its cap. */
  cloud_account: z.string().max(255).nullable().default(null),
  cloud_cap: z.number().int().positive().nullable().default(null),
});
export type SlotInfo = z.output<typeof SlotInfo>;

/** What an agent still runs when it (re)connects. */
export const RunningAttempt = z.object({ job_id: Id, attempt_id: Id, slot_id: Id });
export type RunningAttempt = z.infer<typeof RunningAttempt>;

export const RegisterPayload = z.object({
  agent_id: AgentId,
  name: z.string().min(1).max(255),
  version: z.string().max(64),
  slots: z.array(SlotInfo).min(1).max(1000),
  running: z.array(RunningAttempt).max(1000).default([]),
});
export type RegisterPayload = z.input<typeof RegisterPayload>;
export interface RegisterReply {
  heartbeat_interval_ms: number;
  /** Attempts from `running` the coordinator no longer considers current: stop them. */
  cancel_attempts: string[];
}

export const HeartbeatPayload = z.object({ running: z.array(RunningAttempt).max(1000) });
export type HeartbeatPayload = z.infer<typeof HeartbeatPayload>;

export const SlotUpdatePayload = z.object({
  slot_id: Id,
  installed_app_version_id: z.string().max(255).nullable(),
  health: z.enum(SLOT_HEALTH).default('ok'),
  health_reason: z.string().max(2000).nullable().default(null),
});
export type SlotUpdatePayload = z.input<typeof SlotUpdatePayload>;

/** Pushed to the agent; it acknowledges with `{ok:true}` (taken) or an error (refused, e.g. slot busy). */
export interface Assignment {
  job_id: string;
  attempt_id: string;
  attempt: number;
  slot_id: string;
  org_id: string;
  app_version_id: string;
  test_path: string;
  target: Target;
  platform: Platform;
  priority: number;
  /** Playwright retries of a failing test inside this run. */
  test_retries: number;
  /**
   * The registered build of `app_version_id` as the coordinator holds it at dispatch: the agent
   * installs exactly these bytes (compare devices by `sha256`, not by version string). Null when the
   * agent provides the build itself: the job asked for `build: "agent"`, or (`auto`) no build is
   * registered for the version.
   */
  build: AssignedBuild | null;
}

/** A registry build as an assignment carries it. */
export interface AssignedBuild {
  /** Hex sha256 of the file: the identity of the build. */
  sha256: string;
  size_bytes: number;
  /** The uploaded file's name; keep its extension (`.apk`, `.ipa`, `.app.zip`, …): drivers read it. */
  file_name: string;
  platform: Platform;
  /**
   * Where to download the bytes: a path on the coordinator (`/api/v1/apps/<id>/download?sha256=…`),
   * to resolve against the coordinator's base URL (`new URL(download_url, coordinatorUrl)`). It may
   * answer with a redirect (a build registered by URL). It refuses once the version was replaced by
   * another build, so an agent never installs bytes other than `sha256`.
   */
  download_url: string;
}

export const StartedPayload = z.object({
  job_id: Id,
  attempt_id: Id,
  /** Set when this attempt had to install the build first (a new device session). */
  install: z.object({ app_version_id: z.string().max(255), duration_ms: z.number().int().nonnegative() }).nullable(),
});
export type StartedPayload = z.infer<typeof StartedPayload>;

export const LogLine = z.object({
  /** Epoch milliseconds when the agent read the line. */
  at_ms: z.number().int().nonnegative(),
  stream: z.enum(['stdout', 'stderr', 'agent']),
  text: z.string().max(64 * 1024),
});
export type LogLine = z.infer<typeof LogLine>;

/** A chunk of log lines; `seq` counts chunks of one attempt from 0 with no gap. */
export const LogChunkPayload = z.object({
  job_id: Id,
  attempt_id: Id,
  seq: z.number().int().nonnegative(),
  lines: z.array(LogLine).min(1).max(10_000),
});
export type LogChunkPayload = z.infer<typeof LogChunkPayload>;

export const OUTCOMES = ['passed', 'failed', 'error'] as const;
export const FinishedPayload = z.object({
  job_id: Id,
  attempt_id: Id,
  /** `failed`: the test ran and failed. `error`: our side broke (retried by the coordinator). */
  outcome: z.enum(OUTCOMES),
  error_message: z.string().max(20000).nullable(),
  test_cases: z.array(TestCaseResult).max(10_000),
  duration_ms: z.number().int().nonnegative(),
  /** Number of log chunks the agent sent for this attempt (the coordinator checks for gaps). */
  log_chunks: z.number().int().nonnegative(),
  video: z.object({ url: z.string().min(1).max(4096), platform: z.string().max(50) }).nullable(),
  /** Why there is no video, when there is none (e.g. "the driver cannot record the screen"). */
  video_note: z.string().max(2000).nullable(),
  /** With `error`: why (default `runner_error`; `agent_shutdown` when the agent hands the attempt back). */
  error_reason: z.enum(ERROR_REASONS).nullable().default(null),
});
export type FinishedPayload = z.input<typeof FinishedPayload>;

export interface CancelOrder {
  job_id: string;
  attempt_id: string;
  reason: string;
}

export interface AgentToCoordinator {
  register: (p: RegisterPayload, ack: (a: Ack<RegisterReply>) => void) => void;
  heartbeat: (p: HeartbeatPayload, ack: (a: Ack<{ cancel_attempts: string[] }>) => void) => void;
  slot_update: (p: SlotUpdatePayload, ack: (a: Ack) => void) => void;
  started: (p: StartedPayload, ack: (a: Ack) => void) => void;
  log: (p: LogChunkPayload, ack: (a: Ack<{ seq: number }>) => void) => void;
  finished: (p: FinishedPayload, ack: (a: Ack) => void) => void;
  /** The agent is shutting down: give its slots no new work (running attempts finish or come back). */
  drain: (p: Record<string, never>, ack: (a: Ack) => void) => void;
}
export interface CoordinatorToAgent {
  assign: (a: Assignment, ack: (a: Ack) => void) => void;
  cancel: (c: CancelOrder) => void;
}

// ───────────────────────────── /watch ─────────────────────────────

export const SubscribePayload = z.object({
  job_id: Id,
  /** Resume after this event id; 0 (default) replays everything. */
  after_event_id: z.number().int().nonnegative().default(0),
});
export type SubscribePayload = z.input<typeof SubscribePayload>;

/** Every event of a job carries a per-job `event_id` that grows by one: no gap, no duplicate. */
export type JobEvent =
  | { job_id: string; event_id: number; at: string; type: 'state'; from: JobState | null; to: JobState; attempt: number; message: string | null }
  | { job_id: string; event_id: number; at: string; type: 'log'; attempt: number; lines: LogLine[] }
  | { job_id: string; event_id: number; at: string; type: 'install'; attempt: number; slot_id: string; app_version_id: string; duration_ms: number };

/** `subscribe_run`: follow a run's jobs' state changes (not their logs) until every job has ended. */
export const SubscribeRunPayload = z.object({ run_id: Id });
export type SubscribeRunPayload = z.input<typeof SubscribeRunPayload>;

/**
 * The answer to `subscribe_run`: the run now, and per job the id of the last event this view
 * includes. The coordinator joins the watcher to the run's room before it reads the view, so no
 * change is missed; a `run_job` whose `event_id` is not above the watcher's id for that job is
 * already in the view: drop it.
 */
export interface RunSnapshot {
  run: RunView;
  event_ids: Record<string, number>;
}

/** A job of a watched run changed state: the job after the move, and that move's event id. */
export interface RunJobUpdate {
  run_id: string;
  job: JobView;
  event_id: number;
}

export interface WatcherToCoordinator {
  subscribe: (p: SubscribePayload, ack: (a: Ack<{ job: JobView }>) => void) => void;
  unsubscribe: (p: { job_id: string }, ack: (a: Ack) => void) => void;
  subscribe_run: (p: SubscribeRunPayload, ack: (a: Ack<RunSnapshot>) => void) => void;
  unsubscribe_run: (p: { run_id: string }, ack: (a: Ack) => void) => void;
}
export interface CoordinatorToWatcher {
  event: (e: JobEvent) => void;
  /** After the final state event: the job as it ended (result, test cases, video). */
  end: (p: { job_id: string; job: JobView }) => void;
  run_job: (p: RunJobUpdate) => void;
  /** Once every job of the run has ended (sent once per subscription): the run as it ended. */
  run_end: (p: { run: RunView }) => void;
}
