/**
 * The write transaction of one received batch, the same for every receiver on this machine: BEGIN
 * IMMEDIATE, the work (the rows, then their bookkeeping), COMMIT; for a dry run everything is checked
 * and counted, then rolled back. Afterwards the write lock is yielded to the other writers of the
 * database as the policy says, told how long this transaction held it.
 *
 * With another database ATTACHed (a local sender read by INSERT … SELECT), BEGIN IMMEDIATE would
 * take that file's write lock too: SQLite reserves every database of the connection, so the
 * sender's own agents could not write for as long as each batch lasts (seconds of waiting measured on
 * a 180 MB sender). `lockOnlyMain` begins DEFERRED and makes a write to main the first statement (a
 * DELETE that matches nothing, in our own meta table): main's write lock is taken at once, with the
 * busy handler's wait as IMMEDIATE's (no read lock is held yet), and the attached file is only read.
 */
import { META_TABLE } from '../core/notes-table.js';
import type { Database } from './sqlite/driver.js';
import { inTransaction } from './sqlite/transaction.js';
import type { WriteLockYielder } from './write-lock-yield.js';

class DryRunRollback<T> extends Error {
  constructor(readonly result: T) {
    super('dry run');
  }
}

export function batchTransaction<T>(
  db: Database,
  yielder: WriteLockYielder,
  dryRun: boolean,
  work: () => T,
  options: { lockOnlyMain?: boolean } = {},
): T {
  let lockedAt: number | undefined;
  try {
    return inTransaction(db, options.lockOnlyMain ? 'DEFERRED' : 'IMMEDIATE', () => {
      if (options.lockOnlyMain) db.exec(`DELETE FROM main.${META_TABLE} WHERE 0`);
      lockedAt = performance.now();
      const result = work();
      if (dryRun) throw new DryRunRollback(result);
      return result;
    });
  } catch (error) {
    if (error instanceof DryRunRollback) return error.result as T;
    throw error;
  } finally {
    // Only a transaction that got the lock held it (BEGIN IMMEDIATE may have timed out waiting).
    if (lockedAt !== undefined) yielder.released(performance.now() - lockedAt);
  }
}
