/**
 * The write transaction of one received batch, the same for every receiver on this machine: BEGIN
 * IMMEDIATE, the work (the rows, then their bookkeeping), COMMIT; for a dry run everything is checked
 * and counted, then rolled back. Afterwards the write lock is yielded to the other writers of the
 * database as the policy says, told how long this transaction held it.
 */
import type { Database } from './sqlite/driver.js';
import { inTransaction } from './sqlite/transaction.js';
import type { WriteLockYielder } from './write-lock-yield.js';

class DryRunRollback<T> extends Error {
  constructor(readonly result: T) {
    super('dry run');
  }
}

export function batchTransaction<T>(db: Database, yielder: WriteLockYielder, dryRun: boolean, work: () => T): T {
  let lockedAt: number | undefined;
  try {
    return inTransaction(db, 'IMMEDIATE', () => {
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
