/**
 * Names of everything resonance-sync adds to a user's database, and probing of the notes table as
 * the user's agents created it (the four variants in the README, or any superset of them).
 */
import { SyncError } from '../core/errors.js';
import { NOTES_TABLE, shapeFromTableInfo, type NotesTableShape } from '../core/notes-table.js';
import type { Database } from './sqlite/driver.js';

export function tableExists(db: Database, name: string): boolean {
  return db.prepare(`SELECT 1 AS x FROM sqlite_schema WHERE type IN ('table','view') AND name = ?`).get(name) !== undefined;
}

export function indexExists(db: Database, name: string): boolean {
  return db.prepare(`SELECT 1 AS x FROM sqlite_schema WHERE type = 'index' AND name = ?`).get(name) !== undefined;
}

export function probeNotesTable(db: Database, path: string): NotesTableShape {
  const definition = db
    .prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`)
    .get(NOTES_TABLE);
  if (!definition) {
    throw new SyncError(
      'DB_NO_NOTES_TABLE',
      `${path} has no ${NOTES_TABLE} table; is this the right database? (init --create makes a new one only for a new file)`,
    );
  }
  if (/\bWITHOUT\s+ROWID\b/i.test(String(definition.sql))) {
    throw new SyncError('DB_UNSUPPORTED_SCHEMA', `${path}: ${NOTES_TABLE} is a WITHOUT ROWID table, which has no insertion order to sync by`);
  }
  const info = db.prepare(`PRAGMA table_info(${NOTES_TABLE})`).all() as Array<{ name: string; type: string; pk: number | bigint }>;
  return shapeFromTableInfo(info, path);
}
