/**
 * Makes a database ready for sync, additively and idempotently: it adds tables, two nullable columns,
 * an index and a view, and never drops, deletes or rewrites anything the user's agents wrote.
 * Returns a line for each change so `init` can print exactly what it did.
 *
 * It runs in one write transaction, so every other writer of the database waits for it. All of it
 * takes a time independent of the database's size (new tables, the view and the meta rows; ADD
 * COLUMN of a nullable column only edits the schema) except building the dedupe index, which reads
 * the whole table: SQLite has no way to build an index in steps or beside writers. So that is a
 * one-time cost of `init`, and a sync (indexBuildLimitBytes) builds it only in a database small enough
 * to index within the hold the sync promises agents. Counting the duplicates already there is no part
 * of it: see duplicates.ts.
 */
import { toNodeName } from '../core/node-name.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { SyncError } from '../core/errors.js';
import type { Database } from './sqlite/driver.js';
import { inTransaction } from './sqlite/transaction.js';
import { indexExists, probeNotesTable, tableExists, timestampIndexes } from './schema.js';
import {
  ARRIVALS_TABLE,
  CURSORS_TABLE,
  isUsableSchemaVersion,
  LOG_TABLE,
  META_TABLE,
  NODES_TABLE,
  NOTES_TABLE,
  ORIGIN_COLUMN,
  ORIGIN_VIEW,
  PEER_STATE_TABLE,
  SCHEMA_VERSION,
  TIMESTAMP_INDEX,
  TRACKING_TABLE,
  UNIQUE_INDEX,
} from '../core/notes-table.js';
import { readMeta, writeMeta } from './meta.js';
import { countDuplicates, type DuplicateReport } from './duplicates.js';

/**
 * The largest database a sync or `init` builds the dedupe index in (on first contact, or after the
 * index was dropped): here that takes about 0.3 s (a 367 MB database took 0.75 s), a few times more on
 * a slow phone, within the two seconds an agent may wait. SQLite builds an index in one write
 * transaction, reading the whole table, and cannot split it: on a larger database every writer would
 * wait that long. So larger ones are refused with a one-line fix: `init --build-index` (or the
 * sqlite3 CLI) once, at a quiet moment. A database made from the users' own schema file needs none:
 * its idx_timestamp does the job (core/notes-table.ts TIMESTAMP_INDEXES_SQL).
 */
export const SYNC_INDEX_BUILD_LIMIT_BYTES = 128 * 1024 * 1024;

export type DedupeMode = 'timestamp-index' | 'unique-index';

export interface PrepareOptions {
  /** The node's human name; kept if already set and none is given. */
  nodeName?: string | undefined;
  dedupe?: DedupeMode | undefined;
  /** Create resonance_notes when the database has none (only for a file `init --create` just made). */
  createNotesTable?: boolean;
  /** Replace the node id: for a file copied from another node, which would otherwise share its identity. */
  newIdentity?: boolean;
  /**
   * Refuse (DB_NOT_INITIALIZED) to build a missing dedupe index in a database larger than this: a
   * sync and `init` pass SYNC_INDEX_BUILD_LIMIT_BYTES. Unset (`init --build-index`): build it whatever the size.
   */
  indexBuildLimitBytes?: number | undefined;
  /** Give the database this node id (adopting a replaced file as the node it replaced). */
  nodeId?: string | undefined;
}

export interface PrepareResult {
  changes: string[];
  nodeId: string;
  nodeName: string;
  dedupe: DedupeMode;
}

/** Added to sync_log in schema 3: entries the receiver's table refused, and why (JSON [{column, count}]). */
export const LOG_REFUSAL_COLUMNS = ['rejected INTEGER NOT NULL DEFAULT 0', 'refusals TEXT'];

