/**
 * Job, run and attempt ids. Job ids are `job_` + a ULID (48-bit time + 80 random bits, Crockford
 * base32), run ids `run_` + a ULID: they sort by creation time, which the lists page on, and never
 * look numeric.
 */
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function ulid(nowMs: number): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[bytes[i]! % 32];
  return time + rand;
}

export const newJobId = (nowMs: number): string => `job_${ulid(nowMs)}`;
export const newRunId = (nowMs: number): string => `run_${ulid(nowMs)}`;

/** `<jobId>.<attempt>.<random>`: readable in logs, unguessable across restarts. */
export const newAttemptId = (jobId: string, attempt: number): string => `${jobId}.${attempt}.${randomBytes(4).toString('hex')}`;
