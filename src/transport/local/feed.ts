/**
 * Reads a node's feed: its entries in rowid order (= commit order, since SQLite has one writer at a
 * time and the table is append-only), after a cursor, filtered as store/feed-filter.ts says (no
 * echoes, no bounces, the route). Each batch is read in its own short read transaction so agents writing the
 * same file are never held up for long, and the scan proceeds in rowid windows so a route that
 * filters out almost everything still makes steady, bounded progress.
 */
import type { FeedBatch, FeedRequest, FeedRow } from '../../core/replica.js';
import { valueBytes } from '../../core/sql-value.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../../core/notes-table.js';
import { columnOrNull, feedFilter, feedRow, LAST_ROWID, SCAN_WINDOW, WINDOWS_PER_BATCH, type FeedFilter } from '../../store/feed-filter.js';
import type { Database, Statement } from '../../store/sqlite/driver.js';
import { inTransaction } from '../../store/sqlite/transaction.js';
import { arrivalsSchema } from '../../store/schema.js';

export function maxRowid(db: Database): number {
  const row = db.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM ${NOTES_TABLE}`, { exactIntegers: true }).get();
  return Number(row?.m ?? 0);
}

export class FeedReader {
  private readonly statement: Statement;
  private readonly filter: FeedFilter;

  constructor(
    private readonly db: Database,
    shape: NotesTableShape,
    private readonly selfId: string,
    private readonly request: FeedRequest,
  ) {
    // Probed once per reader: a database at an older schema, opened without preparing, has no relay marks.
    this.filter = feedFilter(shape, request, arrivalsSchema(db));
    const selected = request.columns.map((name) => columnOrNull(shape, name)).join(', ');
    this.statement = db.prepare(
      `SELECT rowid AS __rowid, ${columnOrNull(shape, ORIGIN_COLUMN)} AS __origin, ${selected} FROM ${NOTES_TABLE} WHERE ${this.filter.sql} ORDER BY rowid`,
      { exactIntegers: true },
    );
  }

  /** Batches until the feed is exhausted as of each batch's snapshot. */
  *batches(): Generator<FeedBatch> {
    let after = this.request.afterRowid;
    for (;;) {
      const { batch, exhausted } = this.readBatch(after);
      if (batch.rows.length > 0 || batch.throughRowid > after) yield batch;
      if (exhausted) return;
      after = batch.throughRowid;
    }
  }

  private readBatch(after: number): { batch: FeedBatch; exhausted: boolean } {
    return inTransaction(this.db, 'DEFERRED', () => {
      const high = maxRowid(this.db);
      const rows: FeedRow[] = [];
      let bytes = 0;
      let low = after;
      for (let window = 0; window < WINDOWS_PER_BATCH && low < high; window++) {
        const windowEnd = Math.min(high, low + SCAN_WINDOW);
        for (const row of this.statement.iterateArrays(...this.filter.params(low, windowEnd))) {
          const entry = feedRow(row, this.selfId);
          rows.push(entry);
          bytes += entry.values.reduce<number>((sum, value) => sum + valueBytes(value), 0);
          if (rows.length >= this.request.maxRows || bytes >= this.request.maxBytes) {
            return { batch: { rows, throughRowid: entry.rowid, bytes }, exhausted: false };
          }
        }
        low = windowEnd;
      }
      return { batch: { rows, throughRowid: Math.max(low, after), bytes }, exhausted: low >= high };
    });
  }
}

/** How many feed entries a receiver has yet to get (the feed's own filter, to its end; O(new) by rowid). */
export function countFeed(db: Database, shape: NotesTableShape, request: Pick<FeedRequest, 'afterRowid' | 'receiverId' | 'route'>): number {
  const filter = feedFilter(shape, request, arrivalsSchema(db));
  const row = db
    .prepare(`SELECT count(*) AS n FROM ${NOTES_TABLE} WHERE ${filter.sql}`)
    .get(...filter.params(request.afterRowid, LAST_ROWID));
  return Number(row?.n ?? 0);
}
