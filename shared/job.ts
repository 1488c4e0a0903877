/**
 * The job: what a client submits, the states a job moves through, and the one state machine that
 * says which moves are legal. Coordinator, agent and CLI all read it from here.
 */
import { z } from 'zod';
import { QgError } from './errors.js';
import { BUILD_MODES, JOB_STATES, PLATFORMS, TARGETS } from './enums.js';

export { BUILD_MODES, JOB_STATES, PLATFORMS, TARGETS };

export const Target = z.enum(TARGETS);
export type Target = z.infer<typeof Target>;

export const Platform = z.enum(PLATFORMS);
export type Platform = z.infer<typeof Platform>;

/** Priority scale: 1 (lowest) … 10 (highest); higher runs first within an org. Default 5. */
export const PRIORITY_MIN = 1;
export const PRIORITY_MAX = 10;
export const PRIORITY_DEFAULT = 5;

export const TIMEOUT_MIN_MS = 1000;
export const TIMEOUT_MAX_MS = 24 * 3600 * 1000;
export const TIMEOUT_DEFAULT_MS = 30 * 60 * 1000;

/** Identifier-like strings: org ids, app version ids. Kept as strings even when they look numeric. */
const Ident = (what: string) =>
  z
    .string({ error: `${what} must be a string` })
    .trim()
    .min(1, `${what} must not be empty`)
    .max(255, `${what} must be at most 255 characters`)
    .regex(/^[A-Za-z0-9._:@\/-]+$/, `${what} may contain only letters, digits and . _ : @ / -`);

/** An app build's version id: what jobs name and the build registry files builds under. */
export const AppVersionId = Ident('app_version_id');

/**
 * Where the agent gets the job's build (`build` in the submit payload):
 * - `auto` (default): the build registered for the app_version_id (`qgjob app upload`) when there
 *   is one, else the agent's own build files (its `apps` map / `--app`);
 * - `registry`: the registered build; a job whose app_version_id has none is refused at submit
 *   (`build_not_found`);
 * - `agent`: always the agent's own build files, even when a build is registered.
 */
export const BuildMode = z.enum(BUILD_MODES);
export type BuildMode = z.infer<typeof BuildMode>;

/** A spec file's path, relative to the agent's test project. */
export const TestPath = z
  .string({ error: 'test_path must be a string' })
  .trim()
  .min(1, 'test_path must not be empty')
  .max(1024, 'test_path must be at most 1024 characters')
  .refine((p) => !p.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(p), 'test_path must be relative to the test project')
  .refine((p) => !p.split(/[\\/]/).includes('..'), 'test_path must not leave the test project (no "..")');

/** The submit payload (PRODUCT.md), as the HTTP API and the CLI accept it. */
export const JobSpec = z
  .object({
    org_id: Ident('org_id'),
    app_version_id: AppVersionId,
    test_path: TestPath,
    priority: z
      .number({ error: `priority must be an integer from ${PRIORITY_MIN} to ${PRIORITY_MAX}` })
      .int(`priority must be an integer from ${PRIORITY_MIN} to ${PRIORITY_MAX}`)
      .min(PRIORITY_MIN, `priority must be at least ${PRIORITY_MIN}`)
      .max(PRIORITY_MAX, `priority must be at most ${PRIORITY_MAX}`)
      .default(PRIORITY_DEFAULT),
    target: z.enum(TARGETS, { error: `target must be one of ${TARGETS.join(', ')}` }),
    platform: z.enum(PLATFORMS, { error: `platform must be one of ${PLATFORMS.join(', ')}` }).default('android'),
    max_attempts: z
      .number({ error: 'max_attempts must be an integer from 1 to 10' })
      .int('max_attempts must be an integer from 1 to 10')
      .min(1, 'max_attempts must be at least 1')
      .max(10, 'max_attempts must be at most 10')
      .default(3),
    /** Deadline of one attempt once it runs (ms); past it the job ends `timed_out`. Default 30 min. */
    timeout_ms: z
      .number({ error: `timeout_ms must be an integer from ${TIMEOUT_MIN_MS} to ${TIMEOUT_MAX_MS}` })
      .int('timeout_ms must be an integer')
      .min(TIMEOUT_MIN_MS, `timeout_ms must be at least ${TIMEOUT_MIN_MS} (1 s)`)
      .max(TIMEOUT_MAX_MS, `timeout_ms must be at most ${TIMEOUT_MAX_MS} (24 h)`)
      .default(TIMEOUT_DEFAULT_MS),
    /** How often Playwright retries a failing test inside one run (its `retries`). Default 0. */
    test_retries: z
      .number({ error: 'test_retries must be an integer from 0 to 5' })
      .int('test_retries must be an integer from 0 to 5')
      .min(0, 'test_retries must be at least 0')
      .max(5, 'test_retries must be at most 5')
      .default(0),
    /** Where the agent gets the build: see BUILD_MODES. Default `auto`. */
    build: z.enum(BUILD_MODES, { error: `build must be one of ${BUILD_MODES.join(', ')}` }).default('auto'),
  })
  .strict();
