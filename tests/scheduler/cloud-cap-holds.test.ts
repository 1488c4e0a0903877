import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { assigned, busy, job, queues, round, slot } from './helpers.js';

test('a free slot of an account at its cap holds nothing: the job goes to another account\'s slot', () => {
  const j = job('v1');
  const r = round(
    queues(j),
    [
      slot('a/free', 'v1', { cloudAccount: 'acme' }),
      busy('a/busy', 'v9', 60_000, { cloudAccount: 'acme' }),
      slot('b/free', null, { cloudAccount: 'other' }),
    ],
    { cloudCaps: { acme: 1, other: 5 } },
  );
  assert.equal(assigned(r), { [j.jobId]: 'b/free' });
});

test.run();
