/**
 * SQL that reads a remote feed into a delta database in the remote temp dir (`dl.sqlite3`, sent
 * back by the reply helper, which then deletes it). The semantics are local/feed.ts's: rowid order
 * after a cursor, filtered by store/feed-filter.ts (its parameters inlined), one read transaction per
 * download so rows and the snapshot's max rowid agree. A download is bounded in rows, in bytes (by a
 * running sum, always at least one row) and in rowids scanned, and says in its `meta` table whether
 * it was cut short, so the receiver knows which cursor its last batch may commit.
 */
import type { Route } from '../../core/route.js';
import { routePredicate } from '../../core/route.js';
import { identityKeySql } from '../../store/digest.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../../core/notes-table.js';
import { columnOrNull, feedFilter, type ArrivalsSchema } from '../../store/feed-filter.js';
import { quoteIdentifier } from '../../store/sql.js';
import { valueColumns } from './delta-file.js';
import { hexWordLiteral, inlineParams, integerLiteral } from './sql-literals.js';

export const DOWNLOAD_FILE = 'dl.sqlite3';

export function routeSql(shape: NotesTableShape, route: Route): string {
  const predicate = routePredicate(route, columnOrNull(shape, 'context'), columnOrNull(shape, 'source'));
  return inlineParams(predicate.sql, predicate.params);
}

const openDownload = (tableColumns: string[]): string[] => [
  `ATTACH '${DOWNLOAD_FILE}' AS rs_dl;`,
  // A throwaway file: no journal, no fsync.
  'PRAGMA rs_dl.journal_mode = OFF;',
  'PRAGMA rs_dl.synchronous = OFF;',
  // No declared types: no affinity, so every value keeps its exact type and bytes.
  `CREATE TABLE rs_dl.rows (${tableColumns.join(', ')});`,
];

export interface FeedDownload {
  afterRowid: number;
  receiverId: string;
  route: Route;
  columns: readonly string[];
  maxRows: number;
  maxBytes: number;
  /** Rowids one download may scan: bounds the read transaction when a route filters out most rows. */
  scanRowids: number;
}

export function feedDownloadSql(shape: NotesTableShape, request: FeedDownload, arrivals: ArrivalsSchema): string {
  const n = integerLiteral(request.maxRows);
  const cap = integerLiteral(request.maxBytes);
  const selected = request.columns.map((name) => columnOrNull(shape, name, 'n.'));
  const present = request.columns.filter((name) => shape.allColumns.includes(name));
  const bytes =
    present.length === 0 ? '0' : present.map((name) => `coalesce(length(CAST(${quoteIdentifier(name)} AS BLOB)), 0)`).join(' + ');
  // The window ends at the snapshot's end or `scanRowids` further, whichever comes first; in the same
  // read transaction no row lies beyond that end, so the window's far bound needs no min().
  const filter = feedFilter(shape, request, arrivals);
  const where = inlineParams(filter.sql, filter.params(request.afterRowid, BigInt(request.afterRowid) + BigInt(request.scanRowids)));
  return [
    ...openDownload(['__rowid', '__origin', ...valueColumns(request.columns.length)]),
    'CREATE TABLE rs_dl.meta (high, window_end, cut);',
    'CREATE TABLE rs_dl.pick (r INTEGER PRIMARY KEY, k, before);',
    'BEGIN;',
    `INSERT INTO rs_dl.meta SELECT m, min(m, ${integerLiteral(request.afterRowid)} + ${integerLiteral(request.scanRowids)}), 0
       FROM (SELECT coalesce(max(rowid), 0) AS m FROM main.${NOTES_TABLE});`,
    // Which rows go, by rowid only; the values are copied once the cut is known.
    `INSERT INTO rs_dl.pick (r, k, before)
       SELECT r, row_number() OVER w, sum(b) OVER w - b FROM (
         SELECT rowid AS r, ${bytes} AS b FROM main.${NOTES_TABLE} WHERE ${where}
         ORDER BY rowid LIMIT ${n} + 1)
       WINDOW w AS (ORDER BY r ROWS UNBOUNDED PRECEDING);`,
    `UPDATE rs_dl.meta SET cut = EXISTS (SELECT 1 FROM rs_dl.pick WHERE k > ${n} OR (k > 1 AND before >= ${cap}));`,
    `DELETE FROM rs_dl.pick WHERE k > ${n} OR (k > 1 AND before >= ${cap});`,
    `INSERT INTO rs_dl.rows SELECT n.rowid, ${columnOrNull(shape, ORIGIN_COLUMN, 'n.')}${selected.map((column) => `, ${column}`).join('')}
       FROM rs_dl.pick p JOIN main.${NOTES_TABLE} n ON n.rowid = p.r ORDER BY p.r;`,
    'DROP TABLE rs_dl.pick;',
    'COMMIT;',
    'DETACH rs_dl;',
  ].join('\n');
}

