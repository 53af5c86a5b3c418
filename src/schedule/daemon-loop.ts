/**
 * The daemon's ticker, free of I/O so it can be tested with a fake clock: run, decide the next delay
 * from the outcome (backoff.ts), sleep, repeat, until the signal aborts. A run that finds another
 * sync holding the lock is neither a success nor a failure: it leaves the backoff as it was and waits
 * for the next tick, because the other run is doing the work.
 */
import { nextDelay, type BackoffPolicy } from './backoff.js';

/** `detail` is for the log line (what each peer did). */
export type RunResult =
  | { kind: 'ok'; detail?: string }
  | { kind: 'failed'; reason: string; detail?: string }
  /** Another sync of this database held the lock. */
  | { kind: 'busy' };

export interface Tick {
  run: number;
  result: RunResult;
  consecutiveFailures: number;
  delayMs: number;
}

export interface DaemonLoopOptions {
  policy: BackoffPolicy;
  runOnce: (signal: AbortSignal) => Promise<RunResult>;
  signal: AbortSignal;
  /** Called after each run with what happens next (for the daemon's log lines). */
  onTick?: (tick: Tick) => void;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** Runs until the signal aborts; returns how many runs were made. */
export async function runDaemonLoop(options: DaemonLoopOptions): Promise<number> {
  const sleep = options.sleep ?? abortableSleep;
  let failures = 0;
  let runs = 0;
  while (!options.signal.aborted) {
    const result = await options.runOnce(options.signal);
    runs++;
    // A run cut short by the stop signal says nothing about the peers: do not count it.
    if (options.signal.aborted) break;
    if (result.kind === 'ok') failures = 0;
    else if (result.kind === 'failed') failures++;
    const delayMs = nextDelay(options.policy, failures, options.random);
    options.onTick?.({ run: runs, result, consecutiveFailures: failures, delayMs });
    await sleep(delayMs, options.signal);
  }
  return runs;
}

/** Resolves after `ms`, or at once when the signal aborts (never rejects: stopping is not an error). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    // setTimeout caps at 2^31-1 ms (~24.8 days); longer intervals are not offered, but stay safe.
    const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
    signal.addEventListener('abort', done, { once: true });
  });
}
