/**
 * The write-lock yield policy on its own, with a clock of the test's making: when a receiver stays
 * off the lock and for how long, whatever runs it (a local connection or the agentless receiver).
 * The concurrency tests (test/cli, test/ssh/sqlite-cli-concurrency) check the waits real agents see.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { GAP_MS, HOLD_BUDGET_MS, LONGEST_GAP_MS, POLITE_FOR_MS, WriteLockYieldPolicy } from '../../src/store/write-lock-yield.js';

/** A policy and a clock that advances only as the test says (time held, time off). */
function harness() {
  let now = 0;
  const policy = new WriteLockYieldPolicy(() => now);
  return {
    /** A batch holding the lock `heldMs`, then the whole gap it is told to leave; returns that gap. */
    batch(heldMs: number, othersCommitted = false, othersInGap = 0): number {
      now += heldMs;
      let gap = policy.released(heldMs, othersCommitted);
      let total = 0;
      for (let slice = 0; gap > 0; slice++) {
        now += gap;
        total += gap;
        gap = policy.stayedOff(slice < othersInGap);
      }
      return total;
    },
    wait(ms: number) {
      now += ms;
    },
  };
}

test('alone, the receiver leaves a gap before its holding would pass the budget, not after', () => {
  const h = harness();
  const gaps = Array.from({ length: 30 }, () => h.batch(100));
  // 14 batches of 100 ms: a 15th would pass 1.5 s.
  assert.deepEqual(gaps.slice(0, 14), Array(13).fill(0).concat([GAP_MS]));
  assert.equal(gaps.filter((gap) => gap > 0).length, 2);
});

test('a batch holding half the budget or more is followed by a gap every time', () => {
  const h = harness();
  for (let i = 0; i < 5; i++) assert.equal(h.batch(HOLD_BUDGET_MS / 2), GAP_MS);
});

test('after another writer commits, a gap follows every batch for a while, then the budget rules again', () => {
  const h = harness();
  assert.equal(h.batch(10, true), GAP_MS);
  for (let i = 0; i < 5; i++) assert.equal(h.batch(10), GAP_MS);
  h.wait(POLITE_FOR_MS);
  assert.equal(h.batch(10), 0);
});

test('while others commit during a gap it grows, a slice at a time, up to its longest', () => {
  const h = harness();
  assert.equal(h.batch(10, true, 1), 2 * GAP_MS);
  assert.equal(h.batch(10, false, 2), 3 * GAP_MS);
  assert.equal(h.batch(10, false, 100), LONGEST_GAP_MS);
});

/** The longest time the lock was held without a gap, over batches holding it `holds` ms each. */
function longestStretch(holds: number[]): number {
  const h = harness();
  let stretch = 0;
  let longest = 0;
  for (const held of holds) {
    stretch += held;
    longest = Math.max(longest, stretch);
    if (h.batch(held) > 0) stretch = 0;
  }
  return longest;
}

test('property: alone, with batches of steady length, the lock is never held longer than the budget or one batch', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 * HOLD_BUDGET_MS }), fc.integer({ min: 1, max: 100 }), (held, count) => {
      assert.ok(longestStretch(Array(count).fill(held)) <= Math.max(HOLD_BUDGET_MS, held));
    }),
  );
});

test('property: alone, with batches of any length, the budget is passed by at most one batch', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 2 * HOLD_BUDGET_MS }), { minLength: 1, maxLength: 100 }), (holds) => {
      assert.ok(longestStretch(holds) < HOLD_BUDGET_MS + Math.max(...holds));
    }),
  );
});

test('property: without contention the gaps cost about a tenth of the time the lock is held', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), (held) => {
      const h = harness();
      let gaps = 0;
      for (let i = 0; i < 10_000; i++) gaps += h.batch(held);
      assert.ok(gaps / (10_000 * held) <= GAP_MS / (HOLD_BUDGET_MS - held), `gaps took ${gaps} ms of ${10_000 * held}`);
    }),
  );
});
