/**
 * The receive side's rules, each written once as SQL with bound `?` parameters. A receiver on this
 * machine binds them (transport/local: the row-by-row writer and the attached transfer); the
 * agentless receiver inlines the same statements as literals for the remote sqlite3
 * (transport/sqlite-cli/apply.ts, through sql-literals.ts inlineParams). So the dedupe, the
 * origin kept on arrival, the cursor and node bookkeeping, sync_tracking and the sync note cannot
 * drift apart between transports.
 */
import {
  ARRIVALS_TABLE,
  CURSORS_TABLE,
  IDENTITY_COLUMNS,
  NODES_TABLE,
  NOTES_TABLE,
  ORIGIN_COLUMN,
  TRACKING_TABLE,
  type NotesTableShape,
} from '../core/notes-table.js';
import type { ApplyRequest, ReceiveReport } from '../core/replica.js';
import { SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE, syncNoteText } from '../core/sync-note.js';
import { quoteIdentifier, type BoundSql } from './sql.js';

/** Bookkeeping times: UTC ISO 8601 with milliseconds, by the receiving database's own clock. */
const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ')`;
/** A sync note's time: SQLite's CURRENT_TIMESTAMP shape (UTC, to the second), as agents' own notes have. */
const SYNC_NOTE_NOW = `strftime('%Y-%m-%d %H:%M:%S', 'now')`;

/** sync_tracking.last_sync_timestamp is NOT NULL; this is its value until an entry has arrived. */
const NOTHING_RECEIVED_YET = '1970-01-01T00:00:00.000Z';

/** The sender's columns this table has, in the sender's order; values of the others are dropped. */
export function receivedColumns(shape: NotesTableShape, senderColumns: readonly string[]): string[] {
  return senderColumns.filter((name) => shape.userColumns.includes(name));
}

// Dedupe ---------------------------------------------------------------------------------------

/**
 * `stored` holds the same entry as `candidate`: timestamp, content and source byte for byte, NULL
 * equal to NULL. `IS` is what makes NULL equal NULL, and SQLite answers it from the timestamp index
 * as it would `=`.
 */
export function sameEntry(stored: string, candidate: (column: string) => string): string {
  return IDENTITY_COLUMNS.map((column) => `${stored}.${quoteIdentifier(column)} IS ${candidate(column)}`).join(' AND ');
}

/** Whether an identical entry is stored; bind the IDENTITY_COLUMNS' values, in that order. */
export const FIND_ENTRY_SQL = `SELECT 1 AS found FROM main.${NOTES_TABLE} m WHERE ${sameEntry('m', () => '?')} LIMIT 1`;

const DEDUPE_TRIGGER = 'resonance_sync_dedupe';
const DUPLICATES = 'resonance_sync_duplicates';

/**
 * For inserting many entries with one statement: a TEMP trigger (never stored in the user's database)
 * skips an entry when an identical one is stored, and counts it. It also sees the rows the same
 * statement inserted a moment before, which a NOT EXISTS in the INSERT's SELECT would not (SQLite
 * evaluates that before inserting anything). The trigger body names its counter unqualified: SQLite
 * refuses schema names there, and a TEMP trigger finds the TEMP table.
 */
export const DEDUPE_SETUP_SQL: readonly string[] = [
  `CREATE TEMP TABLE IF NOT EXISTS ${DUPLICATES} (n INTEGER NOT NULL)`,
  `DELETE FROM temp.${DUPLICATES}`,
  `INSERT INTO temp.${DUPLICATES} VALUES (0)`,
  `CREATE TEMP TRIGGER IF NOT EXISTS ${DEDUPE_TRIGGER} BEFORE INSERT ON main.${NOTES_TABLE}
     WHEN EXISTS (SELECT 1 FROM main.${NOTES_TABLE} m WHERE ${sameEntry('m', (column) => `NEW.${quoteIdentifier(column)}`)})
     BEGIN UPDATE ${DUPLICATES} SET n = n + 1; SELECT RAISE(IGNORE); END`,
];
/** The entries the trigger skipped since the setup or the last reset. */
export const DUPLICATES_SQL = `SELECT n FROM temp.${DUPLICATES}`;
export const RESET_DUPLICATES_SQL = `UPDATE temp.${DUPLICATES} SET n = 0`;
export const DEDUPE_TEARDOWN_SQL: readonly string[] = [
  `DROP TRIGGER IF EXISTS temp.${DEDUPE_TRIGGER}`,
  `DROP TABLE IF EXISTS temp.${DUPLICATES}`,
];

// Inserting ------------------------------------------------------------------------------------

/**
 * The start of every insert of received entries, to be followed by VALUES or a SELECT giving the
 * `columns` and then receivedOrigin(). OR IGNORE: an entry this database's own constraints refuse
 * (say a NULL source into a NOT NULL column) is counted as rejected and passed over, rather than
 * blocking every later entry forever.
 */
export function insertEntriesInto(columns: readonly string[]): string {
  return `INSERT OR IGNORE INTO main.${NOTES_TABLE} (${[...columns.map(quoteIdentifier), ORIGIN_COLUMN].join(', ')})`;
}

/**
 * The origin stored with a received entry, from the sender's (never empty) `origin`; bind this
 * node's id after the expression's own parameters. An entry of this node's own coming back means the
 * database lost it (restored from an older copy): it returns as "written here", NULL.
 */
export function receivedOrigin(origin: string): string {
  return `nullif(${origin}, ?)`;
}

// Bookkeeping committed with each batch ---------------------------------------------------------

export type BatchReceipt = Pick<ApplyRequest, 'sender' | 'routeKey' | 'throughRowid' | 'rewound' | 'knownNodes'>;

