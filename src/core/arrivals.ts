/**
 * What a receiver learns from the entries a batch inserted, the same whichever way they arrived (row
 * by row, in one INSERT … SELECT, or on a remote through sqlite3): how many are sync notes, which do
 * not count toward a new "Synced N entries" note, and the newest time among them, normalized to UTC
 * for sync_tracking.
 */
import type { ApplyResult } from './replica.js';
import type { SqlValue } from './sql-value.js';
import { isSyncNote } from './sync-note.js';
import { parseTimestamp, type NaiveTimestamps } from './timestamps.js';

/**
 * One inserted entry's timestamp, context, source and content. The content is only consulted for a
 * possible sync note without a context, so a reader may leave it NULL for every other entry.
 */
export type ArrivedEntry = readonly [timestamp: SqlValue, context: SqlValue, source: SqlValue, content: SqlValue];

export type Arrivals = Pick<ApplyResult, 'syncNotes' | 'newestTimestamp'>;

/** The tally of one batch, entry by entry, or in part from a reader that found the newest time itself. */
export class ArrivalTally {
  private syncNotes = 0;
  private newest = -Infinity;

  constructor(private readonly naive: NaiveTimestamps) {}

  add(timestamp: SqlValue, context: SqlValue, source: SqlValue, content: SqlValue): void {
    if (isSyncNote(context, source, content)) this.syncNotes++;
    this.addTime(arrivalTime(timestamp, this.naive));
  }

  /**
   * The newest arrivalTime() among entries that are no sync notes, found by the reader (say an SQL
   * max over arrivalTime, which spares one JavaScript value per entry); undefined: none had a time.
   */
  addTime(millis: number | undefined): void {
    if (millis !== undefined && millis > this.newest) this.newest = millis;
  }

  result(): Arrivals {
    // Normalized once per batch, not per entry: this is the hot path.
    return { syncNotes: this.syncNotes, newestTimestamp: this.newest > -Infinity ? new Date(this.newest).toISOString() : undefined };
  }
}

/** An entry's time as the tally reads it: milliseconds since the epoch, or undefined for no recognisable time. */
export function arrivalTime(timestamp: SqlValue, naive: NaiveTimestamps): number | undefined {
  return parseTimestamp(timestamp, naive);
}

export function tallyArrivals(entries: Iterable<ArrivedEntry>, naive: NaiveTimestamps): Arrivals {
  const tally = new ArrivalTally(naive);
  for (const [timestamp, context, source, content] of entries) tally.add(timestamp, context, source, content);
  return tally.result();
}
