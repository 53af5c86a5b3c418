/**
 * Which entries of a node's feed a receiver gets, written once for every reader: the local feed
 * reader, the attached transfer, the agentless download and the pending counts of `status`.
 * An entry qualifies when its rowid lies in the window being read (the feed is the table in rowid
 * order, which is commit order), it did not originate at the receiver (no echo), the route lets it
 * through, and it did not arrive from the receiver (no bounce: the relay marks of ARRIVALS_TABLE,
 * written by store/receive-sql.ts). The sender's own SQLite evaluates all of it; a column the
 * sender's table lacks reads as NULL, which matches no route pattern.
 */
import type { FeedRequest, FeedRow } from '../core/replica.js';
import { routePredicate } from '../core/route.js';
import { ARRIVALS_TABLE, NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../core/notes-table.js';
import type { SqlValue } from '../core/sql-value.js';
import { quoteIdentifier } from './sql.js';

/** Rowids examined per query; bounds the time one read transaction can take. */
export const SCAN_WINDOW = 50_000;
/** Windows one batch may scan before it returns (possibly empty) so the cursor can advance. */
export const WINDOWS_PER_BATCH = 8;
/** Rowids one batch may scan, whatever the route lets through: a narrow route still moves the cursor. */
export const SCAN_ROWIDS_PER_BATCH = SCAN_WINDOW * WINDOWS_PER_BATCH;
/** The largest rowid SQLite can hand out: a window ending here has no upper end. */
export const LAST_ROWID = 9223372036854775807n;

/** A column of the sender's notes table, or NULL where it has none. */
export function columnOrNull(shape: NotesTableShape, name: string, prefix = ''): string {
  return shape.allColumns.includes(name) ? `${prefix}${quoteIdentifier(name)}` : 'NULL';
}

export interface FeedFilter {
  /** A WHERE condition over the sender's notes table, with `?` placeholders. */
  sql: string;
  /** Its values for the window `after < rowid <= through`. */
  params(after: SqlValue, through: SqlValue): SqlValue[];
}

/**
 * The schema holding the sender's ARRIVALS_TABLE (`main`, or the name a sender is ATTACHed as), or
 * undefined when the sender has none: a database prepared before relay marks existed, read by a
 * dry run or a read-only agent. Its feed then only lacks the bounce filter; dedupe keeps it correct.
 */
export type ArrivalsSchema = string | undefined;

/**
 * The filter over the sender's notes table (named `resonance_notes`, in whatever schema, without an
 * alias, in the FROM clause of the query it goes in).
 */
export function feedFilter(
  shape: NotesTableShape,
  request: Pick<FeedRequest, 'receiverId' | 'route'>,
  arrivals: ArrivalsSchema,
): FeedFilter {
  const route = routePredicate(request.route, columnOrNull(shape, 'context'), columnOrNull(shape, 'source'));
  // A receiver being sent everything again (restored: receiverId '') is excluded nothing.
  const relay = arrivals !== undefined && request.receiverId !== '';
  // A sender never prepared for sync (previewed by a dry run) has no origin column: all its entries are its own.
  const origin = columnOrNull(shape, ORIGIN_COLUMN);
  return {
    sql: `rowid > ? AND rowid <= ? AND (${origin} IS NULL OR ${origin} <> ?) AND (${route.sql})${relay ? ` AND ${notArrivedVia(arrivals)}` : ''}`,
    params: (after, through) => [
      after,
      through,
      request.receiverId,
      ...route.params,
      ...(relay ? [after, request.receiverId, through, request.receiverId] : []),
    ],
  };
}

/**
 * The row did not arrive from the receiver (`?`): no range of the receiver's holds it. Ranges never
 * overlap, so the receiver's range with the greatest first_rowid at or below a rowid is the only one
 * that can hold it: one seek in the arrivals table's primary key (via, first_rowid).
 *
 * That seek is asked first of the window's end, once per query (an uncorrelated subquery, which
 * SQLite evaluates once): when the receiver's last range starting in or before the window ends
 * before it, no range meets the window and the per-row seek is skipped by the OR. A per-row seek
 * costs about as much as storing a small note, and most windows hold nothing that came from the
 * receiver. Inside the subqueries an unqualified `rowid` would be the arrivals table's, hence the
 * notes table named. Parameters: the window's start, the receiver, the window's end, the receiver.
 */
function notArrivedVia(schema: string): string {
  const ranges = `${quoteIdentifier(schema)}.${ARRIVALS_TABLE} a`;
  const row = `${NOTES_TABLE}.rowid`;
  const windowMet = `(SELECT a.last_rowid > ? FROM ${ranges} WHERE a.via = ? AND a.first_rowid <= ? ORDER BY a.first_rowid DESC LIMIT 1)`;
  const rowMet = `(SELECT a.last_rowid >= ${row} FROM ${ranges} WHERE a.via = ? AND a.first_rowid <= ${row} ORDER BY a.first_rowid DESC LIMIT 1)`;
  return `(NOT coalesce(${windowMet}, 0) OR NOT coalesce(${rowMet}, 0))`;
}

/**
 * The origin a sender reports for a stored entry: the origin column, or the sender's own id for
 * entries written there (NULL, or empty). As SQL over `column`, with the sender's id bound.
 */
export function feedOriginSql(column: string): string {
  return `CASE WHEN typeof(${column}) = 'text' AND ${column} <> '' THEN ${column} ELSE ? END`;
}

/** feedOriginSql() for a row read out: [rowid, origin, values…] from `offset` on. */
export function feedRow(row: SqlValue[], senderId: string, offset = 0): FeedRow {
  const origin = row[offset + 1];
  return {
    rowid: Number(row[offset]),
    origin: typeof origin === 'string' && origin !== '' ? origin : senderId,
    values: row.slice(offset + 2),
  };
}
