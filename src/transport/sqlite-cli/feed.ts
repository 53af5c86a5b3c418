/**
 * SQL that reads a remote feed into a delta database, the file of the session's remote directory that
 * session.ts download() names (sent back by it, then emptied). A feed download is shaped like a notes table
 * (delta-file.ts feedDownloadColumns: `resonance_notes(sync_origin, <the requested columns>)`, each
 * row under its remote rowid), so a receiver on this side can ATTACH it and move its rows in SQL as
 * it moves a local sender's (transport/local/apply-attached.ts). The semantics are local/feed.ts's: rowid order
 * after a cursor, filtered by store/feed-filter.ts (its parameters inlined), one read transaction per
 * download so rows and the snapshot's max rowid agree. A download is bounded in rows, in bytes (by a
 * running sum, always at least one row) and in rowids scanned, and says in its `meta` table whether
 * it was cut short, so the receiver knows which cursor its last batch may commit.
 */
import type { Route } from '../../core/route.js';
import { routePredicate } from '../../core/route.js';
import {
  BUCKET_CHARS,
  ENTRY_HASH_BYTES,
  ENTRY_HASH_CHARS,
  HASH_TABLE,
  bucketName,
  bucketQuery,
  identityKeySql,
} from '../../store/digest.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../../core/notes-table.js';
import { columnOrNull, feedFilter, type ArrivalsSchema } from '../../store/feed-filter.js';
import { quoteIdentifier } from '../../store/sql.js';
import { META_COLUMNS, downloadTableDefinition, feedDownloadColumns, valueColumns } from './delta-file.js';
import { hexWordLiteral, inlineParams, integerLiteral, textLiteral } from './sql-literals.js';

export function routeSql(shape: NotesTableShape, route: Route): string {
  const predicate = routePredicate(route, columnOrNull(shape, 'context'), columnOrNull(shape, 'source'));
  return inlineParams(predicate.sql, predicate.params);
}

/** `file`: the session's download file, a name of ours (session.ts), never user input. */
const openDownload = (file: string, table: string, tableColumns: readonly string[]): string[] => [
  `ATTACH ${textLiteral(file)} AS rs_dl;`,
  // A throwaway file: no journal, no fsync.
  'PRAGMA rs_dl.journal_mode = OFF;',
  'PRAGMA rs_dl.synchronous = OFF;',
  // No declared types: no affinity, so every value keeps its exact type and bytes.
  `CREATE TABLE rs_dl.${downloadTableDefinition(table, tableColumns)};`,
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

export function feedDownloadSql(shape: NotesTableShape, request: FeedDownload, arrivals: ArrivalsSchema, file: string): string {
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
    // Rows keep their remote rowid (the table's own, an integer by the file format itself).
    ...openDownload(file, NOTES_TABLE, feedDownloadColumns(request.columns)),
    `CREATE TABLE rs_dl.${downloadTableDefinition('meta', META_COLUMNS)};`,
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
    `INSERT INTO rs_dl.${NOTES_TABLE} (rowid, ${feedDownloadColumns(request.columns).map(quoteIdentifier).join(', ')})
       SELECT n.rowid, ${columnOrNull(shape, ORIGIN_COLUMN, 'n.')}${selected.map((column) => `, ${column}`).join('')}
       FROM rs_dl.pick p JOIN main.${NOTES_TABLE} n ON n.rowid = p.r ORDER BY p.r;`,
    'DROP TABLE rs_dl.pick;',
    'COMMIT;',
    'DETACH rs_dl;',
  ].join('\n');
}

/** An entry's hash as SQL, an 8-byte BLOB: digest.ts entryHash (the first bytes of SHA3-256 of the identity key). */
function entryHashBlobSql(shape: NotesTableShape): string {
  return `substr(sha3(${identityKeySql(shape)}, 256), 1, ${ENTRY_HASH_BYTES})`;
}

/** An entry's hash as it travels (lowercase hex), as SQL. */
export function entryHashSql(shape: NotesTableShape): string {
  return `lower(hex(${entryHashBlobSql(shape)}))`;
}

