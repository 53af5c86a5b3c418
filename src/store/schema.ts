/**
 * Names of everything resonance-sync adds to a user's database, and probing of the notes table as
 * the user's agents created it (the four variants in the README, or any superset of them).
 */
import { SyncError } from '../core/errors.js';
import {
  ARRIVALS_TABLE,
  NOTES_TABLE,
  TIMESTAMP_INDEXES_SQL,
  shapeFromTableInfo,
  type NotesTableShape,
  type TableInfoColumn,
} from '../core/notes-table.js';
import { quoteIdentifier } from './sql.js';
import type { Database } from './sqlite/driver.js';

/** A table or view `name` in `schema` (main, or an ATTACHed database's name). */
export function tableExists(db: Database, name: string, schema = 'main'): boolean {
  return (
    db.prepare(`SELECT 1 AS x FROM ${quoteIdentifier(schema)}.sqlite_schema WHERE type IN ('table','view') AND name = ?`).get(name) !==
    undefined
  );
}

/** Where a feed read from `schema` finds the sender's relay marks (store/feed-filter.ts), if it has them. */
export function arrivalsSchema(db: Database, schema = 'main'): string | undefined {
  return tableExists(db, ARRIVALS_TABLE, schema) ? schema : undefined;
}

/**
 * The database's text encoding ('UTF-8', 'UTF-16le' or 'UTF-16be'): concatenating BLOBs as text is
 * byte-exact only in UTF-8, and two files can be ATTACHed and compared only if they share it.
 */
export function databaseEncoding(db: Database): string {
  return String(db.prepare('SELECT encoding AS e FROM pragma_encoding').get()?.e ?? '');
}

export function indexExists(db: Database, name: string): boolean {
  return db.prepare(`SELECT 1 AS x FROM sqlite_schema WHERE type = 'index' AND name = ?`).get(name) !== undefined;
}

/** The indexes the dedupe lookup can seek in (core/notes-table.ts TIMESTAMP_INDEXES_SQL): ours, the unique one, or the users' own. */
export function timestampIndexes(db: Database): string[] {
  return db
    .prepare(TIMESTAMP_INDEXES_SQL)
    .all()
    .map((row) => String(row.name));
}

export function probeNotesTable(db: Database, path: string): NotesTableShape {
  const definition = db.prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`).get(NOTES_TABLE);
  if (!definition) {
    throw new SyncError(
      'DB_NO_NOTES_TABLE',
      `${path} has no ${NOTES_TABLE} table; is this the right database? (init --create makes a new one only for a new file)`,
    );
  }
  if (/\bWITHOUT\s+ROWID\b/i.test(String(definition.sql))) {
    throw new SyncError(
      'DB_UNSUPPORTED_SCHEMA',
      `${path}: ${NOTES_TABLE} is a WITHOUT ROWID table, which has no insertion order to sync by`,
    );
  }
  const info = db.prepare(`PRAGMA table_info(${NOTES_TABLE})`).all() as unknown as TableInfoColumn[];
  return shapeFromTableInfo(info, path);
}
