/**
 * One sync per database at a time. The lock is an exclusive SQLite lock held on a small side file
 * (`<db>-sync.lock`): the operating system drops it when the process dies, even by kill -9, so a
 * crashed run never leaves a stale lock behind, and the user's database itself is never locked.
 * The file itself stays beside the database between runs (the README lists it); it is the only file
 * a run leaves, and only beside a database that exists.
 */
import { SyncError } from '../core/errors.js';
import { requireDatabasePath } from './database-path.js';
import { databaseError, sqliteCodeOf, sqliteDriver } from './sqlite/open-database.js';
import type { Database } from './sqlite/driver.js';

export interface SyncLock {
  release(): void;
}

export function lockPathFor(databasePath: string): string {
  return `${databasePath}-sync.lock`;
}

/**
 * Takes the lock of an existing database. A path that holds no database (missing, a directory, a
 * symlink loop) is refused first with the same line opening it would give, so that a typo or a
 * failed run never leaves a lock file beside something that is not a database.
 */
export function acquireSyncLock(databasePath: string): SyncLock {
  requireDatabasePath(databasePath);
  const path = lockPathFor(databasePath);
  let db: Database;
  try {
    db = sqliteDriver().open(path, { readOnly: false, create: true });
  } catch (error) {
    throw databaseError(error, path, 'creating the sync lock file beside the database');
  }
  try {
    db.exec('PRAGMA busy_timeout = 0');
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    db.close();
    const code = sqliteCodeOf(error);
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new SyncError('SYNC_RUNNING', `another resonance-sync is already syncing ${databasePath}; wait for it to finish`, {
        cause: error,
      });
    }
    throw databaseError(error, path, 'taking the sync lock');
  }
  return {
    release() {
      try {
        db.exec('ROLLBACK');
      } finally {
        db.close();
      }
    },
  };
}
