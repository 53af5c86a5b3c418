/**
 * Reading a whole table without keeping its other writers waiting: in small rowid windows, each one
 * short read transaction, so writers commit between two windows.
 *
 * Why: in SQLite's default rollback journal a read holds a SHARED lock for as long as it runs, and
 * a writer's commit waits until every SHARED lock is gone. One statement over a multi-gigabyte table
 * (VACUUM INTO, a digest of every note) keeps the users' agents waiting for all of it, past their
 * busy timeout (5 s in Python), and an agent that swallows its errors loses the note. A writer that
 * has begun to commit keeps its PENDING lock while it waits, so no new read starts before it is
 * done: it waits for one window, never for the next.
 *
 * Windows are sized by time, not by rows: notes range from a few bytes to megabytes, and a phone is
 * ten times slower than a desktop. Each window aims at STEP_TARGET_MS, growing while windows are
 * quicker and shrinking when one took longer.
 */
import type { Database } from './sqlite/driver.js';
import { DEFAULT_BUSY_TIMEOUT_MS, sqliteCodeOf } from './sqlite/open-database.js';
import { inTransaction } from './sqlite/transaction.js';
import { quoteIdentifier } from './sql.js';

/** How long one window's read should take: far below the 2 s an agent may wait, and a few of a writer's busy-handler sleeps. */
export const STEP_TARGET_MS = 25;
/** The first window, in rowids; it adapts from there. */
const FIRST_SPAN = 1_000;
const LONGEST_SPAN = 1_000_000;

export interface RowidRange {
  /** Below the table's first rowid. */
  after: number;
  /** The table's last rowid when the walk began: rows appended later are not walked. */
  through: number;
}

/** The rowids a table holds now, read in one short statement (both ends come from its rowid b-tree). */
export function rowidRange(db: Database, table: string, schema = 'main'): RowidRange {
  const row = db
    .prepare(`SELECT (SELECT min(rowid) FROM ${quoteIdentifier(schema)}.${quoteIdentifier(table)}) AS lo,
                     (SELECT max(rowid) FROM ${quoteIdentifier(schema)}.${quoteIdentifier(table)}) AS hi`)
    .get();
  if (row?.lo === null || row?.lo === undefined) return { after: 0, through: 0 };
  return { after: Number(row.lo) - 1, through: Number(row.hi) };
}

/** Between two tries of a window that met a writer's commit: about a commit's length, far below the busy handler's 100 ms. */
const RETRY_MS = 2;

/**
 * Calls `readWindow(after, through)` for consecutive windows `after < rowid <= through` covering the
 * range, each in a transaction of its own, however many statements it runs. The caller must not
 * hold a transaction open across the calls, or the windows share one long read after all.
 *
 * One transaction per window, not per statement: a window of several statements (a digest reads
 * one per slice of keys) would otherwise release its read lock between them, and a writer that
 * began to commit there holds its PENDING lock, so the next statement fails and the whole window
 * is tried again. Beside four agents on a loaded machine, windows then failed one after another
 * for the whole busy timeout, and verify gave up. Holding the window's read lock, a writer waits
 * for the rest of this window (STEP_TARGET_MS), as it would behind one statement.
 *
 * A window that meets another connection's commit is tried again every RETRY_MS, with SQLite's busy
 * handler off meanwhile: while agents write, a walk meets a commit at nearly every window, and the
 * busy handler sleeps up to 100 ms each time (1, 2, 5, … 100 ms): a walk that took 10 s alone took
 * 100 s beside three agents. A window meets the lock only in its first statement, before reading
 * its first row (later ones read under the lock it took), and a failed one is rolled back, so
 * trying it again is exact.
 */
export function walkRowidWindows<T>(
  db: Database,
  range: RowidRange,
  readWindow: (after: number, through: number) => T,
  /** What is done with a window once read, outside the read (and outside its timing). */
  use: (read: T) => void = () => {},
): void {
  db.exec('PRAGMA busy_timeout = 0');
  try {
    let span = FIRST_SPAN;
    for (let after = range.after; after < range.through; ) {
      const through = Math.min(range.through, after + span);
      let read: T | undefined;
      const took = withRetries(() => {
        read = inTransaction(db, 'DEFERRED', () => readWindow(after, through));
      });
      use(read as T);
      after = through;
      // In proportion to how far off the target it was: at most doubling (a quick window may have been
      // a sparse one), and straight down after a slow one (the next writer is already waiting).
      const scale = took > 0 ? Math.min(2, STEP_TARGET_MS / took) : 2;
      span = Math.max(1, Math.min(LONGEST_SPAN, Math.floor(span * scale)));
    }
  } finally {
    db.exec(`PRAGMA busy_timeout = ${DEFAULT_BUSY_TIMEOUT_MS}`);
  }
}

/** Runs `work` until it does not meet a lock (as long as a busy timeout would wait); returns how long the run that worked took. */
function withRetries(work: () => void): number {
  const deadline = performance.now() + DEFAULT_BUSY_TIMEOUT_MS;
  for (;;) {
    const started = performance.now();
    try {
      work();
      return performance.now() - started;
    } catch (error) {
      if (sqliteCodeOf(error) !== 'SQLITE_BUSY' || performance.now() > deadline) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_MS);
    }
  }
}
