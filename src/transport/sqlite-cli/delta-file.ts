/**
 * Delta databases: how rows cross the agentless transport binary-exact. Each is a small SQLite file
 * whose row table has columns WITHOUT declared types (no affinity), so every value keeps its exact
 * storage class and bytes: integers beyond 2^53, REALs bit for bit, BLOBs, text with NULs.
 * Uploads are built here with the project's binding; downloads, built by the remote sqlite3, are read
 * here from disk batch by batch, so memory stays flat whatever their size. A download is the remote's
 * word like any message: its tables must have exactly the columns asked for, its meta must make sense,
 * and it must hold no more rows than asked and no entry larger than the agent protocol could carry,
 * all checked in SQL before a row is read into memory.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSyncError, SyncError } from '../../core/errors.js';
import { quoted } from '../../core/feed-checks.js';
import { visibleExcerpt } from '../../core/excerpt.js';
import type { FeedRow } from '../../core/replica.js';
import type { Database } from '../../store/sqlite/driver.js';
import type { SqlValue } from '../../core/sql-value.js';
import { databaseError, openDatabase } from '../../store/sqlite/open-database.js';
import { MAX_FRAME_BYTES } from '../../protocol/protocol.js';
import { feedRow } from '../../store/feed-filter.js';
import { databaseEncoding } from '../../store/schema.js';
import { quoteIdentifier } from '../../store/sql.js';
import { NOTES_TABLE, ORIGIN_COLUMN } from '../../core/notes-table.js';
import { isNodeId } from '../../core/node-name.js';

/** core/node-name.ts isNodeId as a GLOB (with the length checked beside it: GLOB stops at a NUL). */
const NODE_ID_GLOB = [8, 4, 4, 4, 12].map((n) => '[0-9a-f]'.repeat(n)).join('-');

/** The largest entry a download may hold: what the agent protocol can carry, so both transports carry the same. */
export const MAX_ENTRY_BYTES = MAX_FRAME_BYTES;

/** Column names inside delta files: ours, by position, so no remote name needs quoting there. */
export const valueColumns = (count: number): string[] => Array.from({ length: count }, (_, i) => `c${i}`);

// Not "resonance-sync.*": that is the remote temp dir's name, and in tests both are on one machine.
const SCRATCH_PREFIX = 'resonance-sqlite3-';

/**
 * A private local folder for delta files (0700 from mkdtemp), removed on close and at exit. Its name
 * carries our pid, so one left by a process killed with -9 (downloads can be large) is removed by
 * the next session once that process is gone.
 */
export class ScratchDir {
  readonly path: string;
  private removed = false;
  private readonly onExit = () => this.remove();

