/**
 * Moves a sender's feed into this database when both files are on this machine (a local peer, the
 * demo, the simulation): the sender is ATTACHed to the receiver's connection and each batch moves
 * with INSERT … SELECT, so the rows never become JavaScript values. That is what makes a local sync
 * about as fast as inserting the same rows straight through the binding.
 *
 * A sender in its rollback journal (the users' default) is read by a transaction of its own for each
 * batch, which copies the batch into a TEMP table (memory or a private temp file, never locked); the
 * write transaction of this database then moves it from there, with the sender no longer read. One
 * INSERT … SELECT straight from such a sender held its read lock until this database's commit was on
 * disk, and no agent of the sender can commit meanwhile: agents of a 180 MB sender were measured
 * waiting 1.5–4 s under load. A sender in WAL mode is read by the write transaction itself, one
 * statement per batch: in WAL a reader never keeps a writer waiting, so the copy would buy nothing.
 * The sender's journal mode is asked before each batch.
 *
 * The semantics are exactly those of FeedReader + BatchWriter, batch for batch, because the rules
 * are the same text:
 * - the feed: store/feed-filter.ts, in rowid order, in batches bounded by rows and bytes (bytes
 *   counted without reading the notes: octet_length needs only the header) and by the rowids one
 *   batch may scan;
 * - dedupe, OR IGNORE, the origin kept and the bookkeeping committed with each batch (the relay
 *   mark among it): store/receive-sql.ts, the dedupe as its TEMP trigger;
 * - what arrived: core/arrivals.ts, tallied as the sender is read (attached-arrivals.ts).
 */
import type { AppliedBatch, ApplyResult, FeedRequest } from '../../core/replica.js';
import { attributeRefusals, nullInRequired } from '../../core/refusals.js';
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
import { AttachedArrivals } from './attached-arrivals.js';

