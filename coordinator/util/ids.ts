/**
 * Job, run and attempt ids. Job ids are `job_` + a ULID (48-bit time + 80 random bits, Crockford
 * base32), run ids `run_` + a ULID: they sort by creation time, which the lists page on, and never
 * look numeric.
 */
import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const HEX = '0123456789abcdef';

/**
 * Random bytes from the system CSPRNG, filled 4 KiB at a time: one `randomFillSync` call per 256
 * job ids instead of one per id (each call costs a few µs). Every byte is handed out once.
 */
const POOL = Buffer.alloc(4096);
let poolAt = POOL.length;

/** The offset in POOL of `n` fresh random bytes (read them before the next call). */
function take(n: number): number {
  if (poolAt + n > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += n;
  return at;
}

export function ulid(nowMs: number): string {
  let time = '';
  let t = nowMs;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const at = take(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += ALPHABET[POOL[at + i]! % 32];
  return time + rand;
}

export const newJobId = (nowMs: number): string => `job_${ulid(nowMs)}`;
export const newRunId = (nowMs: number): string => `run_${ulid(nowMs)}`;

/** `<jobId>.<attempt>.<random>`: readable in logs, unguessable across restarts. */
export function newAttemptId(jobId: string, attempt: number): string {
  const at = take(4);
  let hex = '';
  for (let i = 0; i < 4; i++) hex += HEX[POOL[at + i]! >> 4]! + HEX[POOL[at + i]! & 15]!;
  return `${jobId}.${attempt}.${hex}`;
}
