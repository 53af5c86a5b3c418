/**
 * SQL that applies an uploaded batch on the remote exactly as local/apply.ts does locally, in one
 * write transaction with the cursor: the statements are store/receive-sql.ts's, their parameters
 * inlined as literals. Each entry, in order, is skipped when an identical one is already there,
 * including one inserted earlier in the same batch (the TEMP dedupe trigger); otherwise it is
 * inserted with OR IGNORE, so one the table's own constraints refuse is counted as rejected.
 *
 * The reply also says how long the batch held the remote's write lock and the remote connection's
 * PRAGMA data_version, which moves only when other connections commit: what the write-lock yield
 * policy needs to give the remote's own writers their turn.
 */
import { SyncError } from '../../core/errors.js';
import type { ApplyRequest, ReceiveReport } from '../../core/replica.js';
import { NOTES_TABLE, type NotesTableShape } from '../../core/notes-table.js';
import {
  batchBookkeepingSql,
  DEDUPE_SETUP_SQL,
  DEDUPE_TEARDOWN_SQL,
  DUPLICATES_SQL,
  finishReceivingSql,
  insertEntriesInto,
  receivedColumns,
  receivedOrigin,
  sameEntry,
  TABLE_END_SQL,
} from '../../store/receive-sql.js';
import type { BoundSql } from '../../store/sql.js';
import { valueColumns } from './delta-file.js';
import { DATA_VERSION_SQL } from './remote-schema.js';
import type { RequestPart } from './session.js';
import { inlineParams } from './sql-literals.js';

export const UPLOAD_FILE = 'up.sqlite3';

export interface ApplyPlan {
  /** Which request.columns the remote table has, and where each sits in a row's values. */
  columns: string[];
  positions: number[];
}

export function applyPlan(shape: NotesTableShape, request: Pick<ApplyRequest, 'columns'>): ApplyPlan {
  const columns = receivedColumns(shape, request.columns);
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
  /** Milliseconds from taking the write lock to committing (to answering, in a dry run). */
  held_ms: number;
  data_version: number;
}

/** The notes table's max rowid as the batch's transaction began, kept in the batch's result row. */
const BEFORE_BATCH = '(SELECT before FROM temp.rs_result)';

/** A statement of store/receive-sql.ts for the remote sqlite3. */
const inlined = ({ sql, params }: BoundSql): string => `${inlineParams(sql, params)};`;

/**
 * `relayMarks`: the remote has ARRIVALS_TABLE (an older schema read by a dry run has not).
 * `previewSetup`: a dry run's batch into a remote never prepared is tried after these statements
 * (remote-state.ts previewSetup) in the same transaction, and rolled back with them.
 */
export function applyRequest(
  selfId: string,
  request: ApplyRequest,
  plan: ApplyPlan,
  upload: Uint8Array | undefined,
  relayMarks: boolean,
  previewSetup?: readonly string[],
): { before: RequestPart[]; query: string; after: string[] } {
  if (previewSetup && !request.dryRun)
    throw new SyncError('INTERNAL', 'a remote only previewed cannot store entries before it is prepared');
  // A batch without entries (the sender's feed moved past rows its route or echo filter kept back)
  // only moves the cursor: no file is sent (uploadFor), and no statement touches the table.
  const empty = request.rows.length === 0;
  if (!empty && upload === undefined) throw new SyncError('INTERNAL', 'a batch with entries needs its upload file');
  const statements = [
    ...(empty ? [] : [`ATTACH '${UPLOAD_FILE}' AS rs_up;`]),
    'BEGIN IMMEDIATE;',
    ...(previewSetup ?? []),
    'CREATE TEMP TABLE rs_result (locked_at REAL, before INTEGER, inserted INTEGER, duplicates INTEGER, total INTEGER, new_seqs TEXT);',
    `INSERT INTO temp.rs_result (locked_at, before) SELECT julianday('now'), (${TABLE_END_SQL});`,
    ...(empty ? ['UPDATE temp.rs_result SET inserted = 0, duplicates = 0, total = 0;'] : entryStatements(selfId, plan)),
    // The relay mark's statement records nothing when the batch inserted nothing.
    ...batchBookkeepingSql(selfId, request, relayMarks ? { sql: BEFORE_BATCH } : undefined).map(inlined),
  ];
  // The reply is read after COMMIT, so a commit that fails (ending the session) is never reported as
  // applied; a dry run answers inside the transaction and rolls back.
  if (!request.dryRun) statements.push('COMMIT;');
  return {
    before: upload === undefined || empty ? statements : [`SELECT writefile('${UPLOAD_FILE}', X'`, { hex: upload }, `');`, ...statements],
    query: `SELECT inserted, duplicates, total, new_seqs, CAST((julianday('now') - locked_at) * 86400000 AS INTEGER) AS held_ms,
      (${DATA_VERSION_SQL}) AS data_version FROM temp.rs_result`,
    after: [...(request.dryRun ? ['ROLLBACK;'] : []), 'DROP TABLE IF EXISTS temp.rs_result;', ...(empty ? [] : ['DETACH rs_up;'])],
  };
}

/** A non-empty batch's entries: each inserted unless an identical one is there (the dedupe trigger), and counted. */
function entryStatements(selfId: string, plan: ApplyPlan): string[] {
  const delta = valueColumns(plan.columns.length);
  const at = (name: string) => {
    const index = plan.columns.indexOf(name);
    return index < 0 ? 'NULL' : `u.${delta[index] as string}`;
  };
  return [
    ...DEDUPE_SETUP_SQL.map((sql) => `${sql};`),
    inlined({
      sql: `${insertEntriesInto(plan.columns)} SELECT ${[...delta, receivedOrigin('__origin')].join(', ')} FROM rs_up.rows ORDER BY __seq`,
      params: [selfId],
    }),
    'UPDATE temp.rs_result SET inserted = changes();',
    `UPDATE temp.rs_result SET duplicates = (${DUPLICATES_SQL}), total = (SELECT count(*) FROM rs_up.rows),
       new_seqs = (SELECT group_concat(s) FROM (SELECT min(u.__seq) AS s FROM rs_up.rows u
         JOIN main.${NOTES_TABLE} m ON ${sameEntry('m', at)} AND m.rowid > ${BEFORE_BATCH} GROUP BY m.rowid));`,
    ...DEDUPE_TEARDOWN_SQL.map((sql) => `${sql};`),
  ];
}

/** After a direction towards the remote ends: sync_tracking, and the sync note when entries arrived. */
export function finishSql(shape: NotesTableShape, report: ReceiveReport): string {
  return ['BEGIN IMMEDIATE;', ...finishReceivingSql(shape, report).map(inlined), 'COMMIT;'].join('\n');
}
