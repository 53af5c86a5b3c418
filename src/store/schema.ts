/**
 * Names of everything resonance-sync adds to a user's database, and probing of the notes table as
 * the user's agents created it (the four variants in the README, or any superset of them).
 */
import { SyncError } from '../errors.js';
import type { Database } from './sqlite/driver.js';

export const NOTES_TABLE = 'resonance_notes';
/** Added, nullable column: the node id an entry came from; NULL means "written on this node". */
export const ORIGIN_COLUMN = 'sync_origin';
/** The identity of an entry, compared byte-for-byte with NULL equal to NULL. */
export const IDENTITY_COLUMNS = ['timestamp', 'content', 'source'] as const;

export const META_TABLE = 'resonance_sync_meta';
export const NODES_TABLE = 'resonance_sync_nodes';
export const CURSORS_TABLE = 'resonance_sync_cursors';
export const PEER_STATE_TABLE = 'resonance_sync_peer_state';
export const TRACKING_TABLE = 'sync_tracking';
export const LOG_TABLE = 'sync_log';
export const ORIGIN_VIEW = 'resonance_notes_origin';
/** Default dedupe mechanism: a plain index on timestamp; content and source are compared on the few hits. */
export const TIMESTAMP_INDEX = 'resonance_sync_timestamp_idx';
/** Optional, the users' original recipe: it also stops agents from writing an exact duplicate. */
export const UNIQUE_INDEX = 'idx_unique_entry';

export const SCHEMA_VERSION = 1;

export interface NotesTableShape {
  /** Every column in table order, as PRAGMA table_info reports them. */
  allColumns: string[];
  /** The INTEGER PRIMARY KEY alias of rowid, if the table has one (it never travels). */
  rowidAlias: string | undefined;
  /** Columns whose values travel: all but the rowid alias and the origin column. */
  userColumns: string[];
  hasSource: boolean;
  hasOrigin: boolean;
  hasContext: boolean;
}

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

/** The table's shape from its PRAGMA table_info rows (read locally, or by a remote sqlite3). */
export function shapeFromTableInfo(info: ReadonlyArray<{ name: string; type: string; pk: number | bigint }>, path: string): NotesTableShape {
  const primaryKeys = info.filter((column) => Number(column.pk) > 0);
  const aliasCandidate = primaryKeys.length === 1 ? primaryKeys[0] : undefined;
  const rowidAlias = aliasCandidate && aliasCandidate.type.toUpperCase() === 'INTEGER' ? aliasCandidate.name : undefined;
  const allColumns = info.map((column) => column.name);
  for (const required of ['timestamp', 'content']) {
    if (!allColumns.includes(required)) {
      throw new SyncError('DB_UNSUPPORTED_SCHEMA', `${path}: ${NOTES_TABLE} has no "${required}" column, which every entry needs`);
    }
  }
  return {
    allColumns,
    rowidAlias,
    userColumns: allColumns.filter((name) => name !== rowidAlias && name !== ORIGIN_COLUMN),
    hasSource: allColumns.includes('source'),
    hasOrigin: allColumns.includes(ORIGIN_COLUMN),
    hasContext: allColumns.includes('context'),
  };
}
