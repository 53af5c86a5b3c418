import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { baseDelay, defaultPolicy, nextDelay } from '../../src/schedule/backoff.js';

const HOUR = 3_600_000;

test('after a success: the interval; after failures: doubling from the retry delay, capped at the interval', () => {
  const policy = defaultPolicy(2 * HOUR, 60_000);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 50, 5000].map((n) => baseDelay(policy, n)),
    [2 * HOUR, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_840_000, 2 * HOUR, 2 * HOUR, 2 * HOUR],
  );
});

test('the retry delay never exceeds the interval', () => {
  const policy = defaultPolicy(30_000, 60_000);
  assert.equal(policy.retryMs, 30_000);
  assert.equal(baseDelay(policy, 1), 30_000);
  assert.equal(defaultPolicy(10_000).retryMs, 10_000, 'a short interval retries at that interval');
});

test('jitter spreads by at most +-10%, and is symmetric', () => {
  const policy = defaultPolicy(2 * HOUR);
  assert.equal(
    nextDelay(policy, 0, () => 0.5),
    2 * HOUR,
  );
  assert.equal(
    nextDelay(policy, 0, () => 0),
    Math.round(2 * HOUR * 0.9),
  );
  assert.ok(nextDelay(policy, 0, () => 0.999999) <= Math.round(2 * HOUR * 1.1));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (failures, r) => {
      const delay = nextDelay(policy, failures, () => r);
      const base = baseDelay(policy, failures);
      return delay >= base * 0.9 - 1 && delay <= base * 1.1 + 1;
    }),
  );
});
