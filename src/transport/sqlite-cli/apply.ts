/**
 * SQL that applies an uploaded batch on the remote exactly as store/batch-writer.ts does locally,
 * in one write transaction with the cursor: each entry, in order, is skipped when an identical one
 * (timestamp, content, source; NULL equal to NULL) is already there, including one inserted earlier
 * in the same batch; otherwise it is inserted with OR IGNORE, so one the table's own constraints
 * refuse is counted as rejected and passed over.
 *
 * The per-entry check is a TEMP trigger (never stored in the user's database) that RAISE(IGNORE)s a
 * duplicate: unlike a NOT EXISTS in the INSERT's SELECT, which SQLite evaluates before inserting
 * anything, a trigger sees the rows this very statement inserted before it.
 */
import type { ApplyRequest } from '../../core/replica.js';
import { CURSORS_TABLE, META_TABLE, NODES_TABLE, NOTES_TABLE, ORIGIN_COLUMN, TRACKING_TABLE, type NotesTableShape } from '../../core/notes-table.js';
import { NOTHING_RECEIVED_YET } from '../../store/tracking.js';
import { SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE, syncNoteText } from '../../core/sync-note.js';
import type { ReceiveReport } from '../../core/replica.js';
import { valueColumns } from './delta-file.js';
import type { RequestPart } from './session.js';
import { identifier, integerLiteral, textLiteral } from './sql-literals.js';

export const UPLOAD_FILE = 'up.sqlite3';
const NOW = `strftime('%Y-%m-%dT%H:%M:%fZ')`;

export interface ApplyPlan {
  /** Which request.columns the remote table has, and where each sits in a row's values. */
  columns: string[];
  positions: number[];
}

/** BatchWriter's column choice: the sender's columns this table has, in the sender's order. */
export function applyPlan(shape: NotesTableShape, request: Pick<ApplyRequest, 'columns'>): ApplyPlan {
  const columns = request.columns.filter((name) => shape.userColumns.includes(name));
  return { columns, positions: columns.map((name) => request.columns.indexOf(name)) };
}

export interface ApplyResultRow {
  inserted: number;
  duplicates: number;
  total: number;
  /**
   * Upload positions of the entries now stored, comma-separated: for each new row, the first batch
   * entry with its identity (the one inserted, unless an earlier identical one was refused).
   */
  new_seqs: string | null;
}

