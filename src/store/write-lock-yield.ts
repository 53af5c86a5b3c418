/**
 * Fairness towards the agents that write the same database while a sync runs.
 *
 * An agent that finds the write lock taken waits in SQLite's busy handler, which retries with
 * growing sleeps of up to 100 ms. A sync that took the lock again the instant it released it would
 * starve such an agent, and a short pause after every batch only helps the agents whose next retry
 * happens to fall into it. So:
 * - after two seconds of holding the lock, the receiver stays off it for a little longer than the
 *   longest retry sleep, so every waiting agent retries inside that gap: without contention a sync
 *   pays under a tenth of its writing time, and an agent waits about two seconds at most;
 * - once another connection is seen committing (PRAGMA data_version moves), agents are active: for
 *   the next few seconds the gap follows every batch, so they are never kept waiting while the sync
 *   runs, at the price of a slower sync while they write.
 */
import type { Database, Statement } from './sqlite/driver.js';

/** Under the 5 s busy timeout that Python's sqlite3 and better-sqlite3 give agents by default. */
const HOLD_BUDGET_MS = 2_000;
/** Longer than the busy handler's longest sleep (100 ms), with room for a busy machine's scheduling delay. */
const GAP_MS = 150;
/** How long after another writer's commit the sync keeps leaving a gap after every batch. */
const POLITE_FOR_MS = 3_000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export class WriteLockYielder {
  private heldMs = 0;
  private readonly dataVersion: Statement;
  private lastVersion: number;
  private othersWroteAt = -Infinity;

  constructor(db: Database) {
    this.dataVersion = db.prepare('PRAGMA main.data_version');
    this.lastVersion = this.version();
  }

  /** Call after each write transaction ends, with how long it held the lock. */
  released(heldMs: number): void {
    const now = performance.now();
    const version = this.version();
    if (version !== this.lastVersion) this.othersWroteAt = now;
    this.lastVersion = version;
    this.heldMs += heldMs;
    if (this.heldMs < HOLD_BUDGET_MS && now - this.othersWroteAt > POLITE_FOR_MS) return;
    this.heldMs = 0;
    // A synchronous sleep: the whole point is that this process does not touch the database now.
    Atomics.wait(sleeper, 0, 0, GAP_MS);
  }

  private version(): number {
    return Number(this.dataVersion.get()?.data_version ?? 0);
  }
}
