/**
 * Makes a database ready for sync, additively and idempotently: it adds tables, two nullable columns,
 * an index and a view, and never drops, deletes or rewrites anything the user's agents wrote.
 * Returns a line for each change so `init` can print exactly what it did.
 */
import { toNodeName } from '../core/node-name.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { SyncError } from '../core/errors.js';
import type { Database } from './sqlite/driver.js';
import { inTransaction } from './sqlite/transaction.js';
import { indexExists, probeNotesTable, tableExists } from './schema.js';
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

export type DedupeMode = 'timestamp-index' | 'unique-index';

export interface PrepareOptions {
  /** The node's human name; kept if already set and none is given. */
  nodeName?: string | undefined;
  dedupe?: DedupeMode | undefined;
  /** Create resonance_notes when the database has none (only for a file `init --create` just made). */
  createNotesTable?: boolean;
  /** Replace the node id: for a file copied from another node, which would otherwise share its identity. */
  newIdentity?: boolean;
  /** Give the database this node id (adopting a replaced file as the node it replaced). */
  nodeId?: string | undefined;
}

export interface PrepareResult {
  changes: string[];
  nodeId: string;
  nodeName: string;
  dedupe: DedupeMode;
  /** Entries present more than once before we came (reported, never deleted). */
  duplicates: DuplicateReport;
}

export interface DuplicateReport {
  groups: number;
  extraRows: number;
}

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
    duplicates INTEGER NOT NULL DEFAULT 0, batches INTEGER NOT NULL DEFAULT 0, error_code TEXT, message TEXT)`,
};

const originView = `CREATE VIEW ${ORIGIN_VIEW} AS
  SELECT n.*,
    coalesce(n.${ORIGIN_COLUMN}, (SELECT value FROM ${META_TABLE} WHERE key = 'node_id')) AS origin_id,
    coalesce(o.name, CASE WHEN n.${ORIGIN_COLUMN} IS NULL THEN (SELECT value FROM ${META_TABLE} WHERE key = 'node_name') END) AS origin_name
  FROM ${NOTES_TABLE} n LEFT JOIN ${NODES_TABLE} o ON o.node_id = n.${ORIGIN_COLUMN}`;

export function countDuplicates(db: Database): DuplicateReport {
  const source = probeNotesTable(db, '').hasSource ? 'source' : 'NULL';
  // GROUP BY puts NULLs together, which is the identity we want (NULL equal to NULL).
  const row = db
    .prepare(
      `SELECT count(*) AS groups, coalesce(sum(n - 1), 0) AS extra FROM (
         SELECT count(*) AS n FROM ${NOTES_TABLE} GROUP BY timestamp, content, ${source} HAVING count(*) > 1)`,
    )
    .get();
  return { groups: Number(row?.groups ?? 0), extraRows: Number(row?.extra ?? 0) };
}

export function prepareDatabase(db: Database, path: string, options: PrepareOptions = {}): PrepareResult {
  return inTransaction(db, 'IMMEDIATE', () => {
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

    const duplicates = countDuplicates(db);
    const dedupe = ensureDedupeIndex(
      db,
      path,
      options.dedupe ?? (meta.dedupe as DedupeMode | undefined) ?? 'timestamp-index',
      duplicates,
      changes,
    );
    if (meta.dedupe !== dedupe) writeMeta(db, 'dedupe', dedupe);

    if (!tableExists(db, ORIGIN_VIEW)) {
      db.exec(originView);
      changes.push(`created view ${ORIGIN_VIEW} (every entry with origin_id and origin_name)`);
    }
    return { changes, nodeId, nodeName, dedupe, duplicates };
  });
}

function ensureDedupeIndex(db: Database, path: string, wanted: DedupeMode, duplicates: DuplicateReport, changes: string[]): DedupeMode {
  if (wanted === 'unique-index') {
    if (!indexExists(db, UNIQUE_INDEX)) {
      try {
        db.exec(`CREATE UNIQUE INDEX ${UNIQUE_INDEX} ON ${NOTES_TABLE}(timestamp, content, source)`);
      } catch (error) {
        throw new SyncError(
          'DEDUPE_INDEX_BLOCKED',
          `${path} already holds ${duplicates.extraRows} duplicate entries, so a UNIQUE index cannot be created; keep the default dedupe (timestamp-index), which works with them`,
          { cause: error },
        );
      }
      changes.push(`created unique index ${UNIQUE_INDEX} on (timestamp, content, source)`);
    }
    return wanted;
  }
  if (!indexExists(db, TIMESTAMP_INDEX) && !indexExists(db, UNIQUE_INDEX)) {
    db.exec(`CREATE INDEX ${TIMESTAMP_INDEX} ON ${NOTES_TABLE}(timestamp)`);
    changes.push(`created index ${TIMESTAMP_INDEX} on (timestamp) for dedupe`);
  }
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
  return isPrepared(db) && readMeta(db).schema_version === String(SCHEMA_VERSION);
}