const bookkeepingTables: Record<string, string> = {
  [META_TABLE]: `CREATE TABLE ${META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  [NODES_TABLE]: `CREATE TABLE ${NODES_TABLE} (node_id TEXT PRIMARY KEY, name TEXT NOT NULL, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL)`,
  [CURSORS_TABLE]: `CREATE TABLE ${CURSORS_TABLE} (
    sender_id TEXT NOT NULL, route_key TEXT NOT NULL, sender_name TEXT NOT NULL,
    through_rowid INTEGER NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (sender_id, route_key)) WITHOUT ROWID`,
  [PEER_STATE_TABLE]: `CREATE TABLE ${PEER_STATE_TABLE} (
    peer TEXT NOT NULL, direction TEXT NOT NULL, peer_node_id TEXT, route_key TEXT, through_rowid INTEGER,
    updated_at TEXT NOT NULL, PRIMARY KEY (peer, direction)) WITHOUT ROWID`,
  // Ranges never overlap (each batch's rows lie above everything before it), so the range with the
  // greatest first_rowid at or below a rowid is the only one that can hold it: one index seek.
  [ARRIVALS_TABLE]: `CREATE TABLE ${ARRIVALS_TABLE} (
    first_rowid INTEGER NOT NULL, last_rowid INTEGER NOT NULL, via TEXT NOT NULL,
    PRIMARY KEY (via, first_rowid)) WITHOUT ROWID`,
  // Exactly the users' own table, so their queries keep working.
  [TRACKING_TABLE]: `CREATE TABLE ${TRACKING_TABLE} (remote_node TEXT PRIMARY KEY, last_sync_timestamp TEXT NOT NULL, last_sync_success BOOLEAN, sync_count INTEGER DEFAULT 0)`,
  [LOG_TABLE]: `CREATE TABLE ${LOG_TABLE} (
    id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, peer TEXT NOT NULL, direction TEXT NOT NULL,
    status TEXT NOT NULL, received INTEGER NOT NULL DEFAULT 0, sent INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0, batches INTEGER NOT NULL DEFAULT 0, error_code TEXT, message TEXT${LOG_REFUSAL_COLUMNS.map((c) => `, ${c}`).join('')})`,
};

const originView = `CREATE VIEW ${ORIGIN_VIEW} AS
  SELECT n.*,
    coalesce(n.${ORIGIN_COLUMN}, (SELECT value FROM ${META_TABLE} WHERE key = 'node_id')) AS origin_id,
    coalesce(o.name, CASE WHEN n.${ORIGIN_COLUMN} IS NULL THEN (SELECT value FROM ${META_TABLE} WHERE key = 'node_name') END) AS origin_name
  FROM ${NOTES_TABLE} n LEFT JOIN ${NODES_TABLE} o ON o.node_id = n.${ORIGIN_COLUMN}`;

/** Thrown inside the transaction, turned into DEDUPE_INDEX_BLOCKED with the count once the lock is released. */
class UniqueIndexBlocked extends Error {}

export function prepareDatabase(db: Database, path: string, options: PrepareOptions = {}): PrepareResult {
  try {
    return inTransaction(db, 'IMMEDIATE', () => prepareInTransaction(db, path, options));
  } catch (error) {
    if (!(error instanceof UniqueIndexBlocked)) throw error;
    const duplicates: DuplicateReport = countDuplicates(db);
    throw new SyncError(
      'DEDUPE_INDEX_BLOCKED',
      `${path} already holds ${duplicates.extraRows} duplicate entries, so a UNIQUE index cannot be created; keep the default dedupe (timestamp-index), which works with them`,
      { cause: error.cause },
    );
  }
}

function prepareInTransaction(db: Database, path: string, options: PrepareOptions): PrepareResult {
  const changes: string[] = [];
  if (!tableExists(db, NOTES_TABLE) && options.createNotesTable) {
    db.exec(`CREATE TABLE ${NOTES_TABLE} (
      id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
      content TEXT NOT NULL, context TEXT, source TEXT)`);
    changes.push(`created table ${NOTES_TABLE}`);
  }
  let shape = probeNotesTable(db, path);
  for (const [name, ddl] of Object.entries(bookkeepingTables)) {
    if (!tableExists(db, name)) {
      db.exec(ddl);
      changes.push(`created table ${name}`);
    }
  }
  if (!shape.hasSource) {
    db.exec(`ALTER TABLE ${NOTES_TABLE} ADD COLUMN source TEXT`);
    changes.push(`added column ${NOTES_TABLE}.source (NULL for every existing entry; entries that arrive keep theirs)`);
  }
  if (!shape.hasOrigin) {
    db.exec(`ALTER TABLE ${NOTES_TABLE} ADD COLUMN ${ORIGIN_COLUMN} TEXT`);
    changes.push(`added column ${NOTES_TABLE}.${ORIGIN_COLUMN} (NULL means "written on this node")`);
  }
  shape = probeNotesTable(db, path);
  const logColumns = db
    .prepare(`SELECT name FROM pragma_table_info('${LOG_TABLE}')`)
    .all()
    .map((row) => String(row.name));
  for (const column of LOG_REFUSAL_COLUMNS) {
    const name = column.split(' ')[0] ?? column;
    if (logColumns.includes(name)) continue;
    db.exec(`ALTER TABLE ${LOG_TABLE} ADD COLUMN ${column}`);
    changes.push(`added column ${LOG_TABLE}.${name} (entries a receiver's table refused, and why)`);
  }

  const meta = readMeta(db);
  const keepId = meta.node_id !== undefined && !options.newIdentity && (options.nodeId === undefined || options.nodeId === meta.node_id);
  const nodeId = keepId && meta.node_id ? meta.node_id : (options.nodeId ?? randomUUID());
  if (!keepId) {
    writeMeta(db, 'node_id', nodeId);
    changes.push(meta.node_id ? `new node id ${nodeId} (was ${meta.node_id})` : `node id ${nodeId}`);
  }
  const nodeName = options.nodeName ?? meta.node_name ?? defaultNodeName();
  if (nodeName !== meta.node_name) {
    writeMeta(db, 'node_name', nodeName);
    changes.push(meta.node_name ? `node renamed ${meta.node_name} -> ${nodeName}` : `node name ${nodeName}`);
  }
  if (meta.schema_version !== String(SCHEMA_VERSION)) writeMeta(db, 'schema_version', String(SCHEMA_VERSION));

  const dedupe = ensureDedupeIndex(
    db,
    path,
    options.dedupe ?? (meta.dedupe as DedupeMode | undefined) ?? 'timestamp-index',
    options.indexBuildLimitBytes,
    changes,
  );
  if (meta.dedupe !== dedupe) writeMeta(db, 'dedupe', dedupe);

  if (!tableExists(db, ORIGIN_VIEW)) {
    db.exec(originView);
    changes.push(`created view ${ORIGIN_VIEW} (every entry with origin_id and origin_name)`);
  }
  return { changes, nodeId, nodeName, dedupe };
}

