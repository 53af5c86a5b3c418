/**
 * What the remote database looks like, learned with plain SQL over the session: its objects, the
 * notes table's columns (the same shape store/schema.ts probeNotesTable derives locally, with the
 * same checks and messages), and then its identity, known nodes, cursors and feed end. A query may
 * only name tables that exist (an error ends the session), hence probe first, then info.
 */
import { SyncError } from '../../core/errors.js';
import {
  CURSORS_TABLE,
  LOG_TABLE,
  META_TABLE,
  NODES_TABLE,
  NOTES_TABLE,
  isUsableSchemaVersion,
  shapeFromTableInfo,
  ORIGIN_VIEW,
  SCHEMA_VERSION,
  TIMESTAMP_INDEXES_SQL,
  type NotesTableShape,
  type TableInfoColumn,
} from '../../core/notes-table.js';
import type { NodeIdentity } from '../../core/replica.js';
import { textLiteral } from './sql-literals.js';

export interface ProbeRow {
  k: 'obj' | 'col' | 'logcol' | 'file' | 'tsidx';
  a: string | null;
  b: string | null;
  c: string | number | null;
}

export interface RemoteProbe {
  /** sqlite_schema names present, with their type and SQL. */
  objects: Map<string, { type: string; sql: string | null }>;
  shape: NotesTableShape;
  /** sync_log's columns, if it has that table (schema 3 added two). */
  logColumns: string[];
  /** The database file as the remote sqlite3 opened it (its physical path). */
  file: string;
  /** The indexes its dedupe lookup can seek in (core/notes-table.ts TIMESTAMP_INDEXES_SQL). */
  timestampIndexes: string[];
}

/**
 * Every object in the schema (a user database holds a handful; prepare must know all it already has)
 * with the notes table's SQL, its columns, and the file sqlite3 opened.
 */
export function probeQuery(): string {
  return `SELECT 'obj' AS k, type AS a, name AS b, CASE WHEN name = ${textLiteral(NOTES_TABLE)} THEN sql END AS c FROM main.sqlite_master
    UNION ALL SELECT 'col', name, type, pk || ',' || "notnull" || ',' || (dflt_value IS NOT NULL) FROM pragma_table_info(${textLiteral(NOTES_TABLE)}, 'main')
    UNION ALL SELECT 'logcol', name, NULL, NULL FROM pragma_table_info(${textLiteral(LOG_TABLE)}, 'main')
    UNION ALL SELECT 'file', NULL, file, NULL FROM pragma_database_list WHERE name = 'main'
    UNION ALL SELECT 'tsidx', name, NULL, NULL FROM (${TIMESTAMP_INDEXES_SQL})`;
}

export function readProbe(rows: ProbeRow[], where: string): RemoteProbe {
  const objects = new Map<string, { type: string; sql: string | null }>();
  const columns: TableInfoColumn[] = [];
  const logColumns: string[] = [];
  const timestampIndexes: string[] = [];
  let file = '';
  for (const row of rows) {
    if (row.k === 'obj' && row.b !== null) objects.set(row.b, { type: String(row.a), sql: row.c === null ? null : String(row.c) });
    if (row.k === 'col' && row.a !== null) {
      // "pk,notnull,has-default"
      const [pk, notnull, hasDefault] = String(row.c ?? '0,0,0')
        .split(',')
        .map(Number);
      columns.push({
        name: row.a,
        type: String(row.b ?? ''),
        pk: pk ?? 0,
        notnull: notnull ?? 0,
        dflt_value: hasDefault ? 'default' : null,
      });
    }
    if (row.k === 'logcol' && row.a !== null) logColumns.push(row.a);
    if (row.k === 'file') file = String(row.b ?? '');
    if (row.k === 'tsidx' && row.a !== null) timestampIndexes.push(row.a);
  }
  return { objects, shape: shapeOf(objects.get(NOTES_TABLE), columns, where), logColumns, file, timestampIndexes };
}