/** An entry's hash as SQL: digest.ts entryHash (first 16 hex of SHA3-256 of the identity key). */
export function entryHashSql(shape: NotesTableShape): string {
  return `substr(lower(hex(sha3(${identityKeySql(shape)}, 256))), 1, 16)`;
}

/** The entries with the given hashes, as a delta download with a leading `__h` column. */
export function hashDownloadSql(shape: NotesTableShape, route: Route, columns: readonly string[], hashes: readonly string[]): string {
  const values = valueColumns(columns.length);
  const selected = columns.map((name, i) => `${columnOrNull(shape, name)} AS ${values[i] as string}`);
  const list = hashes.map((hash) => hexWordLiteral(hash, 16)).join(', ');
  return [
    ...openDownload(['__h', '__rowid', '__origin', ...values]),
    'BEGIN;',
    `INSERT INTO rs_dl.rows SELECT * FROM (
       SELECT ${entryHashSql(shape)} AS h, rowid AS r, ${ORIGIN_COLUMN} AS o${selected.map((column) => `, ${column}`).join('')}
       FROM main.${NOTES_TABLE} WHERE ${routeSql(shape, route)})
     WHERE h IN (${list || 'NULL'}) ORDER BY r;`,
    'COMMIT;',
    'DETACH rs_dl;',
  ].join('\n');
}

/** One row per non-empty bucket, as digest.ts bucketDigests computes them in JS. */
export function bucketDigestsSql(shape: NotesTableShape, route: Route): string {
  // group_concat follows the window's ORDER BY, so each bucket's hashes are concatenated sorted
  // (a plain GROUP BY gives no order guarantee before SQLite 3.44's ORDER BY in aggregates). The
  // hash is taken in the outer query, of the one row kept per bucket: inside, it ran for every row
  // over the whole bucket's text, which made a digest quadratic in the bucket's size.
  return `SELECT bucket, n AS count, substr(lower(hex(sha3(g, 256))), 1, 32) AS digest FROM (
      SELECT substr(h, 1, 2) AS bucket, count(*) OVER p AS n, group_concat(h, '') OVER p AS g,
        row_number() OVER (PARTITION BY substr(h, 1, 2) ORDER BY h) AS k
      FROM (SELECT DISTINCT ${entryHashSql(shape)} AS h FROM main.${NOTES_TABLE} WHERE ${routeSql(shape, route)})
      WINDOW p AS (PARTITION BY substr(h, 1, 2) ORDER BY h ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
    WHERE k = 1 ORDER BY bucket`;
}

/** The distinct entry hashes in the given buckets. */
export function entryHashesSql(shape: NotesTableShape, route: Route, buckets: readonly string[]): string {
  const list = buckets.map((bucket) => hexWordLiteral(bucket, 2)).join(', ');
  return `SELECT DISTINCT h FROM (SELECT ${entryHashSql(shape)} AS h FROM main.${NOTES_TABLE} WHERE ${routeSql(shape, route)})
    WHERE substr(h, 1, 2) IN (${list || 'NULL'}) ORDER BY h`;
}
