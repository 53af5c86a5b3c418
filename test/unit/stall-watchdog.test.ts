/**
 * The stall watchdog's timing rules, on its own: silence counts only while something is waited on,
 * bytes in either direction are progress, overlapping waits share one clock, a stall fails every
 * wait (running and later) with one error, once. A hand-driven clock checks the rules exactly; one
 * test lets the real timer fire. The ssh-level behaviour (a SIGSTOPped remote) is in test/ssh/stall.test.ts.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SyncError } from '../../src/core/errors.js';
import { DEFAULT_STALL_TIMEOUT_MS, parseStallTimeout } from '../../src/core/stall-timeout.js';
import { StallWatchdog, stallTimeoutMs, stalledError } from '../../src/transport/ssh/stall-watchdog.js';

const TIMEOUT = 1000;

function handDriven(output?: Writable) {
  let now = 0;
  const stalls: string[] = [];
  const watchdog = new StallWatchdog({
    timeoutMs: TIMEOUT,
    output,
    now: () => now,
    timer: false,
    onStall: (action) => {
      stalls.push(action);
      return stalledError('phone', TIMEOUT, action);
    },
  });
  return {
    watchdog,
    stalls,
    advance(ms: number): boolean {
      now += ms;
      return watchdog.check();
    },
  };
}

/** A promise that settles only when told to, like a reply that has not come yet. */
function pending<T>() {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('silence counts only while a wait runs, from when it began', async () => {
  const { watchdog, stalls, advance } = handDriven();
  // Idle for ten timeouts: we were busy ourselves, the remote had nothing to say.
  assert.equal(advance(10 * TIMEOUT), false);
  const reply = pending<string>();
  const waiting = watchdog.watch(reply.promise, 'writing a batch');
  assert.equal(advance(TIMEOUT - 1), false);
  reply.resolve('APPLY_OK');
  assert.equal(await waiting, 'APPLY_OK');
  // Between waits nothing counts; the next wait starts a fresh clock.
  assert.equal(advance(5 * TIMEOUT), false);
  const next = watchdog.watch(pending<never>().promise, 'reading its cursor');
  assert.equal(advance(TIMEOUT - 1), false);
  assert.equal(advance(1), true);
  await assert.rejects(
    next,
    (error: SyncError) =>
      error.code === 'PEER_STALLED' && /phone stopped answering: nothing came back for 1 s while reading its cursor/.test(error.message),
  );
  assert.deepEqual(stalls, ['reading its cursor']);
});

test('bytes from the remote are progress; a stall is declared once and fails every later wait too', async () => {
  const { watchdog, stalls, advance } = handDriven();
  const feed = watchdog.watch(pending<never>().promise, 'reading new entries');
  for (let i = 0; i < 5; i++) {
    assert.equal(advance(TIMEOUT - 1), false);
    watchdog.progress();
  }
  assert.equal(advance(TIMEOUT), true);
  assert.equal(advance(10 * TIMEOUT), false, 'declared once');
  await assert.rejects(feed, /while reading new entries/);
  const stalled = watchdog.stalled;
  assert.ok(stalled instanceof SyncError);
  await assert.rejects(watchdog.watch(Promise.resolve('late'), 'recording the sync'), (error) => error === stalled);
  assert.deepEqual(stalls, ['reading new entries']);
});

test('overlapping waits share one clock, and the stall names the oldest of them', async () => {
  const { watchdog, advance } = handDriven();
  const feed = watchdog.watch(pending<never>().promise, 'reading new entries');
  assert.equal(advance(TIMEOUT - 10), false);
  // A second wait beginning must not restart the clock of the first.
  const credit = pending<void>();
  const sending = watchdog.watch(credit.promise, 'sending to it');
  credit.resolve();
  await sending;
  assert.equal(advance(10), true);
  await assert.rejects(feed, /while reading new entries/);
});

test('our own bytes leaving are progress, so a slow upload is not a stall; a blocked one is', async () => {
  // A sink that takes each chunk only when told to, like a pipe the remote drains slowly.
  const taken: Array<() => void> = [];
  const output = new Writable({ highWaterMark: 4, write: (_chunk, _encoding, done) => taken.push(() => done()) });
  const { watchdog, advance } = handDriven(output);
  const reply = watchdog.watch(pending<never>().promise, 'writing a batch');
  assert.equal(output.write(Buffer.alloc(8)), false);
  output.write(Buffer.alloc(8));
  output.write(Buffer.alloc(8));
  for (let i = 0; i < 2; i++) {
    assert.equal(advance(TIMEOUT - 1), false);
    taken.shift()?.(); // the remote took a chunk
  }
  assert.equal(advance(1), false, 'the look that sees the second chunk go');
  // The third chunk is never taken: the remote stopped reading, like a frozen process behind a full pipe.
  assert.equal(output.writableLength, 8);
  assert.equal(advance(TIMEOUT - 1), false);
  assert.equal(advance(1), true);
  await assert.rejects(reply, /while writing a batch/);
});

test('the real timer declares a stall soon after the timeout, and not before', async () => {
  const started = performance.now();
  let declaredAt = 0;
  const watchdog = new StallWatchdog({
    timeoutMs: 300,
    onStall: (action) => {
      declaredAt = performance.now();
      return stalledError('phone', 300, action);
    },
  });
  await assert.rejects(watchdog.watch(pending<never>().promise, 'reading it'), /PEER_STALLED|stopped answering/);
  const after = declaredAt - started;
  assert.ok(after >= 300, `not before the timeout (${after} ms)`);
  assert.ok(after < 5000, `soon after it (${after} ms)`);
  // A wait that ends in time leaves no timer running (the test process would not exit otherwise).
  const quick = new StallWatchdog({ timeoutMs: 300, onStall: (action) => stalledError('phone', 300, action) });
  assert.equal(await quick.watch(Promise.resolve(7), 'reading it'), 7);
});

test('the stall timeout: the environment over the config over the default, each checked', () => {
  assert.equal(stallTimeoutMs({}, undefined), DEFAULT_STALL_TIMEOUT_MS);
  assert.equal(stallTimeoutMs({}, 90_000), 90_000);
  assert.equal(stallTimeoutMs({ RESONANCE_SYNC_STALL_TIMEOUT: '2s' }, 90_000), 2000);
  assert.equal(stallTimeoutMs({ RESONANCE_SYNC_STALL_TIMEOUT: '' }, 90_000), 90_000);
  for (const bad of ['2', '0s', '500ms', '2d', 'soon']) {
    assert.throws(
      () => stallTimeoutMs({ RESONANCE_SYNC_STALL_TIMEOUT: bad }, undefined),
      (error: SyncError) =>
        error.code === 'USAGE' &&
        error.message ===
          `RESONANCE_SYNC_STALL_TIMEOUT must be a whole number with a unit: ms, s, m, h or d (e.g. 30m, 2h, 1d), from 1s to 1d, not ${JSON.stringify(bad)}`,
    );
  }
  assert.equal(parseStallTimeout('1d'), 86_400_000);
  assert.equal(parseStallTimeout('1000ms'), 1000);
  assert.equal(parseStallTimeout('999ms'), undefined);
});

test('a stall is an unreachable-family failure (exit 6) whose message says what happened and what to do', () => {
  const error = stalledError('u0_a311@phone:8022', 60_000, 'writing a batch');
  assert.equal(error.exitCode, 6);
  assert.equal(error.message.includes('\n'), false);
  assert.match(
    error.message,
    /^u0_a311@phone:8022 stopped answering: nothing came back for 60 s while writing a batch; the connection was closed, committed batches are kept/,
  );
  assert.match(error.message, /Android .* Termux .* termux-wake-lock .* raise stall_timeout/);
});

test('a finished wait leaves nothing of its result behind (a whole feed batch, for a feed)', async () => {
  setFlagsFromString('--expose-gc');
  const collectGarbage = runInNewContext('gc') as () => void;
  const watchdog = new StallWatchdog({ timeoutMs: 60_000, timer: false, onStall: () => new Error('stalled') });
  let batch: { rows: string[] } | undefined = { rows: Array.from({ length: 1000 }, (_, i) => `row ${i}`) };
  const kept = new WeakRef(batch);
  assert.equal((await watchdog.watch(Promise.resolve(batch), 'reading new entries')).rows.length, 1000);
  batch = undefined;
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  assert.equal(kept.deref(), undefined, 'the watchdog still holds the result of a wait that ended');
  watchdog.stop();
});

test('a wait running when the stall is declared fails with the stall error; later waits fail at once', async () => {
  let now = 0;
  const watchdog = new StallWatchdog({ timeoutMs: 100, timer: false, now: () => now, onStall: (action) => new Error(`stalled ${action}`) });
  const running = watchdog.watch(new Promise<never>(() => undefined), 'reading new entries');
  now = 150;
  assert.equal(watchdog.check(), true);
  await assert.rejects(running, /stalled reading new entries/);
  await assert.rejects(watchdog.watch(Promise.resolve(1), 'writing a batch'), /stalled reading new entries/);
});
