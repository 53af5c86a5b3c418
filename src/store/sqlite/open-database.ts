/** Picks a SQLite binding and opens database files with the checks and pragmas every caller needs. */
import { SyncError } from '../../core/errors.js';
import { requireDatabasePath } from '../database-path.js';
import { loadBetterSqlite3Driver } from './better-sqlite3-driver.js';
import { betterSqlite3State, describeBetterSqlite3, NODE_SQLITE_MIN, noBindingFix } from './binding-diagnosis.js';
import type { Database, Driver, DriverName } from './driver.js';
import { loadNodeSqliteDriver } from './node-sqlite-driver.js';

/** Environment variable that forces a binding; unset means "better-sqlite3 if it loads, else node:sqlite". */
export const DRIVER_ENV = 'RESONANCE_SYNC_SQLITE';

let chosen: Driver | undefined;

export function sqliteDriver(): Driver {
  if (chosen) return chosen;
  const wanted = process.env[DRIVER_ENV] as DriverName | undefined;
  const loaders: Record<DriverName, () => Driver | undefined> = {
    'better-sqlite3': loadBetterSqlite3Driver,
    'node:sqlite': loadNodeSqliteDriver,
  };
  if (wanted !== undefined && !(wanted in loaders)) {
    throw new SyncError('USAGE', `${DRIVER_ENV} must be "better-sqlite3" or "node:sqlite", not "${wanted}"`);
  }
  const order: DriverName[] = wanted ? [wanted] : ['better-sqlite3', 'node:sqlite'];
  for (const name of order) {
    const driver = loaders[name]();
    if (driver) {
      chosen = driver;
      return driver;
    }
  }
  const state = betterSqlite3State(false);
  throw new SyncError(
    'DB_ERROR',
    wanted
      ? `the SQLite binding ${wanted} (chosen by ${DRIVER_ENV}) cannot be loaded by Node ${process.version}; unset ${DRIVER_ENV} or ${noBindingFix(state)}`
      : `no SQLite binding in Node ${process.version}: ${describeBetterSqlite3(state)}; ${noBindingFix(state)}`,
  );
}

export interface BindingReport {
  /** The binding in use, or undefined when none loads. */
  binding: DriverName | undefined;
  /** Which binding and why, e.g. "better-sqlite3 12.4.1 from /x/node_modules/better-sqlite3 (the default: it loads)". */
  detail: string;
  /** With no binding: the one fix that applies. */
  fix: string | undefined;
}

/** The binding this process uses and why, for `--version --verbose` and `doctor`. */
export function describeSqliteBinding(): BindingReport {
  const wanted = process.env[DRIVER_ENV];
  let driver: Driver | undefined;
  try {
    driver = sqliteDriver();
  } catch {
    driver = undefined;
  }
  const better = betterSqlite3State(driver?.name === 'better-sqlite3');
  if (driver === undefined) {
    if (wanted) {
      const detail = `${wanted} (chosen by ${DRIVER_ENV}) does not load in Node ${process.version}`;
      return { binding: undefined, detail, fix: `unset ${DRIVER_ENV} to let resonance-sync pick the binding that loads` };
    }
    const detail = `none usable in Node ${process.version}: ${describeBetterSqlite3(better)}, and node:sqlite needs Node >= ${NODE_SQLITE_MIN}`;
    return { binding: undefined, detail, fix: noBindingFix(better) };
  }
  if (driver.name === 'better-sqlite3') {
    const why = wanted ? `chosen by ${DRIVER_ENV}` : 'the default: it loads';
    return { binding: driver.name, detail: `${describeBetterSqlite3(better)} (${why})`, fix: undefined };
  }
  const why = wanted ? `chosen by ${DRIVER_ENV}` : `${describeBetterSqlite3(better)}`;
  return { binding: driver.name, detail: `node:sqlite of Node ${process.version} (${why})`, fix: undefined };
}

/** SQLite's primary result code name (e.g. "SQLITE_BUSY") from either binding's error, if it is one. */
export function sqliteCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return code.replace(/^(SQLITE_[A-Z]+).*$/, '$1');
  if (typeof errcode === 'number') return primaryCodeNames[errcode & 0xff];
  return undefined;
}

