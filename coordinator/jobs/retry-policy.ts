/**
 * What happens after an infrastructure failure (pure): run the job again while attempts remain,
 * else end it in `error`. A test that failed (`failed`) never comes here.
 */
export type RetryDecision = { action: 'requeue' } | { action: 'give_up'; reason: 'attempts_exhausted' };

/** @example decideRetry({ attempts: 1, maxAttempts: 3 }) // → { action: 'requeue' } */
export function decideRetry(job: { attempts: number; maxAttempts: number }): RetryDecision {
  return job.attempts < job.maxAttempts ? { action: 'requeue' } : { action: 'give_up', reason: 'attempts_exhausted' };
}
