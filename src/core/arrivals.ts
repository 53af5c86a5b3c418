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

export function tallyArrivals(entries: Iterable<ArrivedEntry>, naive: NaiveTimestamps): Pick<ApplyResult, 'syncNotes' | 'newestTimestamp'> {
  let syncNotes = 0;
  let newest = -Infinity;
  for (const [timestamp, context, source, content] of entries) {
    if (isSyncNote(context, source, content)) syncNotes++;
    const millis = parseTimestamp(timestamp, naive);
    if (millis !== undefined && millis > newest) newest = millis;
  }
  // Normalized once per batch, not per entry: this is the hot path.
  return { syncNotes, newestTimestamp: newest > -Infinity ? new Date(newest).toISOString() : undefined };
}
