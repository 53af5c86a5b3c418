/**
 * Digests of what a database holds, for `verify`: every entry's identity is hashed, entries are
 * grouped into 256 buckets by the hash's first byte, and each bucket is summarised by one digest.
 * Two identical databases exchange only the bucket digests; where buckets differ, the entry hashes
 * of just those buckets narrow the difference down to single entries.
 *
 * The identity is encoded in SQL as plain ASCII, the same in every SQLite version and binding: each
 * of timestamp, content and source becomes a type letter and its value (TEXT and BLOB as the hex of
 * their bytes, INTEGER in decimal, REAL with 15 significant digits), joined by commas. Not quote():
 * its text stops at a NUL in some bindings and its REALs differ between SQLite versions. The key is
 * hashed with SHA3-256, so a remote that has only the sqlite3 CLI (whose sha3() is the same
 * function) computes the very same digests in SQL.
 */
import { columnOrNull, feedRow } from './feed-filter.js';
import { createHash } from 'node:crypto';
import type { FeedRow } from '../core/replica.js';
import { routePredicate, type Route } from '../core/route.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../core/notes-table.js';
import type { SqlValue } from '../core/sql-value.js';
import { rowidRange, walkRowidWindows } from './rowid-steps.js';
import type { Database, PrepareOptions } from './sqlite/driver.js';

/** Hex characters of the entry hash that pick its bucket (2 = 256 buckets). */
export const BUCKET_CHARS = 2;
/** Hex characters kept of each entry's hash: 64 bits, plenty to tell entries apart. */
export const ENTRY_HASH_CHARS = 16;

export interface BucketDigest {
  bucket: string;
  count: number;
  digest: string;
}

/** One value as version-independent ASCII. */
function canonicalSql(expression: string): string {
  return `CASE typeof(${expression}) WHEN 'null' THEN 'n' WHEN 'integer' THEN 'i' || ${expression} WHEN 'real' THEN 'r' || printf('%!.15g', ${expression}) WHEN 'text' THEN 't' || hex(${expression}) ELSE 'b' || hex(${expression}) END`;
}

/** The identity key as SQL text, identical for every binding and for the sqlite3 CLI. */
export function identityKeySql(shape: NotesTableShape): string {
  return `${canonicalSql('timestamp')} || ',' || ${canonicalSql('content')} || ',' || ${canonicalSql(columnOrNull(shape, 'source'))}`;
}

export function entryHash(identityKey: string): string {
  return createHash('sha3-256').update(identityKey, 'utf8').digest('hex').slice(0, ENTRY_HASH_CHARS);
}

function routed(shape: NotesTableShape, route: Route) {
  return routePredicate(route, columnOrNull(shape, 'context'), columnOrNull(shape, 'source'));
}

/**
 * Hands `use` the rows of the table within the route, read in short rowid windows (rowid-steps.ts):
 * one statement over every note would keep the database's writers from committing for all of it (35 s
 * for 1M notes), past their busy timeout. Rows appended meanwhile are left out: the digest is of the
 * table as it was when it began (notes are never changed, so no earlier row moves under it).
 */
function forEachRoutedRow(
  db: Database,
  shape: NotesTableShape,
  route: Route,
  selected: string,
  use: (row: SqlValue[]) => void,
  options: PrepareOptions = {},
): void {
  const predicate = routed(shape, route);
  const statement = db.prepare(
    `SELECT ${selected} FROM ${NOTES_TABLE} WHERE rowid > ? AND rowid <= ? AND (${predicate.sql}) ORDER BY rowid`,
    options,
  );
  walkRowidWindows(
    db,
    rowidRange(db, NOTES_TABLE),
    // Each window is read whole, and its rows used after: no statement stays open between windows.
    (after, through) => [...statement.iterateArrays(after, through, ...predicate.params)],
    (rows) => {
      for (const row of rows) use(row);
    },
  );
}

/** Every distinct entry hash within the route, by bucket (sorted within each bucket). */
function hashesByBucket(db: Database, shape: NotesTableShape, route: Route, only?: Set<string>): Map<string, string[]> {
  const byBucket = new Map<string, Set<string>>();
  forEachRoutedRow(db, shape, route, `${identityKeySql(shape)} AS k`, ([key]) => {
    const hash = entryHash(String(key));
    const bucket = hash.slice(0, BUCKET_CHARS);
    if (only && !only.has(bucket)) return;
    let hashes = byBucket.get(bucket);
    if (!hashes) {
      hashes = new Set();
      byBucket.set(bucket, hashes);
    }
    hashes.add(hash);
  });
  return new Map([...byBucket].map(([bucket, hashes]) => [bucket, [...hashes].sort()]));
}

/** One digest per non-empty bucket: SHA3-256 of the bucket's sorted entry hashes, concatenated. */
export function bucketDigests(db: Database, shape: NotesTableShape, route: Route): BucketDigest[] {
  return (
    [...hashesByBucket(db, shape, route)]
      // 128 bits of digest per bucket are plenty, and halve what travels.
      .map(([bucket, hashes]) => ({
        bucket,
        count: hashes.length,
        digest: createHash('sha3-256').update(hashes.join(''), 'utf8').digest('hex').slice(0, 32),
      }))
      .sort((a, b) => a.bucket.localeCompare(b.bucket))
  );
}

/** The entry hashes in the given buckets. */
export function entryHashes(db: Database, shape: NotesTableShape, route: Route, buckets: string[]): string[] {
  return [...hashesByBucket(db, shape, route, new Set(buckets)).values()].flat();
}

/** The entries whose hashes are given, as feed rows (origin filled in), for a repair. */
export function rowsByHash(
  db: Database,
  shape: NotesTableShape,
  selfId: string,
  route: Route,
  columns: string[],
  hashes: Set<string>,
): FeedRow[] {
  const selected = columns.map((name) => columnOrNull(shape, name)).join(', ');
  const rows: FeedRow[] = [];
  const seen = new Set<string>();
  forEachRoutedRow(
    db,
    shape,
    route,
    `${identityKeySql(shape)} AS k, rowid, ${ORIGIN_COLUMN}, ${selected}`,
    (row) => {
      const hash = entryHash(String(row[0]));
      if (!hashes.has(hash) || seen.has(hash)) return;
      seen.add(hash);
      rows.push(feedRow(row, selfId, 1));
    },
    { exactIntegers: true },
  );
  return rows;
}
