/**
 * The progress watchdog of one ssh session. While we wait on the remote (a reply, a feed batch, or the
 * remote taking what we send), something must move within the stall timeout: bytes arriving from the
 * remote, or our own bytes leaving through ssh. Otherwise the remote is declared stalled, once.
 *
 * Why: a process that is stopped, not dead, leaves a connection that never ends. Android's freezer does
 * exactly that to Termux while sshd, outside the frozen process, keeps answering ssh's keepalives, so
 * ServerAliveInterval never fires and, without this, the sync would wait forever holding its lock.
 *
 * Silence counts only while someone waits: between waits we are busy ourselves (writing a batch here)
 * and the remote has nothing to say. The clock restarts when a wait begins with none already running.
 */
import type { Writable } from 'node:stream';
import { SyncError } from '../../core/errors.js';
import { DEFAULT_STALL_TIMEOUT_MS, STALL_TIMEOUT_RULE, parseStallTimeout } from '../../core/stall-timeout.js';

export const STALL_TIMEOUT_ENV = 'RESONANCE_SYNC_STALL_TIMEOUT';

/** The stall timeout for a peer: the environment variable (tests, one-off runs), else the config's, else the default. */
export function stallTimeoutMs(env: NodeJS.ProcessEnv, configured: number | undefined): number {
  const text = env[STALL_TIMEOUT_ENV];
  if (text === undefined || text === '') return configured ?? DEFAULT_STALL_TIMEOUT_MS;
  const ms = parseStallTimeout(text);
  if (ms === undefined) throw new SyncError('USAGE', `${STALL_TIMEOUT_ENV} must be ${STALL_TIMEOUT_RULE}, not ${JSON.stringify(text)}`);
  return ms;
}

/** The one-line error of a stalled peer: what happened, that nothing committed is lost, and what to do. */
export function stalledError(destination: string, timeoutMs: number, action: string): SyncError {
  return new SyncError(
    'PEER_STALLED',
    `${destination} stopped answering: nothing came back for ${timeoutMs / 1000} s while ${action}; the connection was closed, ` +
      `committed batches are kept and the next sync resumes after them (the remote process may be frozen, as Android does to ` +
      `Termux in the background: keep Termux awake with termux-wake-lock and exempt it from battery optimisation, ` +
      `or raise stall_timeout if that peer is only slow)`,
  );
}

export interface StallWatchdogOptions {
  timeoutMs: number;
  /**
   * Called once, when the remote has been silent for timeoutMs while waited on, with what the longest
   * running wait was for; returns the error every wait (running or later) then fails with, and should
   * start cutting the connection.
   */
  onStall: (action: string) => Error;
  /** Our end of the pipe to the remote: bytes leaving it are progress too, so a slow upload is not a stall. */
  output?: Writable | undefined;
  /** The clock, in ms (tests of the timing logic pass their own and call check() by hand). */
  now?: () => number;
  /** False: no timer; the caller calls check(). */
  timer?: boolean;
}

/** How much of our output is still on its way out; see outgoingMoved. */
interface Outgoing {
  written: number;
  buffered: number;
  queued: number;
}

function outgoingOf(output: Writable | undefined): Outgoing {
  if (!output) return { written: 0, buffered: 0, queued: 0 };
  // writableLength drops only when a whole write has left; the pipe's libuv queue shows a big write
  // (a 2 MB upload chunk) leaving bit by bit. Not a public API, so it is only used when it is there.
  const handle = (output as { _handle?: { writeQueueSize?: unknown } })._handle;
  const queued = typeof handle?.writeQueueSize === 'number' ? handle.writeQueueSize : 0;
  const written = (output as { bytesWritten?: unknown }).bytesWritten;
  return { written: typeof written === 'number' ? written : 0, buffered: output.writableLength, queued };
}

/**
 * Whether the remote took some of our bytes since the last look: less is waiting to leave, or we wrote
 * more (writers wait for 'drain' when the pipe is full, so a new write means room was made).
 */
function outgoingMoved(before: Outgoing, after: Outgoing): boolean {
  return after.written > before.written || after.buffered < before.buffered || after.queued < before.queued;
}

export class StallWatchdog {
  private readonly now: () => number;
  private readonly tickMs: number;
  private waits = 0;
  private lastProgress: number;
  private outgoing: Outgoing;
  private timer: NodeJS.Timeout | undefined;
  private done = false;
  /** What the running waits are for, oldest first. */
  private readonly actions: string[] = [];
  private failure: Error | undefined;
  /**
   * How to fail each running wait. Not a race with one long-lived "failed" promise: every race leaves
   * a reaction on it that holds the wait's result (a whole feed batch) until it settles, i.e. forever.
   */
  private readonly failRunning = new Set<(error: Error) => void>();

  constructor(private readonly options: StallWatchdogOptions) {
    this.now = options.now ?? (() => performance.now());
    // Fine enough that a stall is noticed within a tenth of the timeout (at most a second late).
    this.tickMs = Math.min(1000, Math.max(20, Math.floor(options.timeoutMs / 10)));
    this.lastProgress = this.now();
    this.outgoing = outgoingOf(options.output);
  }

  get timeoutMs(): number {
    return this.options.timeoutMs;
  }

  /** Bytes arrived from the remote. */
  progress(): void {
    this.lastProgress = this.now();
  }

  /**
   * Waits for `wait` with the silence clock running (waits may overlap: the clock runs while any does);
   * fails with the stall error as soon as the remote is declared stalled. `action` names the wait for the
   * message ("writing a batch").
   */
  async watch<T>(wait: Promise<T>, action: string): Promise<T> {
    // Whatever `wait` does after a stall (it fails once the connection is cut) nobody awaits any more.
    wait.catch(() => undefined);
    if (this.failure) throw this.failure;
    this.begin(action);
    let failThis: ((error: Error) => void) | undefined;
    try {
      return await new Promise<T>((resolve, reject) => {
        failThis = reject;
        this.failRunning.add(reject);
        wait.then(resolve, reject);
      });
    } finally {
      if (failThis) this.failRunning.delete(failThis);
      this.end(action);
    }
  }

  /** The error the remote was declared stalled with, if it was. */
  get stalled(): Error | undefined {
    return this.failure;
  }

  /** Looks once (the timer does this every tick); true when this look declared the stall. */
  check(): boolean {
    if (this.done || this.waits === 0) return false;
    const outgoing = outgoingOf(this.options.output);
    if (outgoingMoved(this.outgoing, outgoing)) this.progress();
    this.outgoing = outgoing;
    const silent = this.now() - this.lastProgress;
    if (silent < this.options.timeoutMs) return false;
    this.stop();
    const failure = this.options.onStall(this.actions[0] ?? 'waiting for it');
    this.failure = failure;
    for (const fail of this.failRunning) fail(failure);
    return true;
  }

  /** No more looks (the session ended). */
  stop(): void {
    this.done = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private begin(action: string): void {
    this.actions.push(action);
    if (this.waits++ > 0 || this.done) return;
    // Silence before this wait was ours to keep: the clock starts now.
    this.lastProgress = this.now();
    this.outgoing = outgoingOf(this.options.output);
    if (this.options.timer !== false) {
      // Not unref'd: a running wait is pending work, and must not end the process silently.
      this.timer = setInterval(() => this.check(), this.tickMs);
    }
  }

  private end(action: string): void {
    // Waits with the same name are interchangeable: removing any one of them keeps the list right.
    this.actions.splice(this.actions.indexOf(action), 1);
    if (--this.waits > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
