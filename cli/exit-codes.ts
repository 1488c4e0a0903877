/**
 * The exit statuses of `qgjob`, named once, and the one place that maps an error or a finished job
 * to them. CI scripts depend on these numbers: never renumber them.
 *
 * | code | name          | when                                                                         |
 * |------|---------------|------------------------------------------------------------------------------|
 * | 0    | OK            | the command did what was asked; a followed job or run `passed`               |
 * | 1    | TEST_FAILED   | a followed job ended `failed`: the spec ran and a test failed; a followed    |
 * |      |               | run ended `failed`: at least one of its jobs `failed` or `timed_out`         |
 * | 2    | USAGE         | bad usage or input: unknown flag or command, missing or bad option, a 400    |
 * |      |               | from the coordinator, no such job or build, a build over the size limit, a   |
 * |      |               | move the job's state does not allow                                          |
 * | 3    | INFRA         | the coordinator is unreachable or broke, or a followed job ended without a   |
 * |      |               | test verdict: `error` (our side broke), `timed_out`, or `cancelled`; a       |
 * |      |               | followed run ended `error` (no test failed, a job errored) or `cancelled`    |
 *
 * `cancelled` maps to 3, not 0: a job or run that was cancelled proved nothing, so CI must not pass
 * on it. A run's status is `runStatus` (shared/run.ts): a test failure anywhere outranks an error.
 */
import { QgError, type ErrorCode, type JobState, type RunState } from '../shared/index.js';

export const EXIT = {
  OK: 0,
  TEST_FAILED: 1,
  USAGE: 2,
  INFRA: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Error codes that mean "the request was wrong", as opposed to "something on our side broke". */
const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'validation_failed',
  'invalid_json',
  'job_not_found',
  'run_not_found',
  'idempotency_conflict',
  'unauthorized',
  'forbidden',
  'build_not_found',
  'payload_too_large',
  'illegal_transition',
]);

/** A usage error raised by cac itself (unknown option, missing value, missing argument). */
export const isCacError = (err: unknown): err is Error => err instanceof Error && err.name === 'CACError';

/**
 * The exit status for anything a command throws: a usage error from cac or from our own flag
 * checks → 2; a `QgError` by its code; anything else (a bug) → 3.
 * @example process.exitCode = exitCodeForError(new QgError('coordinator_unreachable', '…')) // 3
 */
export function exitCodeForError(err: unknown): ExitCode {
  if (isCacError(err)) return EXIT.USAGE;
  if (err instanceof QgError) return USAGE_CODES.has(err.code) ? EXIT.USAGE : EXIT.INFRA;
  return EXIT.INFRA;
}

/**
 * The exit status of a command that followed a job to its end (`watch`, `status --watch`,
 * `submit --wait`). A job that is not final yet maps to OK (the command itself succeeded).
 * @example exitCodeForJob('failed') // 1
 */
export function exitCodeForJob(status: JobState): ExitCode {
  switch (status) {
    case 'passed':
      return EXIT.OK;
    case 'failed':
      return EXIT.TEST_FAILED;
    case 'error':
    case 'timed_out':
    case 'cancelled':
      return EXIT.INFRA;
    default:
      return EXIT.OK;
  }
}

/**
 * The exit status of a command that followed a run to its end (`submit --wait` with several tests,
 * `status --run --watch`, `rerun --wait`): passed 0, failed 1, error or cancelled 3. A run that is
 * not final yet maps to OK.
 * @example exitCodeForRun('failed') // 1
 */
export function exitCodeForRun(status: RunState): ExitCode {
  switch (status) {
    case 'passed':
      return EXIT.OK;
    case 'failed':
      return EXIT.TEST_FAILED;
    case 'error':
    case 'cancelled':
      return EXIT.INFRA;
    default:
      return EXIT.OK;
  }
}
