import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPolicy } from '../../src/schedule/backoff.js';
import { abortableSleep, runDaemonLoop, type RunResult, type Tick } from '../../src/schedule/daemon-loop.js';

/** Runs the loop over scripted outcomes with a fake sleep; returns the delays it chose. */
async function script(outcomes: RunResult['kind'][]) {
  const controller = new AbortController();
  const delays: number[] = [];
  const ticks: Tick[] = [];
  let i = 0;
  const runs = await runDaemonLoop({
    policy: defaultPolicy(1000, 10),
    signal: controller.signal,
    random: () => 0.5, // no jitter
    runOnce: async () => {
      const kind = outcomes[i++] ?? 'ok';
      if (i >= outcomes.length) controller.abort();
      return kind === 'failed' ? { kind, reason: 'x' } : { kind };
    },
    onTick: (tick) => ticks.push(tick),
    sleep: async (ms) => {
      delays.push(ms);
    },
  });
  return { runs, delays, ticks };
}

test('failures back off exponentially up to the interval; a success resets; a busy lock changes nothing', async () => {
  const { runs, delays, ticks } = await script([
    'failed',
    'failed',
    'failed',
    'failed',
    'failed',
    'failed',
    'failed',
    'failed',
    'ok',
    'failed',
    'busy',
    'failed',
    'ok',
    'ok',
  ]);
  assert.equal(runs, 14);
  // The last run is cut by the abort: it schedules nothing.
  assert.deepEqual(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 10, 10, 20, 1000]);
  assert.deepEqual(
    ticks.map((t) => t.consecutiveFailures),
    [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 1, 2, 0],
  );
});

test('an abort during a run stops the loop without counting that run as a failure', async () => {
  const controller = new AbortController();
  const ticks: Tick[] = [];
  const runs = await runDaemonLoop({
    policy: defaultPolicy(1000, 10),
    signal: controller.signal,
    runOnce: async () => {
      controller.abort();
      return { kind: 'failed', reason: 'interrupted' };
    },
    onTick: (tick) => ticks.push(tick),
    sleep: async () => assert.fail('must not sleep after an abort'),
  });
  assert.equal(runs, 1);
  assert.deepEqual(ticks, []);
});

test('abortableSleep ends at once on abort and never rejects', async () => {
  const controller = new AbortController();
  const started = Date.now();
  const sleeping = abortableSleep(60_000, controller.signal);
  setTimeout(() => controller.abort(new Error('stop')), 20);
  await sleeping;
  assert.ok(Date.now() - started < 5000);
  await abortableSleep(60_000, controller.signal); // already aborted: immediate
  await abortableSleep(5, new AbortController().signal);
});
