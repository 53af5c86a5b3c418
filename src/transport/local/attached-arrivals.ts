/**
 * What arrived in a batch of the attached transfer (core/arrivals.ts's tally: sync notes among the
 * entries inserted, and their newest time), at no pass of its own in the common case.
 *
 * The read of the sender tallies each row the batch takes as it passes: the budget's SQL function is
 * also given the row's timestamp (senderArguments) and hands it to taken(), and a term of the
 * outer WHERE (senderTerm) counts the rows whose source may be ours. When every row sent was
 * inserted and each was plain, that tally is the tally of the rows stored: a plain row's timestamp
 * is ASCII text starting `YYYY-` (no binding cuts it, and no column affinity converts it: it is no
 * number), its source is not ours (so it is no sync note, whatever its context), and the receiver
 * stores the sender's timestamp and source (both are received columns).
 *
 * Otherwise (duplicates, refusals, a timestamp of another shape, a possible sync note) the rows the
 * batch inserted are read back: one SQL pass keeps the newest arrivalTime() of the rows that cannot
 * be sync notes and whose timestamp no binding cuts (node:sqlite ends a TEXT argument at U+0000), and
 * only the others are read whole and tallied entry by entry (of those the text only of the rows that
 * may be sync notes without a context). `IS … COLLATE BINARY` matches every value isSyncNote could
 * take for ours, under any collation of the column.
 */
import { ArrivalTally, arrivalTime, type Arrivals } from '../../core/arrivals.js';
import { NOTES_TABLE, type NotesTableShape } from '../../core/notes-table.js';
import type { SqlValue } from '../../core/sql-value.js';
import { SYNC_NOTE_SOURCE } from '../../core/sync-note.js';
import type { NaiveTimestamps } from '../../core/timestamps.js';
import { columnOrNull } from '../../store/feed-filter.js';
import type { Database } from '../../store/sqlite/driver.js';

/** The SQL function counting a sent row whose source may be ours (registered on the receiver's connection). */
const MAYBE_OURS = 'resonance_sync_maybe_ours';
/** The SQL function giving arrivalTime() of a stored entry's timestamp, for the read back. */
const ARRIVAL_TIME = 'resonance_sync_arrival_time';
const OURS = `'${SYNC_NOTE_SOURCE.replaceAll("'", "''")}' COLLATE BINARY`;

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const HYPHEN = 45;
/** `YYYY-…`: four ASCII digits and a hyphen, which no column affinity reads as a number. */
function yearFirst(text: string): boolean {
  for (let at = 0; at < 4; at++) {
    const code = text.charCodeAt(at);
    if (code < DIGIT_0 || code > DIGIT_9) return false;
  }
  return text.charCodeAt(4) === HYPHEN;
}

export class AttachedArrivals {
  /** The sender's timestamp and its size in bytes, for the budget's function (the sender's notes table unaliased). */
  readonly senderArguments: string;
  /** Always true; counts the rows whose source may be ours. For the outer WHERE, the sender's notes table aliased `s`. */
  readonly senderTerm: string;
  private readonly storesAsSent: boolean;
  private tally: ArrivalTally;
  private seen = 0;
  private unusual = 0;
  private readonly readBack: (before: SqlValue) => Arrivals;

  constructor(
    db: Database,
    shape: NotesTableShape,
    columns: readonly string[],
    senderShape: NotesTableShape,
    private readonly naive: NaiveTimestamps,
  ) {
    this.tally = new ArrivalTally(naive);
    this.storesAsSent = columns.includes('timestamp') && columns.includes('source');
    const timestamp = columnOrNull(senderShape, 'timestamp');
    this.senderArguments = `${timestamp}, octet_length(${timestamp})`;
    this.senderTerm = `(${columnOrNull(senderShape, 'source', 's.')} IS NOT ${OURS} OR ${MAYBE_OURS}())`;
    db.defineFunction(MAYBE_OURS, () => {
      this.unusual++;
      return 1;
    });
    this.readBack = readBackArrivals(db, shape, naive);
  }

  /** Before the sender's read of a batch. */
  reset(): void {
    this.tally = new ArrivalTally(this.naive);
    this.seen = 0;
    this.unusual = 0;
  }

  /** A row the batch takes, with the senderArguments' values. */
  taken(timestamp: SqlValue, bytes: SqlValue): void {
    this.seen++;
    if (typeof timestamp !== 'string' || timestamp.length !== bytes || !yearFirst(timestamp)) this.unusual++;
    else this.tally.addTime(arrivalTime(timestamp, this.naive));
  }

  /**
   * After the batch's rows were inserted (in its write transaction): `sent` rows read from the
   * sender, `inserted` of them stored above rowid `before`.
   */
  of(sent: number, inserted: number, before: SqlValue): Arrivals | undefined {
    if (inserted === 0) return undefined;
    if (this.storesAsSent && inserted === sent && this.seen === sent && this.unusual === 0) return this.tally.result();
    return this.readBack(before);
  }
}

/** The read back of the rows a batch inserted (see the file comment). */
function readBackArrivals(db: Database, shape: NotesTableShape, naive: NaiveTimestamps): (before: SqlValue) => Arrivals {
  const context = columnOrNull(shape, 'context');
  db.defineFunction(ARRIVAL_TIME, (timestamp) => arrivalTime(timestamp, naive) ?? null);
  const plain = `(source IS NOT ${OURS} AND coalesce(instr(timestamp, char(0)), 0) = 0)`;
  const newest = db.prepare(
    `SELECT max(CASE WHEN ${plain} THEN ${ARRIVAL_TIME}(timestamp) END) AS newest, sum(NOT ${plain}) AS others
     FROM main.${NOTES_TABLE} WHERE rowid > ?`,
  );
  const others = db.prepare(
    `SELECT timestamp, ${context}, source, CASE WHEN source IS ${OURS} AND ${context} IS NULL THEN content END
     FROM main.${NOTES_TABLE} WHERE rowid > ? AND NOT ${plain}`,
  );
  return (before) => {
    const tally = new ArrivalTally(naive);
    const row = newest.get(before);
    tally.addTime(row?.newest === null || row?.newest === undefined ? undefined : Number(row.newest));
    if (Number(row?.others ?? 0) > 0) for (const [t, c, s, p] of others.iterateArrays(before)) tally.add(t, c, s, p);
    return tally.result();
  };
}
