/**
 * Error codes of qgjob's public API. Every HTTP error body, socket refusal and CLI failure carries
 * one of these. They are public: add rarely, never rename.
 */
export const ERROR_CODES = [
  'validation_failed', // a payload or parameter does not match its schema (HTTP 400, CLI exit 2)
  'invalid_json', // the request body is not JSON (HTTP 400)
  'payload_too_large', // the request body is over the limit (HTTP 413)
  'not_found', // no such route (HTTP 404)
  'job_not_found', // no job with that id (HTTP 404)
  'run_not_found', // no run with that id (HTTP 404)
  'build_not_found', // no app build registered for that app_version_id (or not that sha256 any more) (HTTP 404, CLI exit 2)
  'illegal_transition', // the job is not in a state that allows this move (HTTP 409)
  'idempotency_conflict', // an idempotency key was reused with a different payload (HTTP 409)
  'unauthorized', // no or an unknown API token while the coordinator requires one (HTTP 401)
  'forbidden', // the token's org may not do this (HTTP 403)
  'stale_attempt', // a message names an attempt that is no longer the job's current one (socket refusal)
  'unknown_agent', // a socket message before register, or for a slot the agent did not declare
  'store_unavailable', // the database did not take the write: nothing was accepted (HTTP 503)
  'coordinator_unreachable', // the CLI could not reach the coordinator (CLI exit 3)
  'internal', // a bug: logged with its stack (HTTP 500)
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** True for a code of this contract (an answer from another version may carry one this side does not know). */
export const isErrorCode = (c: unknown): c is ErrorCode => typeof c === 'string' && (ERROR_CODES as readonly string[]).includes(c);

/** Field-level details of a validation error: dotted path → message. */
export type FieldErrors = Record<string, string>;

/** The JSON body of every HTTP error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; fields?: FieldErrors };
}

/**
 * The one error class of qgjob. `code` is stable and machine-readable; `message` is for people.
 * @example throw new QgError('job_not_found', `no job with id ${id}`)
 */
export class QgError extends Error {
  override readonly name = 'QgError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields?: FieldErrors,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.fields ? { fields: this.fields } : {}) } };
  }
}

/** Flattens zod issues into `{ "path.to.field": "message" }`. */
export function fieldErrors(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string; code?: string; keys?: readonly string[] }>,
): FieldErrors {
  const out: FieldErrors = {};
  for (const issue of issues) {
    const at = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      for (const k of issue.keys) out[at ? `${at}.${k}` : k] ??= 'unknown field';
      continue;
    }
    out[at || '(body)'] ??= issue.message;
  }
  return out;
}