export function applyRequest(selfId: string, request: ApplyRequest, plan: ApplyPlan, upload: Uint8Array): { before: RequestPart[]; query: string; after: string[] } {
  const delta = valueColumns(plan.columns.length);
  const at = (name: string) => {
    const index = plan.columns.indexOf(name);
    return index < 0 ? 'NULL' : `u.${delta[index] as string}`;
  };
  const same = (m: string, value: (name: string) => string) => ['timestamp', 'content', 'source'].map((name) => `${m}.${identifier(name)} IS ${value(name)}`).join(' AND ');
  const statements = [
    `ATTACH '${UPLOAD_FILE}' AS rs_up;`,
    'BEGIN IMMEDIATE;',
    'CREATE TEMP TABLE rs_dups (x);',
    'CREATE TEMP TABLE rs_result (before INTEGER, inserted INTEGER, duplicates INTEGER, total INTEGER, new_seqs TEXT);',
    `INSERT INTO temp.rs_result (before) SELECT coalesce(max(rowid), 0) FROM main.${NOTES_TABLE};`,
    `CREATE TEMP TRIGGER rs_dedupe BEFORE INSERT ON main.${NOTES_TABLE}
       WHEN EXISTS (SELECT 1 FROM main.${NOTES_TABLE} m WHERE ${same('m', (name) => `NEW.${identifier(name)}`)})
       BEGIN INSERT INTO rs_dups VALUES (1); SELECT RAISE(IGNORE); END;`,
    // An entry of this node's own coming back means it lost it (restored from an older copy): it
    // returns as "written here".
    `INSERT OR IGNORE INTO main.${NOTES_TABLE} (${[...plan.columns.map(identifier), ORIGIN_COLUMN].join(', ')})
       SELECT ${[...delta, `CASE WHEN __origin = (SELECT value FROM main.${META_TABLE} WHERE key = 'node_id') THEN NULL ELSE __origin END`].join(', ')}
       FROM rs_up.rows ORDER BY __seq;`,
    'UPDATE temp.rs_result SET inserted = changes();',
    'DROP TRIGGER temp.rs_dedupe;',
    `UPDATE temp.rs_result SET duplicates = (SELECT count(*) FROM temp.rs_dups), total = (SELECT count(*) FROM rs_up.rows),
       new_seqs = (SELECT group_concat(s) FROM (SELECT min(u.__seq) AS s FROM rs_up.rows u
         JOIN main.${NOTES_TABLE} m ON ${same('m', at)} AND m.rowid > (SELECT before FROM temp.rs_result) GROUP BY m.rowid));`,
  ];
  // A repair batch (from verify) carries entries from anywhere in the feed: no cursor moves.
  if (request.throughRowid >= 0) {
    statements.push(
      `INSERT INTO main.${CURSORS_TABLE} (sender_id, route_key, sender_name, through_rowid, updated_at)
         VALUES (${textLiteral(request.sender.id)}, ${textLiteral(request.routeKey)}, ${textLiteral(request.sender.name)}, ${integerLiteral(request.throughRowid)}, ${NOW})
         ON CONFLICT (sender_id, route_key) DO UPDATE SET sender_name = excluded.sender_name,
           through_rowid = CASE WHEN ${request.resetCursor ? 1 : 0} THEN excluded.through_rowid ELSE max(through_rowid, excluded.through_rowid) END,
           updated_at = excluded.updated_at;`,
    );
  }
  for (const node of [request.sender, ...request.knownNodes]) {
    if (node.id === selfId) continue;
    statements.push(
      `INSERT INTO main.${NODES_TABLE} (node_id, name, first_seen, last_seen) VALUES (${textLiteral(node.id)}, ${textLiteral(node.name)}, ${NOW}, ${NOW})
         ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen;`,
    );
  }
  // The reply is read after COMMIT, so a commit that fails (ending the session) is never reported as
  // applied; a dry run answers inside the transaction and rolls back.
  if (!request.dryRun) statements.push('COMMIT;');
  return {
    before: [`SELECT writefile('${UPLOAD_FILE}', X'`, { hex: upload }, `');`, ...statements],
    query: 'SELECT inserted, duplicates, total, new_seqs FROM temp.rs_result',
    after: [...(request.dryRun ? ['ROLLBACK;'] : []), 'DROP TABLE IF EXISTS temp.rs_dups;', 'DROP TABLE IF EXISTS temp.rs_result;', 'DETACH rs_up;'],
  };
}

/** After a direction towards the remote ends: sync_tracking, and the sync note when entries arrived. */
export function finishSql(shape: NotesTableShape, report: ReceiveReport): string {
  const statements = [
    'BEGIN IMMEDIATE;',
    `INSERT INTO main.${TRACKING_TABLE} (remote_node, last_sync_timestamp, last_sync_success, sync_count)
       VALUES (${textLiteral(report.trackingName)}, ${textLiteral(report.newestTimestamp ?? NOTHING_RECEIVED_YET)}, ${report.success ? 1 : 0}, 1)
       ON CONFLICT (remote_node) DO UPDATE SET last_sync_timestamp = max(last_sync_timestamp, excluded.last_sync_timestamp),
         last_sync_success = excluded.last_sync_success, sync_count = coalesce(sync_count, 0) + 1;`,
  ];
  if (report.writeSyncNote && report.received > 0) {
    // The remote's clock, as on a node that writes its own note (sqliteNow there).
    const names = shape.hasContext ? 'timestamp, content, context, source' : 'timestamp, content, source';
    const text = textLiteral(syncNoteText(report.received, report.sender.name));
    const values = shape.hasContext ? `${text}, ${textLiteral(SYNC_NOTE_CONTEXT)}` : text;
    statements.push(`INSERT INTO main.${NOTES_TABLE} (${names}) VALUES (strftime('%Y-%m-%d %H:%M:%S', 'now'), ${values}, ${textLiteral(SYNC_NOTE_SOURCE)});`);
  }
  statements.push('COMMIT;');
  return statements.join('\n');
}