/** The dedupe index's DDL: what prepare runs, and what a refused sync tells the user to run once. */
export function dedupeIndexSql(mode: DedupeMode): string {
  return mode === 'unique-index'
    ? `CREATE UNIQUE INDEX IF NOT EXISTS ${UNIQUE_INDEX} ON ${NOTES_TABLE}(timestamp, content, source)`
    : `CREATE INDEX IF NOT EXISTS ${TIMESTAMP_INDEX} ON ${NOTES_TABLE}(timestamp)`;
}

/** What a sync says when a database is too large for it to build the dedupe index in (see SYNC_INDEX_BUILD_LIMIT_BYTES). */
export function indexBuildRefusal(where: string, bytes: number, mode: DedupeMode, fix: string): SyncError {
  return new SyncError(
    'DB_NOT_INITIALIZED',
    `${where} (${Math.round(bytes / 1024 / 1024)} MB) has no dedupe index yet, and building one keeps every writer of it waiting for as long as reading all of it takes, so neither sync nor init does unless told; build it once at a quiet moment: ${fix.replace('SQL', dedupeIndexSql(mode))}`,
  );
}

/** The database's size in bytes (pages in use and free), from its header: no scan. */
export function databaseBytes(db: Database): number {
  const pages = Number(db.prepare('PRAGMA main.page_count').get()?.page_count ?? 0);
  return pages * Number(db.prepare('PRAGMA main.page_size').get()?.page_size ?? 0);
}

function ensureDedupeIndex(db: Database, path: string, wanted: DedupeMode, limitBytes: number | undefined, changes: string[]): DedupeMode {
  // Any index whose first key is the timestamp serves the lookup (the users' idx_timestamp too); the
  // unique mode wants the unique index itself, for what it refuses.
  const missing = wanted === 'unique-index' ? !indexExists(db, UNIQUE_INDEX) : timestampIndexes(db).length === 0;
  if (!missing) return wanted;
  const bytes = limitBytes === undefined ? 0 : databaseBytes(db);
  if (limitBytes !== undefined && bytes > limitBytes) {
    const quoted = `'${path.replaceAll("'", "'\\''")}'`;
    throw indexBuildRefusal(
      path,
      bytes,
      wanted,
      `resonance-sync init --db ${quoted} --build-index (this node's database), or sqlite3 ${quoted} "SQL"`,
    );
  }
  if (wanted === 'unique-index') {
    try {
      db.exec(dedupeIndexSql(wanted));
    } catch (error) {
      throw new UniqueIndexBlocked('duplicates', { cause: error });
    }
    changes.push(`created unique index ${UNIQUE_INDEX} on (timestamp, content, source)`);
    return wanted;
  }
  db.exec(dedupeIndexSql(wanted));
  changes.push(`created index ${TIMESTAMP_INDEX} on (timestamp) for dedupe`);
  return wanted;
}

/** The machine's name, made safe for a node name; users name nodes themselves with --node. */
function defaultNodeName(): string {
  return toNodeName(hostname());
}

/**
 * True when the database has been prepared, by this version or an older one it still syncs (cheap:
 * one meta read). Read-only and dry-run opens take it as it is; see isUpToDate for the others.
 */
export function isPrepared(db: Database): boolean {
  if (!tableExists(db, META_TABLE)) return false;
  const meta = readMeta(db);
  return meta.node_id !== undefined && isUsableSchemaVersion(meta.schema_version) && tableExists(db, ORIGIN_VIEW);
}

/** True when prepareDatabase would add nothing this version needs: an open that may write runs it otherwise. */
export function isUpToDate(db: Database): boolean {
  return isPrepared(db) && readMeta(db).schema_version === String(SCHEMA_VERSION) && timestampIndexes(db).length > 0;
}