export type JobSpecInput = z.input<typeof JobSpec>;
export type JobSpec = z.output<typeof JobSpec>;

export const JobState = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobState>;

export const FINAL_STATES: ReadonlySet<JobState> = new Set(['passed', 'failed', 'error', 'cancelled', 'timed_out']);
export const isFinal = (s: JobState): boolean => FINAL_STATES.has(s);

/**
 * The moves of the job state machine (ARCHITECTURE.md):
 *
 *   queued ──assign──▶ assigned ──start──▶ running ──pass/fail──▶ passed | failed
 *     ▲                   │                  │
 *     └──── requeue ──────┴──────────────────┴── give_up ──▶ error (attempts exhausted, or not retryable)
 *   queued | assigned | running ──cancel──▶ cancelled          running ──time_out──▶ timed_out
 */
export const TRANSITIONS = {
  assign: { from: ['queued'], to: 'assigned' },
  start: { from: ['assigned'], to: 'running' },
  pass: { from: ['running'], to: 'passed' },
  fail: { from: ['running'], to: 'failed' },
  requeue: { from: ['assigned', 'running'], to: 'queued' },
  give_up: { from: ['queued', 'assigned', 'running'], to: 'error' },
  cancel: { from: ['queued', 'assigned', 'running'], to: 'cancelled' },
  time_out: { from: ['running'], to: 'timed_out' },
} as const satisfies Record<string, { from: readonly JobState[]; to: JobState }>;
export type JobMove = keyof typeof TRANSITIONS;

/** The state a move leads to from `from`; throws `illegal_transition` if the move is not allowed there. */
export function nextState(from: JobState, move: JobMove): JobState {
  const t = TRANSITIONS[move];
  if (!(t.from as readonly JobState[]).includes(from)) {
    throw new QgError('illegal_transition', `cannot ${move.replace('_', ' ')} a job that is ${from}`);
  }
  return t.to;
}

/** True when `move` is legal from `from`. */
export const canMove = (from: JobState, move: JobMove): boolean =>
  (TRANSITIONS[move].from as readonly JobState[]).includes(from);

/**
 * Why an attempt broke (infrastructure, never the test itself); shown as `error.reason` while the
 * job is retried and when it ends in `error`. A job that `failed` has the reason `test_failed`.
 */
export const ERROR_REASONS = [
  'agent_lost', // the agent disconnected or stopped renewing the attempt's lease
  'assignment_unacknowledged', // the agent did not acknowledge the assignment in time
  'assignment_refused', // the agent refused the assignment (e.g. its slot was busy)
  'runner_error', // the agent could not run the spec (device session, Playwright, missing build)
  'agent_shutdown', // the agent was stopped (SIGTERM) and handed the attempt back
  'device_offline', // the slot's device (its Appium server) did not answer
  'cloud_quota', // the cloud account had no free parallel session
] as const;
export type ErrorReason = (typeof ERROR_REASONS)[number];

export const TEST_CASE_STATUSES = ['passed', 'failed', 'skipped', 'timedOut', 'interrupted'] as const;
export const TestCaseStatus = z.enum(TEST_CASE_STATUSES);
export type TestCaseStatus = z.infer<typeof TestCaseStatus>;

/** One test case of a spec, from Playwright's JSON report. */
export const TestCaseResult = z.object({
  title: z.string().max(2000),
  /** Describe blocks and title joined with " › ". */
  full_title: z.string().max(4000),
  status: TestCaseStatus,
  duration_ms: z.number().int().nonnegative(),
  error_message: z.string().max(20000).nullable(),
  retry: z.number().int().nonnegative(),
});
export type TestCaseResult = z.infer<typeof TestCaseResult>;
