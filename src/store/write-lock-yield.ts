/**
 * Fairness towards the agents that write a database while a sync receives into it.
 *
 * An agent that finds the write lock taken waits in SQLite's busy handler, which retries with
 * growing sleeps of up to 100 ms. A sync that took the lock again the instant it released it would
 * starve such an agent, and a short pause after every batch only helps the agents whose next retry
 * happens to fall into it. So:
 * - before its holding would pass a budget, the receiver stays off the lock for a little longer than
 *   the longest retry sleep, so every waiting agent retries inside that gap: without contention a
 *   sync pays under a tenth of its writing time, and an agent waits under two seconds;
 * - while other connections commit during a gap, it stays off a little longer (a bounded number of
 *   times), so several waiting agents each get their turn rather than the first one alone;
 * - once another connection is seen committing, agents are active: for the next few seconds the gap
 *   follows every batch, so they are never kept waiting while the sync runs, at the price of a slower
 *   sync while they write.
 *
 * WriteLockYieldPolicy is that policy, written once. It is told two facts and answers how long to
 * stay off: how long each write transaction held the lock, and whether other connections committed
 * since it last asked (SQLite's PRAGMA data_version, which moves only for other connections'
 * commits). Two waiters apply it: WriteLockYielder below, synchronous, for a connection of this
 * process (local receivers, and `serve` on an agent's remote); and the agentless receiver
 * (transport/sqlite-cli), which reads both facts from the remote sqlite3 in each batch's reply and
 * waits asynchronously.
 */
import type { Database, Statement } from './sqlite/driver.js';

/** Well under the 5 s busy timeout that Python's sqlite3 and better-sqlite3 give agents by default. */
export const HOLD_BUDGET_MS = 1_500;
/** Longer than the busy handler's longest sleep (100 ms), with room for a busy machine's scheduling delay. */
export const GAP_MS = 150;
/** The longest one gap grows to while other writers keep committing in it. */
export const LONGEST_GAP_MS = 4 * GAP_MS;
/** How long after another writer's commit the sync keeps leaving a gap after every batch. */
export const POLITE_FOR_MS = 3_000;

export class WriteLockYieldPolicy {
  private heldMs = 0;
  private othersWroteAt = -Infinity;
  private gapMs = 0;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /**
   * After a write transaction ended, having held the lock `heldMs`. Returns how long to stay off
   * the lock now: 0 to go on.
   */
  released(heldMs: number, othersCommitted: boolean): number {
    const now = this.clock();
    if (othersCommitted) this.othersWroteAt = now;
    this.heldMs += heldMs;
    const agentsActive = now - this.othersWroteAt <= POLITE_FOR_MS;
    // The next batch will hold about as long as this one: leave the gap before, not after, the budget.
    if (!agentsActive && this.heldMs + heldMs < HOLD_BUDGET_MS) return 0;
    this.heldMs = 0;
    this.gapMs = GAP_MS;
    return GAP_MS;
  }

  /** After staying off as told. Returns how much longer to stay off: 0 to go on. */
  stayedOff(othersCommitted: boolean): number {
    if (!othersCommitted) return 0;
    this.othersWroteAt = this.clock();
    if (this.gapMs >= LONGEST_GAP_MS) return 0;
    this.gapMs += GAP_MS;
    return GAP_MS;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
let yieldedTotalMs = 0;

/**
 * How long this process's yielders have stayed off the lock so far (ms): the fairness price, which
 * the bench reports apart from the sync's own time so that its ratios are read right.
 */
export function yieldedMilliseconds(): number {
  return yieldedTotalMs;
}

/** The policy applied to a connection of this process, which stays off the lock by sleeping. */
export class WriteLockYielder {
  private readonly policy = new WriteLockYieldPolicy();
  private readonly dataVersion: Statement;
  private lastVersion: number;

  constructor(db: Database) {
    this.dataVersion = db.prepare('PRAGMA main.data_version');
    this.lastVersion = this.version();
  }

  /** Call after each write transaction ends, with how long it held the lock. */
  released(heldMs: number): void {
    let gap = this.policy.released(heldMs, this.othersCommitted());
    while (gap > 0) {
      // A synchronous sleep: the whole point is that this process does not touch the database now.
      Atomics.wait(sleeper, 0, 0, gap);
      yieldedTotalMs += gap;
      gap = this.policy.stayedOff(this.othersCommitted());
    }
  }

  private othersCommitted(): boolean {
    const version = this.version();
    const moved = version !== this.lastVersion;
    this.lastVersion = version;
    return moved;
  }

  private version(): number {
    return Number(this.dataVersion.get()?.data_version ?? 0);
  }
}
