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
import { SyncError } from '../../core/errors.js';
import { quoted } from '../../core/feed-checks.js';
import type { FeedRow } from '../../core/replica.js';
import type { Database } from '../../store/sqlite/driver.js';
import type { SqlValue } from '../../core/sql-value.js';
import { databaseError, openDatabase } from '../../store/sqlite/open-database.js';
import { MAX_FRAME_BYTES } from '../../protocol/protocol.js';
import { identifier } from './sql-literals.js';

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

/** What a download must be: a feed's (with a `meta` table) or a hash lookup's, and its `rows` table's columns in order. */
export interface DownloadShape {
  kind: 'feed' | 'hashes';
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

  constructor(
    private readonly path: string,
    private readonly shape: DownloadShape,
  ) {
    this.db = onScratch(path, 'reading downloaded entries', () => openDatabase(path, { readOnly: true }));
    try {
      this.checkTables();
    } catch (error) {
      this.close();
      throw error;
    }
  }

  private refused(what: string): SyncError {
    const advice = 'refused, nothing of it was kept (is its sqlite3 the real one?)';
    return new SyncError('PROTOCOL_ERROR', `${this.shape.from} sent a delta file (${this.path}) with ${what}; ${advice}`);
  }

  private checkTables(): void {
    const columnsOf = (table: string) => this.read(() => this.db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table).map((row) => String(row.name)));
    const rows = columnsOf('rows');
    if (rows.join('\u0000') !== this.shape.columns.join('\u0000')) {
      throw this.refused(`rows(${rows.map(quoted).join(', ')}) where rows(${this.shape.columns.join(', ')}) was asked`);
    }
    if (this.shape.kind === 'feed' && columnsOf('meta').join(',') !== 'high,window_end,cut') throw this.refused('no proper meta table');
  }

  /** The download's meta row: integers, one row, the window within the snapshot. */
  meta(): DownloadMeta {
    const rows = this.read(() => this.db.prepare('SELECT high, window_end, cut FROM meta', { exactIntegers: true }).all());
    const row = rows[0];
    const integer = (value: unknown) => (typeof value === 'bigint' && value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined);
    const [high, windowEnd, cut] = [integer(row?.high), integer(row?.window_end), integer(row?.cut)];
    if (rows.length !== 1 || high === undefined || windowEnd === undefined || windowEnd > high || (cut !== 0 && cut !== 1)) {
      throw this.refused(`a meta table of ${quoted(JSON.stringify(rows.slice(0, 2), (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v)))}`);
    }
    return { high, windowEnd, cut: cut === 1 };
  }

  /**
   * How many rows the download holds and the largest of them in bytes, computed by SQLite from the
   * record headers (octet_length reads no value: SQLite >= 3.43, which both bindings bundle); refused
   * when more rows than `maxRows` or an entry too large.
   */
  checkSize(maxRows: number): number {
    const sizes = this.shape.columns.filter((name) => name !== '__rowid').map((name) => `coalesce(octet_length(${identifier(name)}), 0)`);
    const sql = `SELECT count(*) AS n, coalesce(max(b), 0) AS widest FROM (SELECT ${sizes.join(' + ') || '0'} AS b FROM rows)`;
    const row = this.read(() => this.db.prepare(sql, { exactIntegers: true }).get());
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
    const last = this.lastRowid();
    if (meta.windowEnd < after && meta.windowEnd < meta.high) throw this.refused(`a scan window ending at ${meta.windowEnd}, before its start ${after}`);
    if (last !== undefined && (last <= after || last > meta.windowEnd)) throw this.refused(`a row ${last} outside its window (${after}, ${meta.windowEnd}]`);
    const through = meta.cut && last !== undefined ? last : Math.max(meta.windowEnd, after);
    const more = meta.cut || meta.windowEnd < meta.high;
    if (more && through <= after) throw this.refused(`no progress past ${after}`);
    return { through, more };
  }

  /** The highest rowid in the download, if it holds any row. */
  lastRowid(): number | undefined {
    const row = this.read(() => this.db.prepare('SELECT max(__rowid) AS m FROM rows', { exactIntegers: true }).get());
    return row?.m === null || row?.m === undefined ? undefined : this.rowid(row.m);
  }

  /**
   * A rowid as the download holds it: an INTEGER, nothing else. A feed's rowids become cursors, so
   * they must be positive safe integers; a hash download's (verify --repair) may be anything SQLite
   * allows, 0 and below included, and only label the entry.
   */
  private rowid(value: SqlValue | undefined): number {
    const feed = this.shape.kind === 'feed';
    if (typeof value !== 'bigint' || (feed && (value < 1n || value > BigInt(Number.MAX_SAFE_INTEGER)))) throw this.refused(`a rowid of ${quoted(String(value))}`);
    return Number(value);
  }

  /** `rows` in rowid order: [__rowid, __origin, values…] (plus a leading `__h` for hash downloads). */
  *rows(): Generator<SqlValue[]> {
    const columns = this.shape.columns.map(identifier).join(', ');
    const rows = this.read(() => this.db.prepare(`SELECT ${columns} FROM rows ORDER BY __rowid`, { exactIntegers: true }).iterateArrays());
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
    if (origin !== null && typeof origin !== 'string') throw this.refused(`an origin of type ${origin instanceof Uint8Array ? 'BLOB' : typeof origin}`);
    return { rowid: this.rowid(row[offset]), origin: origin === null || origin === '' ? selfId : origin, values: row.slice(offset + 2) };
  }

  private read<T>(work: () => T): T {
    return onScratch(this.path, 'reading downloaded entries', work);
  }

  close(): void {
    this.db.close();
    rmSync(this.path, { force: true });
  }
}
