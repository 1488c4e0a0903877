/**
 * Job, run and attempt ids: their shape, time order, and that the random part (drawn from a pooled
 * buffer of CSPRNG bytes) is never handed out twice, also across refills of the pool.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { newAttemptId, newJobId, newRunId, ulid } from '../../coordinator/util/ids.js';

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;

test('job and run ids are a prefix and a ULID of the given time', () => {
  const id = newJobId(1_700_000_000_000);
  assert.match(id, /^job_/);
  assert.match(id.slice(4), CROCKFORD);
  assert.match(newRunId(1_700_000_000_000), /^run_[0-9A-HJKMNP-TV-Z]{26}$/);
  // The first 10 characters encode the time: later ids sort after earlier ones.
  assert.ok(ulid(1_700_000_000_001).slice(0, 10) > ulid(1_700_000_000_000).slice(0, 10));
  assert.is(ulid(1_700_000_000_000).slice(0, 10), ulid(1_700_000_000_000).slice(0, 10));
});

test('ids of the same millisecond differ, over several refills of the random pool', () => {
  const ids = new Set<string>();
  const rands = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const u = ulid(1_700_000_000_000);
    ids.add(u);
    rands.add(u.slice(10));
  }
  assert.is(ids.size, 5000);
  assert.is(rands.size, 5000);
});

test('attempt ids: job id, attempt number and 8 hex digits, different each time', () => {
  const job = newJobId(1_700_000_000_000);
  const seen = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const a = newAttemptId(job, 3);
    assert.ok(a.startsWith(`${job}.3.`), a);
    assert.match(a.slice(job.length + 3), /^[0-9a-f]{8}$/);
    seen.add(a);
  }
  assert.is(seen.size, 3000);
  // The random suffix is not stuck on a few values: all 16 hex digits show up.
  const digits = new Set([...seen].flatMap((a) => [...a.slice(-8)]));
  assert.is(digits.size, 16);
});

test.run();