/** The entries with the given hashes, as a delta download with a leading `__h` column. */
export function hashDownloadSql(
  shape: NotesTableShape,
  route: Route,
  columns: readonly string[],
  hashes: readonly string[],
  file: string,
): string {
  const values = valueColumns(columns.length);
  const selected = columns.map((name, i) => `${columnOrNull(shape, name)} AS ${values[i] as string}`);
  const list = hashes.map((hash) => hexWordLiteral(hash, ENTRY_HASH_CHARS)).join(', ');
  return [
    ...openDownload(file, 'rows', ['__h', '__rowid', '__origin', ...values]),
    'BEGIN;',
    `INSERT INTO rs_dl.rows SELECT * FROM (
       SELECT ${entryHashSql(shape)} AS h, rowid AS r, ${ORIGIN_COLUMN} AS o${selected.map((column) => `, ${column}`).join('')}
       FROM main.${NOTES_TABLE} WHERE ${routeSql(shape, route)})
     WHERE h IN (${list || 'NULL'}) ORDER BY r;`,
    'COMMIT;',
    'DETACH rs_dl;',
  ].join('\n');
}

/** Helper threads the remote's sorter may use for a digest (SQLite caps them at its compile-time maximum, 8 by default). */
const SORT_THREADS = 4;

/**
 * One row per bucket (its count 0 when empty), as digest.ts bucketDigests computes them in JS. The
 * distinct entry hashes go into a temp table keyed by the hash (one pass over the notes); each
 * bucket's digest is sha3_query() of an ordered range of it. `after` drops the table. (A window
 * function concatenating each bucket's hashes gave the order too, but copied the growing text once
 * per row: quadratic.)
 */
export function bucketDigestsSql(shape: NotesTableShape, route: Route): { before: string[]; query: string; after: string[] } {
  const drop = `DROP TABLE IF EXISTS temp.${HASH_TABLE};`;
  // Each bucket with the bounds of its range of the table (the last one's upper bound is above
  // every 8-byte hash) and the query its digest is of.
  const bound = (bucket: number) => (bucket === 256 ? `x'${'ff'.repeat(ENTRY_HASH_BYTES + 1)}'` : `x'${bucketName(bucket)}'`);
  const buckets = Array.from(
    { length: 256 },
    (_, bucket) => `SELECT ${bucket} AS b, ${bound(bucket)} AS lo, ${bound(bucket + 1)} AS hi, ${textLiteral(bucketQuery(bucket))} AS q`,
  ).join(' UNION ALL ');
  return {
    before: [
      drop,
      // The sort of the entry hashes below may use helper threads (none by default): 5-10 % of the
      // digest alone on 2 idle cores, nothing measurable while a local verify's own digest shares
      // them. A shell built without threads ignores this; `after` sets it back.
      `PRAGMA threads = ${SORT_THREADS};`,
      `CREATE TEMP TABLE ${HASH_TABLE} (h BLOB PRIMARY KEY) WITHOUT ROWID;`,
      // Sorted before it is inserted: the table's B-tree then only grows at its end. Inserted in the
      // notes' order (random keys), 300k hashes took 0.9 s of the remote's 2.5 s, each insert a seek
      // into pages the cache no longer held; sorting first made them almost free.
      `INSERT OR IGNORE INTO temp.${HASH_TABLE} SELECT ${entryHashBlobSql(shape)} AS h FROM main.${NOTES_TABLE} WHERE ${routeSql(shape, route)} ORDER BY h;`,
    ],
    // Every bucket, empty ones too (the replica drops those): each count is a range of the table's
    // key, where grouping all its rows by their first byte took twice as long.
    query: `SELECT printf('%02x', b) AS bucket, (SELECT count(*) FROM temp.${HASH_TABLE} WHERE h >= lo AND h < hi) AS count,
      substr(lower(hex(sha3_query(q, 256))), 1, 32) AS digest FROM (${buckets}) ORDER BY b`,
    after: [drop, 'PRAGMA threads = 0;'],
  };
}

/** The distinct entry hashes in the given buckets. */
export function entryHashesSql(shape: NotesTableShape, route: Route, buckets: readonly string[]): string {
  const list = buckets.map((bucket) => `x${hexWordLiteral(bucket, BUCKET_CHARS)}`).join(', ');
  return `SELECT DISTINCT lower(hex(h)) AS h FROM (SELECT ${entryHashBlobSql(shape)} AS h FROM main.${NOTES_TABLE} WHERE ${routeSql(shape, route)})
    WHERE substr(h, 1, 1) IN (${list || 'NULL'}) ORDER BY h`;
}
