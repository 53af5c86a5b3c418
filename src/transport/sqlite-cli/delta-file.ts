/**
 * Delta databases: how rows cross the agentless transport binary-exact. Each is a small SQLite file
 * whose row table has columns WITHOUT declared types (no affinity), so every value keeps its exact
 * storage class and bytes: integers beyond 2^53, REALs bit for bit, BLOBs, text with NULs.
 * Uploads are built here with the project's binding; downloads, built by the remote sqlite3, are read
 * here from disk batch by batch, so memory stays flat whatever their size.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FeedRow } from '../../core/replica.js';
import type { Database } from '../../store/sqlite/driver.js';
import type { SqlValue } from '../../core/sql-value.js';
import { databaseError, openDatabase } from '../../store/sqlite/open-database.js';

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

/** A downloaded delta database, open for reading; `close()` also deletes the file. */
export class Download {
  private readonly db: Database;

  constructor(private readonly path: string) {
    this.db = openDatabase(path, { readOnly: true });
  }

  meta(): DownloadMeta {
    const row = this.read(() => this.db.prepare('SELECT high, window_end, cut FROM meta', { exactIntegers: true }).get());
    return { high: Number(row?.high ?? 0), windowEnd: Number(row?.window_end ?? 0), cut: Number(row?.cut ?? 0) !== 0 };
  }

  /** The highest rowid in the download, if it holds any row. */
  lastRowid(): number | undefined {
    const row = this.read(() => this.db.prepare('SELECT max(__rowid) AS m FROM rows', { exactIntegers: true }).get());
    return row?.m === null || row?.m === undefined ? undefined : Number(row.m);
  }

  /** `rows` in rowid order: [__rowid, __origin, values…] (plus a leading `__h` for hash downloads). */
  *rows(): Generator<SqlValue[]> {
    const rows = this.read(() => this.db.prepare('SELECT * FROM rows ORDER BY __rowid', { exactIntegers: true }).iterateArrays());
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

  private read<T>(work: () => T): T {
    return onScratch(this.path, 'reading downloaded entries', work);
  }

  close(): void {
    this.db.close();
    rmSync(this.path, { force: true });
  }
}