const primaryCodeNames: Record<number, string> = {
  1: 'SQLITE_ERROR',
  5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED',
  8: 'SQLITE_READONLY',
  10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT',
  13: 'SQLITE_FULL',
  14: 'SQLITE_CANTOPEN',
  19: 'SQLITE_CONSTRAINT',
  26: 'SQLITE_NOTADB',
};

/** SQLITE_READONLY_DBMOVED: better-sqlite3 names the extended code, node:sqlite gives its number. */
const READONLY_DBMOVED = 1032;

/**
 * Whether SQLite refused a write because the open file was deleted, renamed or replaced under it.
 * Its message is the generic "attempt to write a readonly database", which would send the user
 * looking at permissions, so it is told apart by its extended code.
 */
export function isDatabaseMoved(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, errcode } = error as { code?: unknown; errcode?: unknown };
  return code === 'SQLITE_READONLY_DBMOVED' || errcode === READONLY_DBMOVED;
}

/** Turns a binding's error into a SyncError whose message names the file and says what to do. */
export function databaseError(error: unknown, path: string, action: string): SyncError {
  if (error instanceof SyncError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  if (isDatabaseMoved(error)) {
    return new SyncError(
      'DB_ERROR',
      `${path} was deleted, moved or replaced while ${action} (SQLite writes nothing more to a file no longer at its path); find what removed it, such as a cleanup of temporary files, and sync again`,
      { cause: error },
    );
  }
  switch (sqliteCodeOf(error)) {
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return new SyncError('DB_BUSY', `${path} stayed locked by another writer while ${action}; try again later`, { cause: error });
    case 'SQLITE_NOTADB':
      return new SyncError('DB_NOT_SQLITE', `${path} is not a SQLite database; check the path`, { cause: error });
    case 'SQLITE_CORRUPT':
      return new SyncError('DB_CORRUPT', `${path} is corrupt (${detail}); restore it from a copy, nothing was synced`, { cause: error });
    case 'SQLITE_READONLY':
    case 'SQLITE_CANTOPEN':
      return new SyncError(
        'DB_READ_ONLY',
        `${path} cannot be written while ${action} (${detail}); the file and its folder must be writable`,
        { cause: error },
      );
    case 'SQLITE_FULL':
      return new SyncError('DB_ERROR', `disk full while ${action} on ${path}; nothing of the failed batch was kept`, { cause: error });
    default:
      return new SyncError('DB_ERROR', `${action} on ${path} failed: ${detail}`, { cause: error });
  }
}

export interface OpenDatabaseOptions {
  readOnly?: boolean;
  create?: boolean;
  busyTimeoutMs?: number;
}

/** How long a statement waits for another writer's lock before giving up. One agent's batch is far shorter. */
export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

export function openDatabase(path: string, options: OpenDatabaseOptions = {}): Database {
  const create = options.create ?? false;
  requireDatabasePath(path, { create });
  let db: Database;
  try {
    db = sqliteDriver().open(path, { readOnly: options.readOnly ?? false, create });
  } catch (error) {
    throw databaseError(error, path, 'opening it');
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS)}`);
    // Reading the schema is what reveals a file that is not a database at all.
    db.prepare('SELECT count(*) AS n FROM sqlite_schema').get();
    // In WAL mode a commit need not wait for fsync to stay atomic: after a power cut the newest
    // batches may be missing, but each one together with its cursor, so exactly-once holds. This
    // only affects this connection, never the agents'. Rollback-journal files keep full sync.
    // And a sync writes much at once: checkpointing every 1,000 pages (SQLite's default) would copy
    // pages and fsync a dozen times per 100k notes. Every 10,000 pages (40 MB of WAL with 4 KiB pages)
    // does the same copying with a tenth of the fsyncs.
    if (String(db.prepare('PRAGMA journal_mode').get()?.journal_mode).toLowerCase() === 'wal')
      db.exec('PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 10000');
  } catch (error) {
    db.close();
    throw databaseError(error, path, 'opening it');
  }
  return db;
}