/** probeNotesTable's rules, applied to what the remote reported. */
function shapeOf(table: { type: string; sql: string | null } | undefined, info: TableInfoColumn[], where: string): NotesTableShape {
  if (table === undefined || table.type !== 'table') {
    throw new SyncError('DB_NO_NOTES_TABLE', `${where} has no ${NOTES_TABLE} table; is this the right database?`);
  }
  if (/\bWITHOUT\s+ROWID\b/i.test(table.sql ?? '')) {
    throw new SyncError(
      'DB_UNSUPPORTED_SCHEMA',
      `${where}: ${NOTES_TABLE} is a WITHOUT ROWID table, which has no insertion order to sync by`,
    );
  }
  return shapeFromTableInfo(info, where);
}

export interface InfoRow {
  k: 'max' | 'meta' | 'node' | 'cursor' | 'version' | 'encoding';
  a: string | null;
  b: string | null;
  c: number | null;
}

export interface RemoteInfo {
  meta: Record<string, string>;
  maxRowid: number;
  knownNodes: NodeIdentity[];
  /** Every cursor, by `senderId \0 routeKey`: the engine asks for one or two right after info. */
  cursors: Map<string, number>;
  /** The session's PRAGMA data_version (DATA_VERSION_SQL) when read. */
  dataVersion: number | undefined;
  /** The database's text encoding (PRAGMA encoding): its downloads have it, and only a receiver with the same can ATTACH them. */
  encoding: string | undefined;
}

/** The session connection's PRAGMA data_version: it changes exactly when another connection commits. */
export const DATA_VERSION_SQL = 'SELECT data_version AS v FROM pragma_data_version';

export const cursorKey = (senderId: string, routeKey: string): string => `${senderId}\u0000${routeKey}`;

/** Only the bookkeeping tables that exist are named (see the file comment). */
export function infoQuery(objects: ReadonlyMap<string, unknown>): string {
  const parts = [
    `SELECT 'max' AS k, NULL AS a, NULL AS b, (SELECT coalesce(max(rowid), 0) FROM main.${NOTES_TABLE}) AS c`,
    `SELECT 'version', NULL, NULL, (${DATA_VERSION_SQL})`,
    `SELECT 'encoding', encoding, NULL, NULL FROM pragma_encoding`,
  ];
  if (objects.has(META_TABLE)) parts.push(`SELECT 'meta', key, value, NULL FROM main.${META_TABLE}`);
  if (objects.has(NODES_TABLE)) parts.push(`SELECT 'node', node_id, name, NULL FROM main.${NODES_TABLE}`);
  if (objects.has(CURSORS_TABLE)) parts.push(`SELECT 'cursor', sender_id, route_key, through_rowid FROM main.${CURSORS_TABLE}`);
  return parts.join('\n    UNION ALL ');
}

export function readInfo(rows: InfoRow[]): RemoteInfo {
  const info: RemoteInfo = { meta: {}, maxRowid: 0, knownNodes: [], cursors: new Map(), dataVersion: undefined, encoding: undefined };
  for (const row of rows) {
    if (row.k === 'max') info.maxRowid = Number(row.c ?? 0);
    if (row.k === 'meta' && row.a !== null) info.meta[row.a] = String(row.b);
    if (row.k === 'node' && row.a !== null) info.knownNodes.push({ id: row.a, name: String(row.b) });
    if (row.k === 'cursor' && row.a !== null) info.cursors.set(cursorKey(row.a, String(row.b)), Number(row.c ?? 0));
    if (row.k === 'version' && row.c !== null) info.dataVersion = Number(row.c);
    if (row.k === 'encoding' && row.a !== null) info.encoding = String(row.a);
  }
  return info;
}

/** store/prepare.ts isPrepared, from what probe and info found. */
export function isPreparedRemote(probe: RemoteProbe, info: RemoteInfo): boolean {
  return info.meta.node_id !== undefined && isUsableSchemaVersion(info.meta.schema_version) && probe.objects.has(ORIGIN_VIEW);
}

/** store/prepare.ts isUpToDate, from what probe and info found. */
export function isUpToDateRemote(probe: RemoteProbe, info: RemoteInfo): boolean {
  return isPreparedRemote(probe, info) && info.meta.schema_version === String(SCHEMA_VERSION) && probe.timestampIndexes.length > 0;
}
