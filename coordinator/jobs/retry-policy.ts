/**
 * What happens after an infrastructure failure (pure): run the job again after a backoff while
 * attempts remain, else end it in `error`. A test that failed (`failed`) never comes here.
 * Backoff: `baseMs · 2^(attempt−1)`, capped at `maxMs`, with "full jitter" (a uniform draw in
 * [50 %, 100 %] of it) so a fleet-wide failure does not retry in lockstep. The random draw is an
 * argument, so the policy stays pure and testable.
 */
export interface BackoffOptions {
  /** First retry delay (ms). Default 1000. */
  baseMs: number;
  /** Largest delay (ms). Default 30000. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000 };

export type RetryDecision = { action: 'requeue'; delayMs: number } | { action: 'give_up'; reason: 'attempts_exhausted' };

/**
 * @param random a draw in [0, 1)
 * @example decideRetry({ attempts: 1, maxAttempts: 3 }, DEFAULT_BACKOFF, 0.5) // → { action: 'requeue', delayMs: 750 }
 */
export function decideRetry(job: { attempts: number; maxAttempts: number }, backoff: BackoffOptions, random: number): RetryDecision {
  if (job.attempts >= job.maxAttempts) return { action: 'give_up', reason: 'attempts_exhausted' };
  const exp = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, job.attempts - 1));
  return { action: 'requeue', delayMs: Math.round(exp * (0.5 + 0.5 * random)) };
}