const PEER = 'resonance_sync_peer';
/** The TEMP table a batch is staged in between the read of the sender and the write of this database. */
const STAGE = 'resonance_sync_stage';
/** The SQL function that hands a batch's rows to its BatchBudget (registered on the receiver's connection). */
const BUDGET = 'resonance_sync_batch_budget';

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
  /**
   * Where the sender's feed ends for this transfer: a downloaded part's window end (its rows all lie
   * at or before it). Default: the sender's max rowid, read as the transfer goes.
   */
  feedEnd?: number | undefined;
  /**
   * A file nobody else reads or writes (a download in our private scratch folder): the write
   * transaction reads it directly, as a sender in WAL mode, without the stage.
   */
  privateSender?: boolean | undefined;
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
  // A batch of a sender in its rollback journal is staged in a TEMP table by a read of its own (see
  // the file comment): the values as stored, the origin, and which NOT NULL columns of this table
  // each leaves NULL. Untyped columns: no affinity, so every value is copied exactly.
  const required = shape.requiredColumns.map((c) => c.name).filter((name) => columns.includes(name));
  const staged = [...columns.map((_, i) => `v${i}`), 'o', ...required.map((_, i) => `n${i}`)];
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS ${STAGE} (r INTEGER PRIMARY KEY, ${staged.join(', ')}); DELETE FROM temp.${STAGE}`);
  // One read of the sender per batch. The inner query offers the feed's rows, in rowid order and at
  // most maxRows of them, to the batch's budget (BatchBudget, as the SQL function BUDGET), reading
  // only their rowid and size (octet_length needs only the record header): its LIMIT keeps SQLite
  // from flattening it, so the budget sees exactly the rows the filter keeps (its correlated relay
  // check included), in order, once each. Then, for the rows the budget took only, one seek by rowid
  // reads their values (CROSS JOIN: SQLite keeps that loop order), so a row past the budget, maybe
  // a 10 MB note, is never read. The budget's function is also given each row's timestamp (a column
  // before the notes in the users' tables), and a term after the seek counts the rows whose source
  // may be ours: what arrived is tallied as the rows pass (attached-arrivals.ts). Parameters: the
  // sender's id (for its own entries' origin), this node's id, the filter's, then maxRows.
  const budget = new BatchBudget(feed.maxRows, feed.maxBytes);
  const arrivals = new AttachedArrivals(db, shape, columns, request.senderShape, receiver.naive);
  db.defineFunction(BUDGET, (rowid, bytes, timestamp, timestampBytes) => {
    const take = budget.take(Number(rowid), Number(bytes));
    if (take) arrivals.taken(timestamp, timestampBytes);
    return take;
  });
  const seekedColumn = (name: string) => columnOrNull(request.senderShape, name, 's.');
  const picked = [
    ...columns.map((name, i) => `${seekedColumn(name)} AS v${i}`),
    `${receivedOrigin(feedOriginSql(seekedColumn(ORIGIN_COLUMN)))} AS o`,
  ];
  const flags = required.map((name, i) => `${seekedColumn(name)} IS NULL AS n${i}`);
  const batchRows = (values: readonly string[]) =>
    `SELECT ${values.join(', ')}
     FROM (SELECT rowid AS r, ${BUDGET}(rowid, ${byteSize}, ${arrivals.senderArguments}) AS k
           FROM ${PEER}.${NOTES_TABLE} WHERE ${filter.sql} ORDER BY rowid LIMIT ?) AS b
       CROSS JOIN ${PEER}.${NOTES_TABLE} AS s ON s.rowid = b.r
     WHERE b.k AND ${arrivals.senderTerm}
     ORDER BY b.r`;
  const stage = db.prepare(`INSERT INTO temp.${STAGE} (r, ${staged.join(', ')}) ${batchRows(['b.r', ...picked, ...flags])}`);
  const clearStage = db.prepare(`DELETE FROM temp.${STAGE}`);
  const insert = db.prepare(
    `${insertEntriesInto(columns)} SELECT ${[...columns.map((_, i) => `v${i}`), 'o'].join(', ')} FROM temp.${STAGE} ORDER BY r`,
  );
  // A sender in WAL mode is read by the write transaction itself (its writers never wait for a
  // reader there): one statement moves the batch, with no copy through the stage.
  const senderJournal = db.prepare(`PRAGMA ${PEER}.journal_mode`);
  const senderInWal = () => request.privateSender === true || String(senderJournal.get()?.journal_mode ?? '').toLowerCase() === 'wal';
  const insertDirect = db.prepare(`${insertEntriesInto(columns)} ${batchRows(picked)}`);
  const duplicates = db.prepare(DUPLICATES_SQL);
  const resetDuplicates = db.prepare(RESET_DUPLICATES_SQL);
  const bookkeeping = new BatchBookkeeping(db, selfId);
  // Read only when a batch had refusals: which NOT NULL columns each sent entry leaves NULL, from the
  // stage, or from the sender in the same write transaction (the same snapshot, so the same rows).
  const flagList = (list: readonly string[]) => (list.length ? list.join(', ') : '0');
  const stagedNulls = db.prepare(`SELECT ${flagList(required.map((_, i) => `n${i}`))} FROM temp.${STAGE} ORDER BY r`);
  const senderNulls = db.prepare(
    `SELECT ${flagList(required.map((name) => `${columnOrNull(request.senderShape, name)} IS NULL`))}
     FROM ${PEER}.${NOTES_TABLE} WHERE ${filter.sql} ORDER BY rowid`,
  );
  const refusalsOf = (rejected: number, nullFlags: () => Iterable<SqlValue[]>) =>
    rejected === 0
      ? []
      : attributeRefusals(
          rejected,
          Array.from(nullFlags(), (flags) =>
            nullInRequired(shape, columns, (column) => Number(flags[required.indexOf(column)] ?? 0) === 1),
          ),
        );
  /** What the budget took, and where the batch ends: at its last row when cut short, otherwise at the window's end. */
  const taken = (windowEnd: number) => ({ sent: budget.sent, bytes: budget.bytes, through: budget.full ? budget.lastRowid : windowEnd });
  const feedEnd = () => request.feedEnd ?? Number(senderEnd.get()?.m ?? 0);
  const windowEndAfter = (after: number) => Math.min(feedEnd(), after + SCAN_ROWIDS_PER_BATCH);

  let after = feed.afterRowid;
  let rewound = request.receipt.rewound;
  // A read outside any write transaction: a sync with nothing new never takes the write lock.
  while (after < feedEnd()) {
    // 1. Unless the sender is in WAL mode, a read of the sender alone: the batch's bounds, and its rows into the stage.
    const staged = senderInWal()
      ? undefined
      : inTransaction(db, 'DEFERRED', () => {
          const windowEnd = windowEndAfter(after);
          clearStage.run();
          budget.reset();
          arrivals.reset();
          stage.run(request.senderId, selfId, ...filter.params(after, windowEnd), feed.maxRows);
          return taken(windowEnd);
        });
    // 2. The write transaction of this database: the batch's rows from the stage (the sender no
    // longer read), or straight from a sender in WAL mode.
    const batch = batchTransaction(
      db,
      yielder,
      request.dryRun,
      (): AppliedBatch => {
        const before = receiverEnd.get()?.m ?? 0;
        resetDuplicates.run();
        let moved: { sent: number; bytes: number; through: number };
        let inserted: number;
        if (staged) {
          moved = staged;
          inserted = staged.sent === 0 ? 0 : insert.run().changes;
        } else {
          const windowEnd = windowEndAfter(after);
          budget.reset();
          arrivals.reset();
          inserted = insertDirect.run(request.senderId, selfId, ...filter.params(after, windowEnd), feed.maxRows).changes;
          moved = taken(windowEnd);
        }
        const { sent, bytes, through } = moved;
        const duplicateCount = Number(duplicates.get()?.n ?? 0);
        const rejected = sent - inserted - duplicateCount;
        const result: ApplyResult = {
          received: inserted,
          duplicates: duplicateCount,
          rejected,
          refusals: refusalsOf(rejected, () =>
            staged ? stagedNulls.iterateArrays() : senderNulls.iterateArrays(...filter.params(after, through)),
          ),
          syncNotes: 0,
          newestTimestamp: undefined,
          ...arrivals.of(sent, inserted, before),
        };
        bookkeeping.record({ ...request.receipt, rewound, throughRowid: through }, Number(before), inserted);
        return { sent, bytes, throughRowid: through, result };
      },
      { lockOnlyMain: true },
    );
    if (staged) clearStage.run();
    rewound = false;
    after = batch.throughRowid;
    yield batch;
  }
}
