/**
 * Moves a sender's feed into this database when both files are on this machine (a local peer, the
 * demo, the simulation): the sender is ATTACHed to the receiver's connection and each batch moves
 * with INSERT … SELECT, so the rows never become JavaScript values. That is what makes a local sync
 * about as fast as inserting the same rows straight through the binding.
 *
 * Each batch is two transactions. First a read of the sender alone copies the batch into a TEMP table
 * (memory or a private temp file, never locked). Then the write transaction of this database moves it
 * from there, with the sender no longer read. One INSERT … SELECT straight from the sender held the
 * sender's read lock until this database's commit was on disk: in the rollback journal (the users'
 * default) no agent of the sender can commit meanwhile, and agents of a 180 MB sender were measured
 * waiting 1.5–4 s under load. The extra copy is of bytes already in memory.
 *
 * The semantics are exactly those of FeedReader + BatchWriter, batch for batch, because the rules
 * are the same text:
 * - the feed: store/feed-filter.ts, in rowid order, in batches bounded by rows and bytes (bytes
 *   counted without reading the notes: octet_length needs only the header) and by the rowids one
 *   batch may scan;
 * - dedupe, OR IGNORE, the origin kept and the bookkeeping committed with each batch (the relay
 *   mark among it): store/receive-sql.ts, the dedupe as its TEMP trigger;
 * - what arrived: core/arrivals.ts, from the rows just stored.
 */
import type { AppliedBatch, ApplyResult, FeedRequest } from '../../core/replica.js';
import { ArrivalTally, arrivalTime } from '../../core/arrivals.js';
import { attributeRefusals, nullInRequired } from '../../core/refusals.js';
import { SYNC_NOTE_SOURCE } from '../../core/sync-note.js';
import type { NaiveTimestamps } from '../../core/timestamps.js';
import type { SqlValue } from '../../core/sql-value.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../../core/notes-table.js';
import { BatchBookkeeping } from '../../store/batch-bookkeeping.js';
import { batchTransaction } from '../../store/batch-transaction.js';
import { columnOrNull, feedFilter, feedOriginSql, SCAN_ROWIDS_PER_BATCH } from '../../store/feed-filter.js';
import {
  DEDUPE_SETUP_SQL,
  DEDUPE_TEARDOWN_SQL,
  DUPLICATES_SQL,
  insertEntriesInto,
  receivedColumns,
  receivedOrigin,
  RESET_DUPLICATES_SQL,
  TABLE_END_SQL,
  type BatchReceipt,
} from '../../store/receive-sql.js';
import type { Database } from '../../store/sqlite/driver.js';
import type { WriteLockYielder } from '../../store/write-lock-yield.js';
import { inTransaction } from '../../store/sqlite/transaction.js';
import { arrivalsSchema } from '../../store/schema.js';

const PEER = 'resonance_sync_peer';
/** The TEMP table a batch is staged in between the read of the sender and the write of this database. */
const STAGE = 'resonance_sync_stage';
/** The SQL function that hands a batch's rows to its BatchBudget (registered on the receiver's connection). */
const BUDGET = 'resonance_sync_batch_budget';
/** The SQL function giving arrivalTime() of a received entry's timestamp (registered on the receiver's connection). */
const ARRIVAL_TIME = 'resonance_sync_arrival_time';

/**
 * Which feed rows one batch takes, told each row's rowid and size in the order the feed reads them:
 * rows until maxRows of them or maxBytes of values are reached, the row that reaches either
 * included (FeedReader's rule), none after it.
 */
class BatchBudget {
  sent = 0;
  bytes = 0;
  lastRowid = 0;
  full = false;

  constructor(
    private readonly maxRows: number,
    private readonly maxBytes: number,
  ) {}

  reset(): void {
    this.sent = 0;
    this.bytes = 0;
    this.lastRowid = 0;
    this.full = false;
  }

  /** 1: the batch takes the row; 0: the batch is full. */
  take(rowid: number, bytes: number): number {
    if (this.full) return 0;
    this.sent++;
    this.bytes += bytes;
    this.lastRowid = rowid;
    this.full = this.sent >= this.maxRows || this.bytes >= this.maxBytes;
    return 1;
  }
}

export interface AttachedTransferRequest {
  senderPath: string;
  senderShape: NotesTableShape;
  senderId: string;
  feed: FeedRequest;
  /** Cursor bookkeeping for every batch; rewound applies to the first one only. */
  receipt: Omit<BatchReceipt, 'throughRowid'>;
  dryRun: boolean;
}

interface Receiver {
  db: Database;
  shape: NotesTableShape;
  selfId: string;
  naive: NaiveTimestamps;
  /** The connection's one yielder, as BatchWriter's. */
  yielder: WriteLockYielder;
}