  constructor() {
    removeStale();
    this.path = mkdtempSync(join(tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`));
    process.once('exit', this.onExit);
  }

  file(name: string): string {
    return join(this.path, name);
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    process.removeListener('exit', this.onExit);
    rmSync(this.path, { recursive: true, force: true });
  }
}

function removeStale(): void {
  try {
    for (const name of readdirSync(tmpdir())) {
      const pid = Number(/^resonance-sqlite3-(\d+)-/.exec(name)?.[1]);
      if (!Number.isSafeInteger(pid) || pid === process.pid || processAlive(pid)) continue;
      const path = join(tmpdir(), name);
      // Only our own user's: never another user's files, even as root.
      if (statSync(path).uid === process.getuid?.()) rmSync(path, { recursive: true, force: true });
    }
  } catch {
    // Best effort: a leftover only costs disk space.
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs work on a delta file with its failures typed (DB_*, naming the file): a full disk or a scratch
 * folder removed under us (a cleanup of temporary files) is a problem on this machine, not a bug.
 */
function onScratch<T>(path: string, action: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    throw databaseError(error, path, action);
  }
}

function openScratch(path: string): Database {
  const db = openDatabase(path, { create: true });
  // A throwaway file: nothing to protect from a crash, so no journal and no fsync.
  db.exec('PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF');
  return db;
}

/**
 * The bytes of an upload file: `rows(__seq, __origin, c0…)` holding `positions` of each row's values
 * (a position of -1, a column the sender lacks, becomes NULL as in BatchWriter).
 */
export function buildUpload(path: string, rows: readonly FeedRow[], positions: readonly number[]): Buffer {
  return onScratch(path, 'building a batch to send', () => {
    rmSync(path, { force: true });
    const db = openScratch(path);
    try {
      const names = valueColumns(positions.length);
      db.exec(`CREATE TABLE rows (__seq INTEGER PRIMARY KEY, __origin, ${names.join(', ')})`);
      const insert = db.prepare(`INSERT INTO rows VALUES (${['?', '?', ...names.map(() => '?')].join(', ')})`);
      db.exec('BEGIN');
      rows.forEach((row, seq) => {
        insert.run(seq, row.origin, ...positions.map((at): SqlValue => (at < 0 ? null : (row.values[at] ?? null))));
      });
      db.exec('COMMIT');
    } finally {
      db.close();
    }
    try {
      return readFileSync(path);
    } finally {
      rmSync(path, { force: true });
    }
  });
}

export interface DownloadMeta {
  /** The sender's max rowid when the download was read (its snapshot). */
  high: number;
  /** The last rowid the download's scan considered. */
  windowEnd: number;
  /** True when rows or bytes ran out before windowEnd: the feed continues after the last row sent. */
  cut: boolean;
}

/**
 * The columns of a feed download's table, in order: the origin, then the requested ones by name. The
 * table is named like the notes table and each row sits under its remote rowid, so the download can
 * be read exactly like a sender's notes table: through the JavaScript reader below, or ATTACHed by a
 * receiver here that moves its rows in SQL (transport/local/apply-attached.ts).
 */
export const feedDownloadColumns = (columns: readonly string[]): string[] => [ORIGIN_COLUMN, ...columns];

/** The columns of a feed download's `meta` table. */
export const META_COLUMNS: readonly string[] = ['high', 'window_end', 'cut'];

/**
 * A download table's definition: the remote is asked for `CREATE TABLE rs_dl.` and this, and the file
 * must then declare exactly `CREATE TABLE ` and this (SQLite keeps the statement as written, without
 * the schema's name). Columns without a declared type have no affinity, so every value keeps its
 * exact type and bytes; and a file whose table declares anything more (a type, a collation, a
 * constraint, a generated column) is refused: a receiver that ATTACHes it would compare and convert
 * by those declarations.
 */
export function downloadTableDefinition(table: string, columns: readonly string[]): string {
  return `${table} (${columns.map(quoteIdentifier).join(', ')})`;
}

/** Names that would stand for a table's rowid in SQL: a column so named would hide it. */
const ROWID_NAMES = new Set(['rowid', '_rowid_', 'oid']);

/** What a download must be: a feed's (with a `meta` table) or a hash lookup's, and its table's columns in order. */
export interface DownloadShape {
  kind: 'feed' | 'hashes';
  /** Declared columns: feedDownloadColumns for a feed; `__h, __rowid, __origin, c0…` for hashes. */
  columns: readonly string[];
  /** The remote, for messages. */
  from: string;
}

/** Where the next download starts, and whether there is one: what a feed download lets its last batch commit. */
export interface FeedWindow {
  through: number;
  more: boolean;
}

/** A downloaded delta database, open for reading; `close()` also deletes the file. */
export class Download {
  private readonly db: Database;
  /** The table holding the rows, and how its rowid is read. */
  private readonly table: string;
  private readonly rowidColumn: string;

  constructor(
    readonly path: string,
    private readonly shape: DownloadShape,
  ) {
    const feed = shape.kind === 'feed';
    this.table = feed ? NOTES_TABLE : 'rows';
    this.rowidColumn = feed ? 'rowid' : '__rowid';
    this.db = this.read(() => openDatabase(path, { readOnly: true }));
    try {
      this.checkTables();
    } catch (error) {
      this.close();
      throw error;
    }
  }

  private refused(what: string): SyncError {
    return new SyncError(
      'PROTOCOL_ERROR',
      `${this.shape.from} sent a delta file (${this.path}) with ${what}; refused, nothing of it was kept (is its sqlite3 the real one?)`,
    );
  }

  /**
   * The file holds exactly the tables the remote was asked to build (no view, trigger or index: a
   * view named like the table would be run by whoever reads it), each declared exactly as asked
   * (downloadTableDefinition): its columns, in order, and nothing a receiver would compare by.
   */
  private checkTables(): void {
    const objects = this.read(() => this.db.prepare(`SELECT type, name, sql FROM sqlite_schema ORDER BY name`).all());
    const tables = new Map<string, readonly string[]>([[this.table, this.shape.columns]]);
    if (this.shape.kind === 'feed') tables.set('meta', META_COLUMNS);
    const found = objects.map((row) => `${String(row.type)} ${String(row.name)}`);
    const asked = [...tables.keys()].sort().map((name) => `table ${name}`);
    if (found.join('\u0000') !== asked.join('\u0000'))
      throw this.refused(`the objects ${found.slice(0, 5).map(quoted).join(', ')} where ${asked.join(', ')} were asked`);
    for (const { name, sql } of objects) {
      const wanted = `CREATE TABLE ${downloadTableDefinition(String(name), tables.get(String(name)) ?? [])}`;
      if (sql !== wanted)
        throw this.refused(`${String(name)} declared as ${visibleExcerpt(Buffer.from(String(sql)), 200)} where ${wanted} was asked`);
    }
    if (this.shape.kind === 'feed') {
      const hiding = this.shape.columns.find((name) => ROWID_NAMES.has(name.toLowerCase()));
      if (hiding !== undefined) throw this.refused(`a column named ${quoted(hiding)}, which would hide its rowids`);
    }
  }

  /** The download's meta row: integers, one row, the window within the snapshot. */
  meta(): DownloadMeta {
    const rows = this.read(() => this.db.prepare('SELECT high, window_end, cut FROM meta', { exactIntegers: true }).all());
    const row = rows[0];
    const integer = (value: unknown) =>
      typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
    const [high, windowEnd, cut] = [integer(row?.high), integer(row?.window_end), integer(row?.cut)];
    if (rows.length !== 1 || high === undefined || windowEnd === undefined || windowEnd > high || (cut !== 0 && cut !== 1)) {
      throw this.refused(
        `a meta table of ${quoted(JSON.stringify(rows.slice(0, 2), (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))}`,
      );
    }
    return { high, windowEnd, cut: cut === 1 };
  }

  /**
   * How many rows the download holds and the largest of them in bytes, computed by SQLite from the
   * record headers (octet_length reads no value: SQLite >= 3.43, which both bindings bundle); refused
   * when more rows than `maxRows` or an entry too large.
   */
  checkSize(maxRows: number): number {
    const sizes = this.shape.columns
      .filter((name) => name !== '__rowid')
      .map((name) => `coalesce(octet_length(${quoteIdentifier(name)}), 0)`);
    const row = this.read(() =>
      this.db
        .prepare(`SELECT count(*) AS n, coalesce(max(b), 0) AS widest FROM (SELECT ${sizes.join(' + ') || '0'} AS b FROM ${this.table})`, {
          exactIntegers: true,
        })
        .get(),
    );
    const [count, widest] = [Number(row?.n ?? 0), Number(row?.widest ?? 0)];
    if (count > maxRows) throw this.refused(`${count} rows where at most ${maxRows} were asked`);
    if (widest > MAX_ENTRY_BYTES) throw this.refused(`an entry of ${widest} bytes (at most ${MAX_ENTRY_BYTES})`);
    return count;
  }

  /**
   * A feed download read after `after`: its size checked, and the cursor its last batch may commit.
   * Cut short, the feed continues right after the last row sent; otherwise everything up to the end
   * of the scanned window was considered. A download that asks for another must have moved forward.
   */
  feedWindow(after: number, maxRows: number): FeedWindow {
    this.checkSize(maxRows);
    const meta = this.meta();
    const [first, last] = this.rowidRange();
    if (meta.windowEnd < after && meta.windowEnd < meta.high)
      throw this.refused(`a scan window ending at ${meta.windowEnd}, before its start ${after}`);
    for (const rowid of [first, last]) {
      if (rowid !== undefined && (rowid <= after || rowid > meta.windowEnd))
        throw this.refused(`a row ${rowid} outside its window (${after}, ${meta.windowEnd}]`);
    }
    const through = meta.cut && last !== undefined ? last : Math.max(meta.windowEnd, after);
    const more = meta.cut || meta.windowEnd < meta.high;
    if (more && through <= after) throw this.refused(`no progress past ${after}`);
    return { through, more };
  }

  /** The lowest and the highest rowid in the download, if it holds any row. */
  private rowidRange(): [number | undefined, number | undefined] {
    const row = this.read(() =>
      this.db
        .prepare(`SELECT min(${this.rowidColumn}) AS a, max(${this.rowidColumn}) AS z FROM ${this.table}`, { exactIntegers: true })
        .get(),
    );
    const rowid = (value: SqlValue | undefined) => (value === null || value === undefined ? undefined : this.rowid(value));
    return [rowid(row?.a), rowid(row?.z)];
  }

  /**
   * A feed download's origins, all of them, in SQL (for a receiver that moves the rows without
   * reading them: what FeedCheck and feedRow check of each row read out): NULL or empty (written on
   * the sender), or text that is a node id and not the receiver's own (`receiverId`, unless '').
   * The first offending row is read to say what is wrong with it.
   */
  checkOrigins(receiverId: string): void {
    const origin = quoteIdentifier(ORIGIN_COLUMN);
    const bad = `NOT (${origin} IS NULL OR (typeof(${origin}) = 'text' AND (${origin} = '' OR (length(CAST(${origin} AS BLOB)) = 36
      AND ${origin} GLOB '${NODE_ID_GLOB}' AND ${origin} <> ?))))`;
    const row = this.read(() =>
      this.db
        .prepare(`SELECT rowid AS r, ${origin} AS o FROM ${NOTES_TABLE} WHERE ${bad} ORDER BY rowid LIMIT 1`, { exactIntegers: true })
        .get(receiverId),
    );
    if (!row) return;
    // The same checks, on the one row, give the message the rows read out would have given.
    const entry = this.feedRow([row.r ?? null, row.o ?? null], '');
    if (!isNodeId(entry.origin)) throw this.refused(`an entry whose origin ${quoted(entry.origin)} is not a node id`);
    throw this.refused("an entry of this node's own, which it asked not to get back");
  }

  /** The file's text encoding: a receiver can ATTACH it only if its own database has the same. */
  encoding(): string {
    return this.read(() => databaseEncoding(this.db));
  }

  /** The remote's file is damaged: refused, as anything else wrong with it. */
  private damagedError(cause: unknown): SyncError {
    const detail = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
    return new SyncError(
      'PROTOCOL_ERROR',
      `${this.shape.from} sent a damaged delta file (${this.path}: ${detail}); refused, nothing of it was kept (is its sqlite3 the real one?)`,
      { cause },
    );
  }

  /**
   * What to report when moving this download's rows elsewhere (a receiver that ATTACHed it) failed
   * with `error`: the remote's damaged file if SQLite finds it so (PRAGMA quick_check, asked only
   * then: it reads the whole file), otherwise the error itself.
   */
  failure(error: unknown): unknown {
    let damaged: boolean;
    try {
      const rows = this.db.prepare('PRAGMA quick_check').all();
      damaged = !(rows.length === 1 && String(Object.values(rows[0] ?? {})[0]) === 'ok');
    } catch {
      damaged = true;
    }
    return damaged ? this.damagedError(error) : error;
  }

  /**
   * A rowid as the download holds it: an INTEGER, nothing else. A feed's rowids become cursors, so
   * they must be positive safe integers; a hash download's (verify --repair) may be anything SQLite
   * allows, 0 and below included, and only label the entry.
   */
  private rowid(value: SqlValue | undefined): number {
    const feed = this.shape.kind === 'feed';
    if (typeof value !== 'bigint' || (feed && (value < 1n || value > BigInt(Number.MAX_SAFE_INTEGER))))
      throw this.refused(`a rowid of ${quoted(String(value))}`);
    return Number(value);
  }

  /** The rows in rowid order: [rowid, origin, values…] (plus a leading `__h` for hash downloads). */
  *rows(): Generator<SqlValue[]> {
    const declared = this.shape.columns.map(quoteIdentifier);
    const columns = (this.shape.kind === 'feed' ? ['rowid', ...declared] : declared).join(', ');
    const rows = this.read(() =>
      this.db.prepare(`SELECT ${columns} FROM ${this.table} ORDER BY ${this.rowidColumn}`, { exactIntegers: true }).iterateArrays(),
    );
    try {
      for (;;) {
        const next = this.read(() => rows.next());
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // A consumer that stops early must not leave the statement running: close() would refuse.
      rows.return?.();
    }
  }

  /**
   * The entry a row of the download carries (the row from `offset`: rowid, origin, values). NULL or
   * empty origin means written on the sender; any other origin must be text (the engine checks its form).
   */
  feedRow(row: SqlValue[], selfId: string, offset = 0): FeedRow {
    const origin = row[offset + 1];
    if (origin !== null && typeof origin !== 'string')
      throw this.refused(`an origin of type ${origin instanceof Uint8Array ? 'BLOB' : typeof origin}`);
    this.rowid(row[offset]);
    // Checked: the one rule for what a stored origin means is feed-filter's.
    return feedRow(row, selfId, offset);
  }

  private read<T>(work: () => T): T {
    try {
      return onScratch(this.path, 'reading downloaded entries', work);
    } catch (error) {
      // Not this machine's database: a file the remote sent damaged (or never a database) is its fault.
      throw isSyncError(error) && (error.code === 'DB_CORRUPT' || error.code === 'DB_NOT_SQLITE') ? this.damagedError(error) : error;
    }
  }

  close(): void {
    this.db.close();
    rmSync(this.path, { force: true });
  }
}
