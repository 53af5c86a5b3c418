/**
 * Digests of what a database holds, for `verify`: every entry's identity is hashed, entries are
 * grouped into 256 buckets by the hash's first byte, and each bucket is summarised by one digest.
 * Two identical databases exchange only the bucket digests; where buckets differ, the entry hashes
 * of just those buckets narrow the difference down to single entries.
 *
 * The identity key is built in SQL as a BLOB, the same bytes in every SQLite version and binding:
 * each of timestamp, source and content, in that order, becomes a type letter and its value (TEXT and
 * BLOB as their byte length, ':' and their bytes, but content, last, as its bytes alone; INTEGER in
 * decimal; REAL with 15 significant digits), joined by commas. Not quote() (its text stops at a NUL
 * in some bindings, its REALs differ between versions), and not hex(), which doubled the bytes SHA3
 * had to read and cost SQLite as much as the scan itself. Both ends build it with identityKeySql, so
 * it changes only with the agent protocol (6 since content went last).
 * The key is hashed with the entry hash function both ends of the comparison compute (core/replica.ts
 * EntryHashName): SHA-256 between two ends running Node, SHA3-256 with a remote that has only the
 * sqlite3 CLI, whose sha3() is the same function, so it computes the very same entry hashes in SQL
 * (transport/sqlite-cli/feed.ts).
 *
 * An entry hash is the first 8 bytes of that digest. A bucket's digest, whatever the entry hash
 * function, is SHA3-256 of what the CLI's sha3_query() returns for the query bucketQuery names (its
 * text, then each row: every distinct entry hash of the bucket, in order): the CLI gets the order
 * from ORDER BY, in one pass, where concatenating the hashes in a window function took time
 * quadratic in the bucket. This side keeps each bucket's hashes as 64-bit integers (8 bytes an entry:
 * 8 MB for a million notes, where hex strings in sets took 441 MB), sorts them and hashes the same
 * bytes.
 */