/** Batches until the sender's feed is exhausted; the sender stays attached only while this runs. */
export function* attachedTransfer(receiver: Receiver, request: AttachedTransferRequest): Generator<AppliedBatch> {
  const { db } = receiver;
  db.prepare(`ATTACH DATABASE ? AS ${PEER}`).run(request.senderPath);
  try {
    db.exec(DEDUPE_SETUP_SQL.map((statement) => `${statement};`).join('\n'));
    yield* batches(receiver, request);
  } finally {
    try {
      db.exec(
        [...DEDUPE_TEARDOWN_SQL, `DROP TABLE IF EXISTS temp.${STAGE}`, `DETACH DATABASE ${PEER}`]
          .map((statement) => `${statement};`)
          .join('\n'),
      );
    } catch {
      // Only TEMP objects and an attachment of this connection, gone when it closes; the error that
      // ended the transfer (if any) is the one worth reporting.
    }
  }
}

function* batches(receiver: Receiver, request: AttachedTransferRequest): Generator<AppliedBatch> {
  const { db, shape, selfId, yielder } = receiver;
  const { feed } = request;
  const filter = feedFilter(request.senderShape, feed, arrivalsSchema(db, PEER));
  const senderColumn = (name: string) => columnOrNull(request.senderShape, name);
  const columns = receivedColumns(shape, feed.columns);
  const byteSize = columns.length ? columns.map((name) => `coalesce(octet_length(${senderColumn(name)}), 0)`).join(' + ') : '0';

  const senderEnd = db.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM ${PEER}.${NOTES_TABLE}`, { exactIntegers: true });
  const receiverEnd = db.prepare(TABLE_END_SQL, { exactIntegers: true });
  // The batch is staged in a TEMP table by a read of its own (see the file comment): the values as
  // stored, the origin, and which NOT NULL columns of this table each leaves NULL. Untyped columns:
  // no affinity, so every value is copied exactly. Parameters: the sender's id (for its own entries'
  // origin), this node's id, then the filter's.
  const required = shape.requiredColumns.map((c) => c.name).filter((name) => columns.includes(name));
  const staged = [...columns.map((_, i) => `v${i}`), 'o', ...required.map((_, i) => `n${i}`)];
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (r INTEGER PRIMARY KEY, ${staged.join(', ')}); DELETE FROM temp.${STAGE}`);
  // One read of the sender per batch. The inner query offers the feed's rows, in rowid order and at
  // most maxRows of them, to the batch's budget (BatchBudget, as the SQL function BUDGET), reading
  // only their rowid and size (octet_length needs only the record header): its LIMIT keeps SQLite
  // from flattening it, so the budget sees exactly the rows the filter keeps (its correlated relay
  // check included), in order, once each. Then, for the rows the budget took only, one seek by rowid
  // reads their values (CROSS JOIN: SQLite keeps that loop order), so a row past the budget, maybe
  // a 10 MB note, is never read. Parameters: the sender's id (for its own entries' origin), this
  // node's id, the filter's, then maxRows.
  const budget = new BatchBudget(feed.maxRows, feed.maxBytes);
  db.defineFunction(BUDGET, (rowid, bytes) => budget.take(Number(rowid), Number(bytes)));
  const seekedColumn = (name: string) => columnOrNull(request.senderShape, name, 's.');
  const picked = [
    ...columns.map((name, i) => `${seekedColumn(name)} AS v${i}`),
    `${receivedOrigin(feedOriginSql(seekedColumn(ORIGIN_COLUMN)))} AS o`,
    ...required.map((name, i) => `${seekedColumn(name)} IS NULL AS n${i}`),
  ];
  const stage = db.prepare(
    `INSERT INTO temp.${STAGE} (r, ${staged.join(', ')})
     SELECT b.r, ${picked.join(', ')}
     FROM (SELECT rowid AS r, ${BUDGET}(rowid, ${byteSize}) AS k
           FROM ${PEER}.${NOTES_TABLE} WHERE ${filter.sql} ORDER BY rowid LIMIT ?) AS b
       CROSS JOIN ${PEER}.${NOTES_TABLE} AS s ON s.rowid = b.r
     WHERE b.k
     ORDER BY b.r`,
  );
  const clearStage = db.prepare(`DELETE FROM temp.${STAGE}`);
  const insert = db.prepare(
    `${insertEntriesInto(columns)} SELECT ${[...columns.map((_, i) => `v${i}`), 'o'].join(', ')} FROM temp.${STAGE} ORDER BY r`,
  );
  const duplicates = db.prepare(DUPLICATES_SQL);
  const resetDuplicates = db.prepare(RESET_DUPLICATES_SQL);
  // What arrived, read back from the rows just stored, in one pass that makes no JavaScript value of
  // a row: SQL keeps the newest arrivalTime() (the function, called with the timestamp alone) of the
  // rows that cannot be sync notes and whose timestamp no binding cuts (node:sqlite ends a TEXT
  // argument at U+0000). The others, rare, are read whole and tallied entry by entry; of those the
  // text is read only of the rows that may be sync notes without a context. `IS NOT … COLLATE BINARY`
  // matches every value isSyncNote could take for ours, under any collation of the column.
  const context = columnOrNull(shape, 'context');
  db.defineFunction(ARRIVAL_TIME, (timestamp) => arrivalTime(timestamp, receiver.naive) ?? null);
  const plain = `(source IS NOT ? COLLATE BINARY AND coalesce(instr(timestamp, char(0)), 0) = 0)`;
  const arrivedPlain = db.prepare(
    `SELECT max(CASE WHEN ${plain} THEN ${ARRIVAL_TIME}(timestamp) END) AS newest, sum(NOT ${plain}) AS others
     FROM main.${NOTES_TABLE} WHERE rowid > ?`,
  );
  const arrivedOthers = db.prepare(
    `SELECT timestamp AS t, ${context} AS c, source AS s, CASE WHEN source = ? AND ${context} IS NULL THEN content END AS p
     FROM main.${NOTES_TABLE} WHERE rowid > ? AND NOT ${plain}`,
  );
  const arrivalsAfter = (before: SqlValue) => {
    const tally = new ArrivalTally(receiver.naive);
    const row = arrivedPlain.get(SYNC_NOTE_SOURCE, SYNC_NOTE_SOURCE, before);
    tally.addTime(row?.newest === null || row?.newest === undefined ? undefined : Number(row.newest));
    if (Number(row?.others ?? 0) > 0)
      for (const [t, c, s, p] of arrivedOthers.iterateArrays(SYNC_NOTE_SOURCE, before, SYNC_NOTE_SOURCE)) tally.add(t, c, s, p);
    return tally.result();
  };
  const bookkeeping = new BatchBookkeeping(db, selfId);
  // Read only when a batch had refusals: which NOT NULL columns each sent entry leaves NULL.
  const nulls = db.prepare(`SELECT ${required.length ? required.map((_, i) => `n${i}`).join(', ') : '0'} FROM temp.${STAGE}`);
  const refusalsOf = (rejected: number) =>
    rejected === 0
      ? []
      : attributeRefusals(
          rejected,
          Array.from(nulls.iterateArrays(), (flags) =>
            nullInRequired(shape, columns, (column) => Number(flags[required.indexOf(column)] ?? 0) === 1),
          ),
        );

  let after = feed.afterRowid;
  let rewound = request.receipt.rewound;
  // A read outside any write transaction: a sync with nothing new never takes the write lock.
  while (after < Number(senderEnd.get()?.m ?? 0)) {
    // 1. A read of the sender alone: the batch's bounds, and its rows into the stage.
    const window = inTransaction(db, 'DEFERRED', () => {
      const windowEnd = Math.min(Number(senderEnd.get()?.m ?? 0), after + SCAN_ROWIDS_PER_BATCH);
      clearStage.run();
      budget.reset();
      stage.run(request.senderId, selfId, ...filter.params(after, windowEnd), feed.maxRows);
      const { sent, bytes } = budget;
      // A batch cut short by its budget ends at its last row; otherwise it covers the whole window.
      const through = budget.full ? budget.lastRowid : windowEnd;
      return { sent, bytes, through };
    });
    // 2. The write transaction of this database only: the sender is no longer read.
    const batch = batchTransaction(
      db,
      yielder,
      request.dryRun,
      (): AppliedBatch => {
        const { sent, bytes, through } = window;
        const before = receiverEnd.get()?.m ?? 0;
        resetDuplicates.run();
        const inserted = sent === 0 ? 0 : insert.run().changes;
        const duplicateCount = Number(duplicates.get()?.n ?? 0);
        const arrivals = inserted > 0 ? arrivalsAfter(before) : {};
        const rejected = sent - inserted - duplicateCount;
        const result: ApplyResult = {
          received: inserted,
          duplicates: duplicateCount,
          rejected,
          refusals: refusalsOf(rejected),
          syncNotes: 0,
          newestTimestamp: undefined,
          ...arrivals,
        };
        bookkeeping.record({ ...request.receipt, rewound, throughRowid: through }, Number(before), inserted);
        return { sent, bytes, throughRowid: through, result };
      },
      { lockOnlyMain: true },
    );
    clearStage.run();
    rewound = false;
    after = batch.throughRowid;
    yield batch;
  }
}
