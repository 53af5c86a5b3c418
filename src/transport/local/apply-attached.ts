/**
 * Moves a sender's feed into this database when both files are on this machine (a local peer, the
 * demo, the simulation): the sender is ATTACHed to the receiver's connection and each batch is one
 * INSERT … SELECT, so the rows never become JavaScript values. That is what makes a local sync about
 * as fast as inserting the same rows straight through the binding.
 *
 * The semantics are exactly those of FeedReader + BatchWriter, batch for batch:
 * - the feed: rowid > cursor, minus echoes, filtered by the route, in rowid order, in batches bounded
 *   by rows and bytes (bytes counted without reading the notes: octet_length needs only the header);
 * - dedupe: a TEMP trigger (never stored in the user's database) skips an entry when an identical one
 *   (timestamp, content, source; NULL equal to NULL) is there, including one this very statement
 *   inserted a moment before (a NOT EXISTS in the SELECT would be evaluated before inserting anything);
 * - OR IGNORE passes over entries the receiver's own constraints refuse, counted as rejected;
 * - the origin: the sender's own entries carry its id; our own entries coming back arrive as ours;
 * - each batch commits with its cursor (store/batch-bookkeeping.ts), so a crash leaves both or neither.
 */
import type { ApplyResult, FeedRequest } from '../../core/replica.js';
import { routePredicate } from '../../core/route.js';
import { SYNC_NOTE_SOURCE, isSyncNote } from '../../core/sync-note.js';
import { parseTimestamp, type NaiveTimestamps } from '../../core/timestamps.js';
import { BatchBookkeeping, type BatchReceipt } from '../../store/batch-bookkeeping.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../../core/notes-table.js';
import { quoteIdentifier } from '../../store/sql.js';
import type { Database } from '../../store/sqlite/driver.js';
import type { SqlValue } from '../../core/sql-value.js';
import { inTransaction } from '../../store/sqlite/transaction.js';
import { WriteLockYielder } from '../../store/write-lock-yield.js';

const PEER = 'resonance_sync_peer';
const DEDUPE_TRIGGER = 'resonance_sync_dedupe';
const DUPLICATES = 'resonance_sync_duplicates';
/** Rowids one batch may scan (as FeedReader: 8 windows of 50,000), so a narrow route still moves the cursor. */
const SCAN_ROWIDS = 400_000;

export interface AttachedTransferRequest {
  senderPath: string;
  senderShape: NotesTableShape;
  senderId: string;
  feed: FeedRequest;
  /** Cursor bookkeeping for every batch; resetCursor applies to the first one only. */
  receipt: Omit<BatchReceipt, 'throughRowid'>;
  dryRun: boolean;
}

export interface AttachedBatch {
  /** Entries the route let through in this batch. */
  sent: number;
  bytes: number;
  throughRowid: number;
  result: ApplyResult;
}

class DryRunRollback extends Error {
  constructor(readonly batch: AttachedBatch) {
    super('dry run');
  }
}

interface Receiver {
  db: Database;
  shape: NotesTableShape;
  selfId: string;
  naive: NaiveTimestamps;
}

/** Batches until the sender's feed is exhausted; the sender stays attached only while this runs. */
export function* attachedTransfer(receiver: Receiver, request: AttachedTransferRequest): Generator<AttachedBatch> {
  const { db } = receiver;
  db.prepare(`ATTACH DATABASE ? AS ${PEER}`).run(request.senderPath);
  try {
    db.exec(
      `CREATE TEMP TABLE IF NOT EXISTS ${DUPLICATES} (n INTEGER NOT NULL);
       DELETE FROM temp.${DUPLICATES};
       INSERT INTO temp.${DUPLICATES} VALUES (0);
       CREATE TEMP TRIGGER IF NOT EXISTS ${DEDUPE_TRIGGER} BEFORE INSERT ON main.${NOTES_TABLE}
         WHEN EXISTS (SELECT 1 FROM main.${NOTES_TABLE} m
                      WHERE m.timestamp IS NEW.timestamp AND m.content IS NEW.content AND m.source IS NEW.source)
         -- Unqualified: SQLite refuses schema names in trigger bodies (a TEMP trigger finds its TEMP table).
         BEGIN UPDATE ${DUPLICATES} SET n = n + 1; SELECT RAISE(IGNORE); END;`,
    );
    yield* batches(receiver, request);
  } finally {
    try {
      db.exec(`DROP TRIGGER IF EXISTS temp.${DEDUPE_TRIGGER}; DROP TABLE IF EXISTS temp.${DUPLICATES}; DETACH DATABASE ${PEER}`);
    } catch {
      // Only TEMP objects and an attachment of this connection, gone when it closes; the error that
      // ended the transfer (if any) is the one worth reporting.
    }
  }
}

