/**
 * Reads a node's feed: its entries in rowid order (= commit order, since SQLite has one writer at a
 * time and the table is append-only), after a cursor, minus echoes, filtered by a route. Each batch is
 * read in its own short read transaction so agents writing the same file are never held up for long,
 * and the scan proceeds in rowid windows so a route that filters out almost everything still makes
 * steady, bounded progress.
 */
import type { FeedBatch, FeedRequest, FeedRow } from '../../core/replica.js';
import { valueBytes } from '../../core/sql-value.js';
import { routePredicate } from '../../core/route.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../../core/notes-table.js';
import { quoteIdentifier } from '../../store/sql.js';
import type { Database, Statement } from '../../store/sqlite/driver.js';
import type { SqlValue } from '../../core/sql-value.js';
import { inTransaction } from '../../store/sqlite/transaction.js';

/** Rowids examined per query; bounds the time one read transaction can take. */
const SCAN_WINDOW = 50_000;
/** Windows one batch may scan before it returns (possibly empty) so the cursor can advance. */
const WINDOWS_PER_BATCH = 8;

export function maxRowid(db: Database): number {
  const row = db.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM ${NOTES_TABLE}`, { exactIntegers: true }).get();
  return Number(row?.m ?? 0);
}

export class FeedReader {
  private readonly statement: Statement;
  private readonly routeParams: string[];

  constructor(
    private readonly db: Database,
    shape: NotesTableShape,
    private readonly selfId: string,
    private readonly request: FeedRequest,
  ) {
    const column = (name: string) => (shape.allColumns.includes(name) ? quoteIdentifier(name) : 'NULL');
    const route = routePredicate(request.route, column('context'), column('source'));
    this.routeParams = route.params;
    const selected = request.columns.map((name) => column(name)).join(', ');
    this.statement = db.prepare(
      `SELECT rowid AS __rowid, ${ORIGIN_COLUMN} AS __origin, ${selected} FROM ${NOTES_TABLE}
       WHERE rowid > ? AND rowid <= ? AND (${ORIGIN_COLUMN} IS NULL OR ${ORIGIN_COLUMN} <> ?) AND (${route.sql})
       ORDER BY rowid`,
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
        for (const row of this.statement.iterateArrays(low, windowEnd, this.request.receiverId, ...this.routeParams)) {
          const feedRow = this.toFeedRow(row);
          rows.push(feedRow);
          bytes += feedRow.values.reduce<number>((sum, value) => sum + valueBytes(value), 0);
          if (rows.length >= this.request.maxRows || bytes >= this.request.maxBytes) {
            return { batch: { rows, throughRowid: feedRow.rowid, bytes }, exhausted: false };
          }
        }
        low = windowEnd;
      }
      return { batch: { rows, throughRowid: Math.max(low, after), bytes }, exhausted: low >= high };
    });
  }

  /** Row layout: rowid, origin, then the requested columns in order. */
  private toFeedRow(row: SqlValue[]): FeedRow {
    const origin = row[1];
    return {
      rowid: Number(row[0]),
      origin: typeof origin === 'string' && origin !== '' ? origin : this.selfId,
      values: row.slice(2),
    };
  }
}

/** How many feed entries a receiver has yet to get (same filter as the feed itself; O(new) by rowid). */
export function countFeed(db: Database, shape: NotesTableShape, request: Pick<FeedRequest, 'afterRowid' | 'receiverId' | 'route'>): number {
  const column = (name: string) => (shape.allColumns.includes(name) ? quoteIdentifier(name) : 'NULL');
  const route = routePredicate(request.route, column('context'), column('source'));
  const row = db
    .prepare(
      `SELECT count(*) AS n FROM ${NOTES_TABLE}
       WHERE rowid > ? AND (${ORIGIN_COLUMN} IS NULL OR ${ORIGIN_COLUMN} <> ?) AND (${route.sql})`,
    )
    .get(request.afterRowid, request.receiverId, ...route.params);
  return Number(row?.n ?? 0);
}