import { columnOrNull, feedRow } from './feed-filter.js';
import { EntryHasher, HIGH_WORD, type KeySlice, entryHash, sha3 } from './entry-hashes.js';
import type { EntryHashName, FeedRow } from '../core/replica.js';
import { routePredicate, type Route } from '../core/route.js';
import { NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../core/notes-table.js';
import type { SqlValue } from '../core/sql-value.js';
import { type RowidRange, rowidRange, walkRowidWindows } from './rowid-steps.js';
import { databaseEncoding } from './schema.js';
import type { Database, PrepareOptions } from './sqlite/driver.js';

/** Hex characters of a bucket's name: the entry hash's first byte (256 buckets). */
export const BUCKET_CHARS = 2;
/** Bytes kept of each entry's hash: 64 bits, plenty to tell entries apart. */
export const ENTRY_HASH_BYTES = 8;
/** An entry hash as it travels: lowercase hex. */
export const ENTRY_HASH_CHARS = ENTRY_HASH_BYTES * 2;
/** Hex characters kept of a bucket's digest: 128 bits are plenty, and halve what travels. */
const BUCKET_DIGEST_CHARS = 32;
/** Rowids per slice of a window whose identity keys cross into JavaScript as one BLOB (readRoutedKeys). */
const KEY_SLICE = 1_000;
/** The table the CLI keeps a digest's distinct entry hashes in (temp schema, dropped after). */
export const HASH_TABLE = 'rs_entry_hashes';

export interface BucketDigest {
  bucket: string;
  count: number;
  digest: string;
}

/**
 * One value as version-independent bytes: a type letter first (so 1, 1.0 and '1' differ), then the
 * value; TEXT and BLOB with their byte length and ':' before it, unless `last` (the value then runs to
 * the key's end, which delimits it). TEXT is asked first: it is what nearly every value is, and each
 * WHEN is a comparison per row.
 */
function canonicalSql(expression: string, last = false): string {
  const sized = (letter: string, length: string) => (last ? `'${letter}'` : `'${letter}' || ${length} || ':'`);
  return `CASE typeof(${expression}) WHEN 'text' THEN ${sized('t', `length(CAST(${expression} AS BLOB))`)} || ${expression} WHEN 'null' THEN 'n' WHEN 'integer' THEN 'i' || ${expression} WHEN 'real' THEN 'r' || printf('%!.15g', ${expression}) ELSE ${sized('b', `length(${expression})`)} || ${expression} END`;
}

/**
 * The identity key as an SQL BLOB, the same bytes for every binding and for the sqlite3 CLI:
 * timestamp, source, then content, the longest, last, where it needs no length (one number made text
 * and one concatenation fewer per row: 7 % of an agentless remote's digest).
 */
export function identityKeySql(shape: NotesTableShape): string {
  return `CAST(${canonicalSql('timestamp')} || ',' || ${canonicalSql(columnOrNull(shape, 'source'))} || ',' || ${canonicalSql('content', true)} AS BLOB)`;
}

/** An entry hash as it travels. */
export function entryHashHex(hash: bigint): string {
  return hash.toString(16).padStart(ENTRY_HASH_CHARS, '0');
}

/** A bucket's name: its byte in hex. */
export const bucketName = (bucket: number) => bucket.toString(16).padStart(BUCKET_CHARS, '0');

/**
 * The query whose sha3_query() is bucket `bucket`'s digest, in the sqlite3 CLI: the distinct entry
 * hashes of the bucket, in order (a range of HASH_TABLE's primary key). Its text is part of what is
 * hashed, so it is written here once, for both sides.
 */
export function bucketQuery(bucket: number): string {
  const upper = bucket === 255 ? '' : ` AND h < x'${bucketName(bucket + 1)}'`;
  return `SELECT h FROM temp.${HASH_TABLE} WHERE h >= x'${bucketName(bucket)}'${upper} ORDER BY h`;
}

/** What sha3_query(bucketQuery(bucket)) returns for these distinct hashes, sorted: "S<n>:<sql>", then "RB8:<hash>" per row. */
function bucketDigest(bucket: number, sorted: BigUint64Array): string {
  const query = bucketQuery(bucket);
  const head = Buffer.from(`S${Buffer.byteLength(query)}:${query}`, 'utf8');
  const ROW = 4 + ENTRY_HASH_BYTES;
  const bytes = Buffer.alloc(head.length + sorted.length * ROW);
  head.copy(bytes);
  const words = wordsOf(sorted);
  for (let i = 0; i < sorted.length; i++) {
    const at = head.length + i * ROW;
    bytes.write('RB8:', at, 'latin1');
    bytes.writeUInt32BE(words[2 * i + HIGH_WORD] as number, at + 4);
    bytes.writeUInt32BE(words[2 * i + 1 - HIGH_WORD] as number, at + 8);
  }
  return sha3(bytes).toString('hex').slice(0, BUCKET_DIGEST_CHARS);
}

/** A BigUint64Array's elements as pairs of 32-bit words (HIGH_WORD says which is which): read and copied without a BigInt each. */
const wordsOf = (hashes: BigUint64Array) => new Uint32Array(hashes.buffer, hashes.byteOffset, hashes.length * 2);

/** An entry hash's bucket: its first byte. */
const bucketAt = (words: Uint32Array, i: number) => (words[2 * i + HIGH_WORD] as number) >>> 24;

/** A bucket's hashes, appended to a typed array that grows (8 bytes an entry, no object per entry). */
class HashList {
  private values = new BigUint64Array(16);
  private words = wordsOf(this.values);
  private length = 0;

  /** The hash at index `i` of `from` (the words of a BigUint64Array). */
  add(from: Uint32Array, i: number): void {
    if (this.length === this.values.length) {
      const grown = new BigUint64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
      this.words = wordsOf(grown);
    }
    this.words[2 * this.length] = from[2 * i] as number;
    this.words[2 * this.length + 1] = from[2 * i + 1] as number;
    this.length++;
  }

  /** The distinct hashes, sorted (duplicate entries in one database count once, as dedupe treats them). */
  distinctSorted(): BigUint64Array {
    const sorted = this.values.subarray(0, this.length).sort();
    const words = wordsOf(sorted);
    let kept = 0;
    for (let i = 0; i < sorted.length; i++) {
      const same = kept > 0 && words[2 * i] === words[2 * kept - 2] && words[2 * i + 1] === words[2 * kept - 1];
      if (same) continue;
      words[2 * kept] = words[2 * i] as number;
      words[2 * kept + 1] = words[2 * i + 1] as number;
      kept++;
    }
    return sorted.subarray(0, kept);
  }
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

/** Rowids a table must span before a second thread helps hash its keys (starting one costs ~30 ms). */
const HELPER_FROM_ROWIDS = 20 * KEY_SLICE;

/**
 * Hands `hasher` the identity key of every row within the route, possibly more than once (see
 * below). In a UTF-8 database each slice of rowids comes as one BLOB of the keys concatenated and a
 * list of their lengths: one value crossing into JavaScript per slice instead of one Buffer per row,
 * which cost more time than SQLite's reading and kept tens of MB of garbage alive between
 * collections. (In UTF-16, concatenating BLOBs as text is not byte-exact, so there each key comes on
 * its own.)
 */
function readRoutedKeys(db: Database, shape: NotesTableShape, route: Route, range: RowidRange, hasher: EntryHasher): void {
  if (databaseEncoding(db) !== 'UTF-8') {
    forEachRoutedRow(db, shape, route, `${identityKeySql(shape)} AS k`, ([key]) => hasher.addKey(key as Uint8Array));
    return;
  }
  const predicate = routed(shape, route);
  // The inner ORDER BY keeps SQLite from flattening the subquery into the aggregate, which would
  // build each key twice (once for its length, once for the BLOB): read as a co-routine, each key is
  // built once (a third of the scan's time at 300k notes).
  const statement = db.prepare(
    `SELECT group_concat(length(k)), CAST(group_concat(k, '') AS BLOB) FROM (
       SELECT ${identityKeySql(shape)} AS k FROM ${NOTES_TABLE} WHERE rowid > ? AND rowid <= ? AND (${predicate.sql}) ORDER BY rowid)`,
  );
  const readSlice = (after: number, through: number): KeySlice | undefined => {
    const [lengths, keys] = [...statement.iterateArrays(after, through, ...predicate.params)][0] ?? [null, null];
    return lengths === null || !(keys instanceof Uint8Array) ? undefined : { keys, lengths: String(lengths) };
  };
  const readKeys = (after: number, through: number) => {
    const slice = readSlice(after, through);
    if (slice) hasher.addSlice(slice, () => readSlice(after, through));
  };
  // A window is read in slices of KEY_SLICE rowids, each handed on as soon as read, so what is held
  // at once is a few slices' keys (about 600 KB each), not a window's (tens of MB once windows have
  // grown). Should a window meet a writer's commit and be read again, its keys are hashed twice: the
  // digest keeps distinct hashes, so that changes nothing.
  walkRowidWindows(
    db,
    range,
    (after, through) => {
      for (let from = after; from < through; from += KEY_SLICE) readKeys(from, Math.min(from + KEY_SLICE, through));
    },
    () => undefined,
  );
}

/**
 * Runs a scan with the connection's page cache at SQLite's own default (2 MB): a digest reads each
 * page once, and a binding's larger cache (better-sqlite3's is 16 MB) would only fill with pages
 * never read again, per database, in a process meant to stay small.
 */
function withSmallCache<T>(db: Database, scan: () => T): T {
  const before = Number(db.prepare('PRAGMA cache_size').get()?.cache_size);
  if (!Number.isSafeInteger(before) || before >= -2000) return scan();
  db.exec('PRAGMA cache_size = -2000');
  try {
    return scan();
  } finally {
    db.exec(`PRAGMA cache_size = ${before}`);
  }
}

/**
 * The distinct entry hashes within the route, sorted, by bucket; only the buckets `wanted` picks.
 * The table is read in one synchronous walk (hashed meanwhile, partly by a worker thread); only the
 * worker's last answers are waited for.
 */
async function hashesByBucket(
  db: Database,
  shape: NotesTableShape,
  route: Route,
  hash: EntryHashName,
  wanted: (bucket: number) => boolean,
): Promise<Map<number, BigUint64Array>> {
  const lists = new Map<number, HashList>();
  const range = rowidRange(db, NOTES_TABLE);
  const hasher = new EntryHasher(
    (hashes) => {
      const words = wordsOf(hashes);
      for (let i = 0; i < hashes.length; i++) {
        const bucket = bucketAt(words, i);
        if (!wanted(bucket)) continue;
        let list = lists.get(bucket);
        if (!list) {
          list = new HashList();
          lists.set(bucket, list);
        }
        list.add(words, i);
      }
    },
    range.through - range.after >= HELPER_FROM_ROWIDS,
    hash,
  );
  try {
    withSmallCache(db, () => readRoutedKeys(db, shape, route, range, hasher));
    await hasher.finish();
  } finally {
    hasher.close();
  }
  return new Map([...lists].sort(([a], [b]) => a - b).map(([bucket, list]) => [bucket, list.distinctSorted()]));
}

/** One digest per non-empty bucket, in bucket order (bucketDigest), of entry hashes taken with `hash`. */
export async function bucketDigests(db: Database, shape: NotesTableShape, route: Route, hash: EntryHashName): Promise<BucketDigest[]> {
  return [...(await hashesByBucket(db, shape, route, hash, () => true))].map(([bucket, hashes]) => ({
    bucket: bucketName(bucket),
    count: hashes.length,
    digest: bucketDigest(bucket, hashes),
  }));
}

/** The entry hashes (taken with `hash`) in the given buckets (names from the peer: any that is not a bucket's name matches nothing). */
export async function entryHashes(
  db: Database,
  shape: NotesTableShape,
  route: Route,
  hash: EntryHashName,
  buckets: string[],
): Promise<string[]> {
  const wanted = new Set(buckets.filter((name) => /^[0-9a-f]{2}$/.test(name)).map((name) => Number.parseInt(name, 16)));
  if (wanted.size === 0) return [];
  return [...(await hashesByBucket(db, shape, route, hash, (bucket) => wanted.has(bucket))).values()].flatMap((hashes) =>
    [...hashes].map(entryHashHex),
  );
}

/** The entries whose hashes (taken with `hash`) are given, as feed rows (origin filled in), for a repair. */
export function rowsByHash(
  db: Database,
  shape: NotesTableShape,
  selfId: string,
  route: Route,
  columns: string[],
  hashes: Set<string>,
  hash: EntryHashName,
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
      const entry = entryHashHex(entryHash(row[0] as Uint8Array, hash));
      if (!hashes.has(entry) || seen.has(entry)) return;
      seen.add(entry);
      rows.push(feedRow(row, selfId, 1));
    },
    { exactIntegers: true },
  );
  return rows;
}