function* batches(receiver: Receiver, request: AttachedTransferRequest): Generator<AttachedBatch> {
  const { db, shape, selfId } = receiver;
  const { feed } = request;
  const senderColumn = (name: string) => (request.senderShape.allColumns.includes(name) ? quoteIdentifier(name) : 'NULL');
  const route = routePredicate(feed.route, senderColumn('context'), senderColumn('source'));
  const eligible = `rowid > ? AND rowid <= ? AND (${ORIGIN_COLUMN} IS NULL OR ${ORIGIN_COLUMN} <> ?) AND (${route.sql})`;
  const filter = (after: number, through: number): SqlValue[] => [after, through, feed.receiverId, ...route.params];
  const columns = feed.columns.filter((name) => shape.userColumns.includes(name));
  const byteSize = columns.length ? columns.map((name) => `coalesce(octet_length(${senderColumn(name)}), 0)`).join(' + ') : '0';

  const senderEnd = db.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM ${PEER}.${NOTES_TABLE}`, { exactIntegers: true });
  const receiverEnd = db.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM main.${NOTES_TABLE}`, { exactIntegers: true });
  const scan = db.prepare(`SELECT rowid AS r, ${byteSize} AS b FROM ${PEER}.${NOTES_TABLE} WHERE ${eligible} ORDER BY rowid LIMIT ?`);
  const insert = db.prepare(
    `INSERT OR IGNORE INTO main.${NOTES_TABLE} (${[...columns.map(quoteIdentifier), ORIGIN_COLUMN].join(', ')})
     SELECT ${[...columns.map(senderColumn), `nullif(CASE WHEN typeof(${ORIGIN_COLUMN}) = 'text' AND ${ORIGIN_COLUMN} <> '' THEN ${ORIGIN_COLUMN} ELSE ? END, ?)`].join(', ')}
     FROM ${PEER}.${NOTES_TABLE} WHERE ${eligible} ORDER BY rowid`,
  );
  const duplicates = db.prepare(`SELECT n FROM temp.${DUPLICATES}`);
  const resetDuplicates = db.prepare(`UPDATE temp.${DUPLICATES} SET n = 0`);
  // What the row-by-row writer learns from each inserted row, read back from the rows just stored.
  // The text is read only of the rare rows that may be sync notes, never of the notes themselves.
  const context = shape.hasContext ? quoteIdentifier('context') : 'NULL';
  const arrived = db.prepare(
    `SELECT timestamp AS t, ${context} AS c, source AS s,
            CASE WHEN source = ? AND ${context} IS NULL THEN content END AS p
     FROM main.${NOTES_TABLE} WHERE rowid > ?`,
  );
  const bookkeeping = new BatchBookkeeping(db, selfId);
  const yielder = new WriteLockYielder(db);

  let after = feed.afterRowid;
  let resetCursor = request.receipt.resetCursor;
  // A read outside any write transaction: a sync with nothing new never takes the write lock.
  while (after < Number(senderEnd.get()?.m ?? 0)) {
    const started = performance.now();
    let batch: AttachedBatch;
    try {
      batch = inTransaction(db, 'IMMEDIATE', () => {
        const windowEnd = Math.min(Number(senderEnd.get()?.m ?? 0), after + SCAN_ROWIDS);
        let through = windowEnd;
        let sent = 0;
        let bytes = 0;
        for (const row of scan.all(...filter(after, windowEnd), feed.maxRows)) {
          sent++;
          bytes += Number(row.b);
          if (sent >= feed.maxRows || bytes >= feed.maxBytes) {
            through = Number(row.r);
            break;
          }
        }
        const before = receiverEnd.get()?.m ?? 0;
        resetDuplicates.run();
        const inserted = sent === 0 ? 0 : insert.run(request.senderId, selfId, ...filter(after, through)).changes;
        const duplicateCount = Number(duplicates.get()?.n ?? 0);
        const result: ApplyResult = { inserted, duplicates: duplicateCount, rejected: sent - inserted - duplicateCount, syncNotes: 0, newestTimestamp: undefined };
        if (inserted > 0) readArrivals(arrived.iterateArrays(SYNC_NOTE_SOURCE, before), result, receiver.naive);
        bookkeeping.record({ ...request.receipt, resetCursor, throughRowid: through });
        const done: AttachedBatch = { sent, bytes, throughRowid: through, result };
        if (request.dryRun) throw new DryRunRollback(done);
        return done;
      });
    } catch (error) {
      if (!(error instanceof DryRunRollback)) throw error;
      batch = error.batch;
    } finally {
      yielder.released(performance.now() - started);
    }
    resetCursor = false;
    after = batch.throughRowid;
    yield batch;
  }
}

/** Counts arriving sync notes and finds the newest timestamp, as BatchWriter does row by row. */
function readArrivals(rows: Iterable<SqlValue[]>, result: ApplyResult, naive: NaiveTimestamps): void {
  let newest = -Infinity;
  for (const [timestamp = null, context = null, source = null, content = null] of rows) {
    if (isSyncNote(context, source, content)) result.syncNotes++;
    const millis = parseTimestamp(timestamp, naive);
    if (millis !== undefined && millis > newest) newest = millis;
  }
  if (newest > -Infinity) result.newestTimestamp = new Date(newest).toISOString();
}
