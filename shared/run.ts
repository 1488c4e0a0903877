/**
 * A run: a suite submitted as one unit (several spec files, one job each) with an id. CI submits a
 * run, follows it to its end, and reruns only its failures. The status of a run is derived from its
 * jobs by `runStatus`, here, so coordinator, CLI, GitHub Action and dashboard agree on it.
 */
import { z } from 'zod';
import type { JobView } from './api.js';
import { type JobState, JobSpec, TestPath, isFinal } from './job.js';

export const RUN_MAX_TESTS = 1000;

/**
 * The payload of `POST /api/v1/runs`: the job fields every job of the run shares, and its spec files.
 * `idempotency_key` makes a resubmission of the same CI attempt return the run it already created
 * instead of a second one (e.g. `github:<repo>:<run_id>:<run_attempt>:<job>`); reusing a key with a
 * different payload is refused with `idempotency_conflict`.
 */
export const RunSpec = JobSpec.omit({ test_path: true })
  .extend({
    tests: z
      .array(TestPath, { error: 'tests must be a list of spec paths' })
      .min(1, 'tests must name at least one spec file')
      .max(RUN_MAX_TESTS, `tests may name at most ${RUN_MAX_TESTS} spec files`)
      .refine((t) => new Set(t).size === t.length, 'tests must not name a spec file twice'),
    /** A label people recognise (e.g. "CI #812 (push main)"). */
    name: z.string({ error: 'name must be a string' }).trim().min(1, 'name must not be empty').max(200, 'name must be at most 200 characters').optional(),
    idempotency_key: z
      .string({ error: 'idempotency_key must be a string' })
      .min(1, 'idempotency_key must not be empty')
      .max(255, 'idempotency_key must be at most 255 characters')
      .optional(),
  })
  .strict();
export type RunSpecInput = z.input<typeof RunSpec>;
export type RunSpec = z.output<typeof RunSpec>;

/** `POST /api/v1/runs/:id/rerun`: which jobs of the run to submit again as a new run. */
export const RerunSpec = z
  .object({
    /** `failed` (default): jobs that ended failed, error, timed_out or cancelled. `all`: every job. */
    only: z.enum(['failed', 'all'], { error: 'only must be failed or all' }).default('failed'),
    idempotency_key: z.string().min(1).max(255).optional(),
  })
  .strict();
export type RerunSpecInput = z.input<typeof RerunSpec>;

export const RUN_STATES = ['queued', 'running', 'passed', 'failed', 'error', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

/** Job states that a rerun of `failed` picks up. */
export const RERUN_STATES: ReadonlySet<JobState> = new Set<JobState>(['failed', 'error', 'timed_out', 'cancelled']);

/**
 * A run's state from its jobs' states:
 * - not every job final → `running` once any job left the queue, else `queued`;
 * - every job final → `passed` if all passed; `failed` if any test failed (failed, timed_out);
 *   else `error` if any job ended in error; else `cancelled`.
 * @example runStatus(['passed', 'failed']) // 'failed'
 */
export function runStatus(states: readonly JobState[]): RunState {
  if (states.some((s) => !isFinal(s))) return states.some((s) => s !== 'queued') ? 'running' : 'queued';
  if (states.every((s) => s === 'passed')) return 'passed';
  if (states.some((s) => s === 'failed' || s === 'timed_out')) return 'failed';
  if (states.some((s) => s === 'error')) return 'error';
  return 'cancelled';
}

/** `GET /api/v1/runs/:id`. */
export interface RunView {
  run_id: string;
  org_id: string;
  app_version_id: string;
  name: string | null;
  idempotency_key: string | null;
  /** The run this one reran (`qgjob rerun --failed`), if any. */
  rerun_of: string | null;
  status: RunState;
  total: number;
  /** Jobs in a final state. */
  done: number;
  /** Jobs per state (every state present, 0 when none). */
  counts: Record<JobState, number>;
  created_at: string;
  /** When the last job ended; null while any runs. */
  finished_at: string | null;
  /** finished_at − created_at; null while any runs. */
  duration_ms: number | null;
  /** The run's jobs in the order of `tests`. */
  jobs: JobView[];
}

/** `POST /api/v1/runs` (201 created; 200 when `idempotency_key` named a run that exists). */
export interface SubmitRunReply {
  run_id: string;
  /** False when the idempotency key returned an existing run. */
  created: boolean;
  jobs: { job_id: string; test_path: string }[];
}

export interface RunList {
  runs: RunView[];
  next_cursor: string | null;
}