const NODE_UPSERT = `INSERT INTO main.${NODES_TABLE} (node_id, name, first_seen, last_seen) VALUES (?, ?, ${NOW}, ${NOW})
  ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen`;

/** The cursor only moves forward, unless the sender was found replaced or restored (rewound). */
const CURSOR_UPSERT = `INSERT INTO main.${CURSORS_TABLE} (sender_id, route_key, sender_name, through_rowid, updated_at) VALUES (?, ?, ?, ?, ${NOW})
  ON CONFLICT (sender_id, route_key) DO UPDATE SET
    sender_name = excluded.sender_name,
    through_rowid = CASE WHEN ? THEN excluded.through_rowid ELSE max(through_rowid, excluded.through_rowid) END,
    updated_at = excluded.updated_at`;

/**
 * What every received batch commits besides its rows, in the same transaction: the names of the
 * nodes the sender has heard of (so relayed origins keep a human name), the receiver-owned cursor
 * into the sender's feed, which is what makes each batch exactly-once, and the batch's relay mark
 * (recordArrivalSql) when `arrivedAfter` is given: undefined where this database has no
 * ARRIVALS_TABLE yet (an older schema in a dry run, which writes nothing anyway).
 */
export function batchBookkeepingSql(selfId: string, receipt: BatchReceipt, arrivedAfter: RowidBefore | undefined): BoundSql[] {
  const statements = [receipt.sender, ...receipt.knownNodes]
    .filter((node) => node.id !== selfId)
    .map((node): BoundSql => ({ sql: NODE_UPSERT, params: [node.id, node.name] }));
  // A repair batch (from verify) carries entries from anywhere in the feed: no cursor moves.
  if (receipt.throughRowid >= 0) {
    statements.push({
      sql: CURSOR_UPSERT,
      params: [receipt.sender.id, receipt.routeKey, receipt.sender.name, receipt.throughRowid, receipt.rewound ? 1 : 0],
    });
  }
  if (arrivedAfter !== undefined) statements.push(recordArrivalSql(receipt.sender.id, arrivedAfter));
  return statements;
}

/** The receiving table's max rowid (0 when empty): read as a batch's transaction begins, for its relay mark. */
export const TABLE_END_SQL = `SELECT coalesce(max(rowid), 0) AS m FROM main.${NOTES_TABLE}`;

/** The table's max rowid before a batch: a value, or an SQL expression where only the remote knows it. */
export type RowidBefore = number | { sql: string };

/**
 * The relay mark of a batch, run in its write transaction after its rows: the rowid range the batch
 * inserted, and the node it came from, so this node's feed never sends those rows back to it
 * (store/feed-filter.ts). Within the transaction no other writer can insert, so the rows above the
 * table's max rowid before the batch (`before`: a value, or an SQL expression where only the remote
 * knows it) are exactly the batch's. Nothing is recorded when nothing was inserted. OR REPLACE: a
 * range can only meet an older one of the same sender at the same rowid if someone deleted the
 * table's last rows and SQLite handed their rowids out again; the new range is then the true one.
 * Two seeks in the rowid b-tree, never a pass over the batch's rows.
 */
export function recordArrivalSql(senderId: string, before: RowidBefore): BoundSql {
  const after = typeof before === 'object' ? before.sql : '?';
  return {
    sql: `INSERT OR REPLACE INTO main.${ARRIVALS_TABLE} (first_rowid, last_rowid, via)
      SELECT first, (SELECT max(rowid) FROM main.${NOTES_TABLE}), ?
      FROM (SELECT (SELECT rowid FROM main.${NOTES_TABLE} WHERE rowid > ${after} ORDER BY rowid LIMIT 1) AS first)
      WHERE first IS NOT NULL`,
    params: typeof before === 'object' ? [senderId] : [senderId, before],
  };
}

/** How far into a sender's feed this database has committed, under one route (no row: 0). */
export function cursorSql(senderId: string, routeKey: string): BoundSql {
  return {
    sql: `SELECT through_rowid AS t FROM main.${CURSORS_TABLE} WHERE sender_id = ? AND route_key = ?`,
    params: [senderId, routeKey],
  };
}

// After a direction ends -------------------------------------------------------------------------

/**
 * sync_tracking (the users' own table: one row per remote, the newest received time only ever
 * growing), and the note "Synced N entries from <node>" when entries arrived. The note is stamped
 * like SQLite's CURRENT_TIMESTAMP by the receiving database's clock, as a node writing its own notes
 * would stamp them. Run together in one write transaction.
 */
export function finishReceivingSql(shape: Pick<NotesTableShape, 'hasContext'>, report: ReceiveReport): BoundSql[] {
  const statements: BoundSql[] = [
    {
      sql: `INSERT INTO main.${TRACKING_TABLE} (remote_node, last_sync_timestamp, last_sync_success, sync_count) VALUES (?, ?, ?, 1)
        ON CONFLICT (remote_node) DO UPDATE SET
          last_sync_timestamp = max(last_sync_timestamp, excluded.last_sync_timestamp),
          last_sync_success = excluded.last_sync_success,
          sync_count = coalesce(sync_count, 0) + 1`,
      params: [report.trackingName, report.newestTimestamp ?? NOTHING_RECEIVED_YET, report.success ? 1 : 0],
    },
  ];
  if (report.writeSyncNote && report.received > 0) {
    const text = syncNoteText(report.received, report.sender.name);
    const [columns, params] = shape.hasContext
      ? ['timestamp, content, context, source', [text, SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE]]
      : ['timestamp, content, source', [text, SYNC_NOTE_SOURCE]];
    statements.push({
      sql: `INSERT INTO main.${NOTES_TABLE} (${columns}) VALUES (${SYNC_NOTE_NOW}, ${params.map(() => '?').join(', ')})`,
      params,
    });
  }
  return statements;
}
