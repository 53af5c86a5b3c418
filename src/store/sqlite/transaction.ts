/** Explicit transactions, so every batch commits or rolls back as one, whichever binding runs. */
import type { Database } from './driver.js';

export type TransactionMode = 'DEFERRED' | 'IMMEDIATE' | 'EXCLUSIVE';

export function inTransaction<T>(db: Database, mode: TransactionMode, work: () => T): T {
  db.exec(`BEGIN ${mode}`);
  let result: T;
  try {
    result = work();
  } catch (error) {
    rollbackQuietly(db);
    throw error;
  }
  try {
    db.exec('COMMIT');
  } catch (error) {
    rollbackQuietly(db);
    throw error;
  }
  return result;
}

/** After a failed statement SQLite may already have rolled back; a second ROLLBACK then errors harmlessly. */
function rollbackQuietly(db: Database): void {
  try {
    db.exec('ROLLBACK');
  } catch {
    // no transaction was active any more
  }
}
