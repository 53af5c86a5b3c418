/**
 * Names of everything resonance-sync adds to a user's database, and the shape of the notes table as
 * the user's agents created it (the four variants in the README, or any superset of them). Plain
 * vocabulary: every transport reads and writes these names, locally or in SQL sent to a remote.
 */
import { SyncError } from './errors.js';

export const NOTES_TABLE = 'resonance_notes';
/** Added, nullable column: the node id an entry came from; NULL means "written on this node". */
export const ORIGIN_COLUMN = 'sync_origin';
/** The identity of an entry, compared byte-for-byte with NULL equal to NULL. */
export const IDENTITY_COLUMNS = ['timestamp', 'content', 'source'] as const;

export const META_TABLE = 'resonance_sync_meta';
export const NODES_TABLE = 'resonance_sync_nodes';
export const CURSORS_TABLE = 'resonance_sync_cursors';
export const PEER_STATE_TABLE = 'resonance_sync_peer_state';
/**
 * Relay marks: for each received batch that inserted rows, the rowid range it inserted and the node
 * it came from, so a feed never sends an entry back over the link it arrived on (store/feed-filter.ts).
 * Kept beside the user's table rather than as a column in it.
 */
export const ARRIVALS_TABLE = 'resonance_sync_arrivals';
export const TRACKING_TABLE = 'sync_tracking';
export const LOG_TABLE = 'sync_log';
export const ORIGIN_VIEW = 'resonance_notes_origin';
/** Default dedupe mechanism: a plain index on timestamp; content and source are compared on the few hits. */
export const TIMESTAMP_INDEX = 'resonance_sync_timestamp_idx';
/** Optional, the users' original recipe: it also stops agents from writing an exact duplicate. */
export const UNIQUE_INDEX = 'idx_unique_entry';
/**
 * The indexes that make the dedupe lookup a seek: every whole (not partial) index on the notes table
 * whose first key is the timestamp column in the default collation, one row (`name`) each. That is
 * ours and the unique index, and also the users' own: their init_resonance.sql creates
 * `idx_timestamp ON resonance_notes(timestamp)`, so a database made from their schema file never
 * gets a second, identical index built (on a multi-gigabyte file, seconds of every writer waiting).
 * Without any, every received entry's lookup scans the table while the write lock is held, so a
 * database that lost its index is not up to date: prepare builds one (or, on a large database,
 * refuses the sync and says how to build it once). Plain SQL, so the agentless probe asks the
 * remote the very same question.
 */
export const TIMESTAMP_INDEXES_SQL = `SELECT il.name AS name FROM pragma_index_list('${NOTES_TABLE}', 'main') AS il
  WHERE il.partial = 0
    AND (SELECT x.name = 'timestamp' AND x.coll = 'BINARY' FROM pragma_index_xinfo(il.name, 'main') AS x WHERE x.seqno = 0)`;

/**
 * What prepare.ts makes a database into. 2 added ARRIVALS_TABLE; 3 added sync_log.rejected and .refusals; a database at an older version still
 * syncs (read-only and dry runs leave it as it is, and its feed then simply has no relay marks), and
 * the next open that may write brings it up to date, additively.
 */
export const SCHEMA_VERSION = 3;
/** The oldest prepared schema this version still reads and writes. */
export const OLDEST_USABLE_SCHEMA_VERSION = 1;

/** Whether a database stamped `version` (its meta schema_version) can be synced as it is. */
export function isUsableSchemaVersion(version: string | undefined): boolean {
  const number = Number(version);
  return version !== undefined && Number.isInteger(number) && number >= OLDEST_USABLE_SCHEMA_VERSION && number <= SCHEMA_VERSION;
}

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
  /** The NOT NULL columns (but the rowid alias), and whether each has a DEFAULT: what a received entry must fill. */
  requiredColumns: Array<{ name: string; hasDefault: boolean }>;
}

/** One PRAGMA table_info row, as far as the shape needs it (notnull and dflt_value: absent means nullable, no default). */
export interface TableInfoColumn {
  name: string;
  type: string;
  pk: number | bigint;
  notnull?: number | bigint | undefined;
  dflt_value?: unknown;
}

/** The table's shape from its PRAGMA table_info rows (read locally, or by a remote sqlite3). */
export function shapeFromTableInfo(info: ReadonlyArray<TableInfoColumn>, path: string): NotesTableShape {
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
    requiredColumns: info
      .filter((column) => Number(column.notnull ?? 0) === 1 && column.name !== rowidAlias)
      .map((column) => ({ name: column.name, hasDefault: column.dflt_value !== null && column.dflt_value !== undefined })),
  };
}
