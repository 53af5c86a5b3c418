/**
 * `rotate`: the users' rotation (resonance_rotation.py) done so that sync survives it. When the
 * database reaches the size limit it is archived to `.resonance_backups/resonance_YYYYmmdd_HHMMSS_NMB.sqlite3`
 * beside it, replaced by a fresh file made from their schema file (or the current table's own
 * definition), and the last N backups are kept. Unlike deleting the file, the fresh file keeps the
 * node's identity and circulation:
 *
 * - the sync bookkeeping (identity, cursors, known nodes, relay marks, peer state, tracking, log) is
 *   carried over, so nothing already received arrives again;
 * - new rowids continue above the archived cycle (the first new row is numbered past the archive's
 *   last, and AUTOINCREMENT's sqlite_sequence follows it), so every peer's cursor into this node's
 *   feed stays valid: peers read only the new entries, and nobody sends the archived cycle back.
 *
 * Consistency while agents write: the archive is built in short steps (archive.ts: never one long
 * read, which in the rollback journal would keep every agent's commit waiting for all of it, and never
 * a raw copy of a WAL database), holding every note up to its cut-off rowid. Rows committed after
 * the cut-off are moved into the new cycle with their rowids. Then the swap, in place in both journal
 * modes, so every connection an agent holds on the file stays valid and writes into the new cycle
 * (a new file renamed over the path had SQLite refuse the next write of a connection opened before,
 * "attempt to write a readonly database", or write it into a deleted file):
 * - rollback journal: the fresh file's content is written into the database's own file
 *   (swapRollbackJournal, replace-in-place.ts), its old tail then cut off in short steps;
 * - WAL: one short transaction of SQLite's own renames the notes table away and creates the schema
 *   file's in its place (swapWalInPlace); the archived cycle's rows are then deleted in short steps
 *   and the space given back by VACUUM (dropOldCycle). WAL mode stays on.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SyncError } from '../core/errors.js';
import type { SqlValue } from '../core/sql-value.js';
import {
  ARRIVALS_TABLE,
  CURSORS_TABLE,
  LOG_TABLE,
  META_TABLE,
  NODES_TABLE,
  NOTES_TABLE,
  PEER_STATE_TABLE,
  TRACKING_TABLE,
} from '../core/notes-table.js';
import { readMeta } from './meta.js';
import { archiveInSteps } from './archive.js';
import { type DedupeMode, prepareDatabase } from './prepare.js';
import { type InPlaceReplacement, replaceInPlace } from './replace-in-place.js';
import { probeNotesTable, tableExists } from './schema.js';
import { quoteIdentifier } from './sql.js';
import type { Database, SqlRow } from './sqlite/driver.js';
import { openDatabase } from './sqlite/open-database.js';
import { inTransaction } from './sqlite/transaction.js';
import { WriteLockYielder } from './write-lock-yield.js';

export const BACKUP_DIR_NAME = '.resonance_backups';
/** Their backups: `resonance_20251130_220000_201MB.sqlite3`. */
const BACKUP_PATTERN = /^resonance_\d{8}_\d{6}_\d+MB\.sqlite3$/;
const BOOKKEEPING = [META_TABLE, CURSORS_TABLE, NODES_TABLE, ARRIVALS_TABLE, PEER_STATE_TABLE, TRACKING_TABLE, LOG_TABLE];

export interface RotateOptions {
  /** Rotate only when the file is at least this large (their 200 MB), unless force. */
  maxSizeBytes: number;
  force: boolean;
  /** Backups to keep (their 5). */
  keep: number;
  /** Their init_resonance.sql; default: the current table's own definition and indexes. */
  schemaFile?: string | undefined;
  schemaSql?: string | undefined;
  now?: Date;
}

export interface RotateResult {
  rotated: boolean;
  sizeMb: number;
  backupPath?: string;
  /** The last rowid of the archived cycle; the new cycle's rows are numbered above it. */
  archivedThrough?: number;
  /** Rows committed while the archive was taken, moved into the new cycle. */
  carried?: number;
  /** The database is in WAL mode (swapped by SQLite's own transaction, and still in WAL mode). */
  wasWal?: boolean;
  deletedBackups: string[];
}

export function rotateDatabase(path: string, options: RotateOptions): RotateResult {
  const sizeBytes = databaseBytes(path);
  const sizeMb = sizeBytes / (1024 * 1024);
  if (sizeBytes < options.maxSizeBytes && !options.force) return { rotated: false, sizeMb, deletedBackups: [] };
  const backupDir = join(dirname(path), BACKUP_DIR_NAME);
  mkdirSync(backupDir, { recursive: true });
  const backupPath = join(backupDir, `resonance_${stamp(options.now ?? new Date())}_${Math.floor(sizeMb)}MB.sqlite3`);
  if (existsSync(backupPath)) {
    throw new SyncError('USAGE', `${backupPath} exists already (a rotation this very second); run rotate again in a second`);
  }
  const freshPath = `${path}.rotating`;
  rmSync(freshPath, { force: true });
  rmSync(`${freshPath}-journal`, { force: true });

  const live = openDatabase(path);
  // A rotation interrupted while it deleted the archived cycle (WAL) finishes that first.
  try {
    dropOldCycle(live);
  } catch (error) {
    live.close();
    throw error;
  }
  let archivedThrough: number;
  let carried: number;
  let walMode: boolean;
  try {
    walMode = String(live.prepare('PRAGMA journal_mode').get()?.journal_mode ?? '').toLowerCase() === 'wal';
    // 1. The archive, in short steps while agents go on writing: every note up to the cut-off.
    const partial = `${backupPath}.partial`;
    rmSync(partial, { force: true });
    try {
      archivedThrough = archiveInSteps(live, partial);
    } catch (error) {
      rmSync(partial, { force: true });
      throw error;
    }
    renameSync(partial, backupPath);
    // 2. The fresh file, built aside from the archive's bookkeeping.
    buildFresh(freshPath, backupPath, live, options);
    // 3. Rows written since the snapshot and the new cycle's first notes, into the fresh file.
    const swapped = fillFresh(live, freshPath, archivedThrough, rotationNote(sizeMb, basename(backupPath)));
    carried = swapped.carried;
    // 4. The swap, in place (see the top of this file). WAL: then the archived cycle is deleted in
    // steps and the space given back.
    if (walMode) {
      carried += swapWalInPlace(live, freshPath, archivedThrough, swapped.oldThrough);
      rmSync(freshPath, { force: true });
      dropOldCycle(live);
    } else {
      carried += swapRollbackJournal(live, freshPath, path, swapped.oldThrough);
    }
  } catch (error) {
    live.close();
    rmSync(freshPath, { force: true });
    throw error;
  }
  live.close();
  return {
    rotated: true,
    sizeMb,
    backupPath,
    archivedThrough,
    carried,
    wasWal: walMode,
    deletedBackups: pruneBackups(backupDir, options.keep),
  };
}

function buildFresh(freshPath: string, archivePath: string, live: Database, options: RotateOptions): void {
  const fresh = openDatabase(freshPath, { create: true });
  try {
    const schema = options.schemaSql ?? currentSchema(live);
    try {
      fresh.exec(schema);
    } catch (error) {
      throw new SyncError(
        'USAGE',
        `the schema ${options.schemaFile ?? '(from the current table)'} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    probeNotesTable(fresh, options.schemaFile ?? freshPath);
    const meta = readMeta(live);
    if (meta.node_id === undefined) return; // never synced: a plain drop-in rotation
    prepareDatabase(fresh, freshPath, { nodeName: meta.node_name, nodeId: meta.node_id, dedupe: meta.dedupe as DedupeMode | undefined });
    fresh.prepare('ATTACH DATABASE ? AS archive').run(archivePath);
    try {
      inTransaction(fresh, 'IMMEDIATE', () => {
        for (const table of BOOKKEEPING) {
          if (!tableExists(fresh, table, 'archive')) continue;
          const columns = commonColumns(fresh, table, 'main', 'archive').map(quoteIdentifier).join(', ');
          fresh.exec(`DELETE FROM main.${table}; INSERT INTO main.${table} (${columns}) SELECT ${columns} FROM archive.${table}`);
        }
        // The new cycle starts above every cursor: a mark left by `adopt --continue` has no more use.
        fresh.exec(`DELETE FROM main.${META_TABLE} WHERE key = 'continued_below'`);
      });
    } finally {
      fresh.exec('DETACH DATABASE archive');
    }
  } finally {
    fresh.close();
  }
}

/** The notes table and its indexes as the file defines them now: the "same shape" default. */
function currentSchema(db: Database): string {
  const rows = db
    .prepare(`SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC`)
    .all(NOTES_TABLE);
  return rows.map((row) => `${String(row.sql)};`).join('\n');
}

interface NewRow {
  values: Record<string, SqlValue>;
}

/**
 * One read transaction on the old file (a snapshot: the rows carried and `oldThrough` agree), writing
 * only the fresh file. Not a write transaction on the old file: an agent that began its insert while
 * we held that lock would wait for it, wake up after the rename with the old file open, and have its
 * note refused (SQLite writes nothing into a file moved off its path). Under a read lock it writes its
 * journal at once and only waits to commit; its row is carried by the swap.
 */
function fillFresh(live: Database, freshPath: string, archivedThrough: number, note: NewRow): { carried: number; oldThrough: number } {
  live.prepare('ATTACH DATABASE ? AS fresh').run(freshPath);
  try {
    return inTransaction(live, 'DEFERRED', () => {
      const shape = probeNotesTable(live, freshPath);
      const list = notesColumns(live, shape.rowidAlias);
      // The schema file's own first notes (their init_resonance.sql inserts one) were made before
      // anything else: they are numbered into the new cycle, after the rows carried over.
      const schemaRows = live.prepare(`SELECT * FROM fresh.${NOTES_TABLE} ORDER BY rowid`).all();
      live.exec(`DELETE FROM fresh.${NOTES_TABLE}`);
      const carried = live
        .prepare(`INSERT INTO fresh.${NOTES_TABLE} (rowid, ${list}) SELECT rowid, ${list} FROM main.${NOTES_TABLE} WHERE rowid > ?`)
        .run(archivedThrough).changes;
      const freshColumns = columnsOf(live, NOTES_TABLE, 'fresh');
      let next = Math.max(
        archivedThrough,
        Number(live.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM fresh.${NOTES_TABLE}`).get()?.m ?? 0),
      );
      for (const row of [...schemaRows.map((values) => ({ values })), note]) {
        const entries = Object.entries(row.values).filter(([name]) => freshColumns.includes(name) && name !== shape.rowidAlias);
        next++;
        live
          .prepare(
            `INSERT INTO fresh.${NOTES_TABLE} (rowid${entries.map(([name]) => `, ${quoteIdentifier(name)}`).join('')}) VALUES (?${entries.map(() => ', ?').join('')})`,
          )
          .run(next, ...entries.map(([, value]) => value));
      }
      return { carried, oldThrough: Number(live.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM main.${NOTES_TABLE}`).get()?.m ?? 0) };
    });
  } finally {
    live.exec('DETACH DATABASE fresh');
  }
}

/** The columns both files share, for moving rows between them (the rowid alias apart). */
function notesColumns(live: Database, rowidAlias: string | undefined): string {
  return commonColumns(live, NOTES_TABLE, 'main', 'fresh')
    .filter((name) => name !== rowidAlias)
    .map(quoteIdentifier)
    .join(', ');
}

/** Rounds of catching up with short reads before the swap takes the lock for the last of it. */
const CATCH_UP_ROUNDS = 10;

/**
 * The swap of a rollback-journal file, in place (replace-in-place.ts): the fresh file's content is
 * written into the database's own file, so a connection an agent opened on it at any moment, before
 * or during the swap, stays valid and writes into the new cycle. Renaming the fresh file over the
 * path instead had SQLite refuse the next write of a connection opened just before ("attempt to write
 * a readonly database"), which their agents swallow: a note lost.
 *
 * The rows committed since `oldThrough` are appended to the fresh file in short reads while agents go
 * on writing; then, under the database's EXCLUSIVE lock, the last of them (usually none) and the
 * writing of the fresh content. That lock waits for readers and keeps every agent waiting, but only
 * for the fresh file's few pages: milliseconds, whatever the database's size. The old cycle's bytes
 * are then cut off the file in short steps, agents writing in between.
 */
function swapRollbackJournal(live: Database, freshPath: string, path: string, oldThrough: number): number {
  const fresh = openDatabase(freshPath);
  let through = oldThrough;
  let moved = 0;
  let replacement: InPlaceReplacement | undefined;
  try {
    const late = live.prepare(`SELECT rowid AS r, * FROM main.${NOTES_TABLE} WHERE rowid > ? ORDER BY rowid`);
    const freshColumns = columnsOf(fresh, NOTES_TABLE, 'main');
    const rowidAlias = probeNotesTable(live, path).rowidAlias;
    /** Appends the late rows to the fresh file (committed there, with new rowids: theirs may be taken by its first notes). */
    const catchUp = (rows: SqlRow[]) => {
      if (rows.length === 0) return;
      inTransaction(fresh, 'IMMEDIATE', () => {
        for (const { r, ...values } of rows) {
          const entries = Object.entries(values).filter(([name]) => freshColumns.includes(name) && name !== rowidAlias);
          fresh
            .prepare(
              `INSERT INTO ${NOTES_TABLE} (${entries.map(([name]) => quoteIdentifier(name)).join(', ')}) VALUES (${entries.map(() => '?').join(', ')})`,
            )
            .run(...entries.map(([, value]) => value));
        }
      });
      moved += rows.length;
      through = Number(rows[rows.length - 1]?.r);
    };
    for (let round = 0; round < CATCH_UP_ROUNDS; round++) {
      const rows = late.all(through); // a short read: writers commit meanwhile
      if (rows.length === 0) break;
      catchUp(rows);
    }
    replacement = inTransaction(live, 'EXCLUSIVE', () => {
      catchUp(late.all(through));
      return replaceInPlace(path, readFileSync(freshPath));
    });
    replacement.cutTail(live);
  } finally {
    replacement?.finish(); // only now: closing a descriptor of the file drops the process's locks on it
    fresh.close();
  }
  rmSync(freshPath, { force: true });
  return moved;
}

/** Where the archived cycle's notes wait, in a WAL database, to be deleted in steps after the swap. */
export const OLD_CYCLE_TABLE = 'resonance_sync_rotated_cycle';
/** Notes of the archived cycle deleted per short write transaction. */
const DROP_STEP_ROWS = 2000;

/**
 * The swap of a WAL database, in place, as one short write transaction of SQLite's own: the notes
 * table is renamed away (a schema edit, no scan), the fresh file's notes table (their schema file's,
 * with its indexes and triggers) is created in its place, and the rows committed since the archive's
 * cut-off move into it with their rowids, followed by the schema file's first notes and the rotation
 * note. The bookkeeping tables are not touched: they are this node's already. Every connection an
 * agent holds stays valid (a changed schema makes it prepare its statements again) and writes into
 * the new cycle; no file is renamed, and the database stays in WAL mode. The write lock is held for
 * the rows written during the archive and for dropping the old table's indexes (their names are the
 * schema file's), whose pages SQLite frees by reading each of the index's pages: milliseconds for the
 * archive's timestamps, never a read of the notes themselves.
 *
 * `legacy_alter_table`: the rename must leave the view and any trigger that names resonance_notes
 * naming it, i.e. the new table, instead of following the old one.
 */
function swapWalInPlace(live: Database, freshPath: string, archivedThrough: number, oldThrough: number): number {
  live.prepare('ATTACH DATABASE ? AS fresh').run(freshPath);
  live.exec('PRAGMA legacy_alter_table = ON');
  try {
    return inTransaction(live, 'IMMEDIATE', () => {
      const oldObjects = live
        .prepare(`SELECT type, name FROM main.sqlite_schema WHERE tbl_name = ? AND type IN ('index', 'trigger') AND sql IS NOT NULL`)
        .all(NOTES_TABLE);
      for (const { type, name } of oldObjects)
        live.exec(`DROP ${type === 'index' ? 'INDEX' : 'TRIGGER'} main.${quoteIdentifier(String(name))}`);
      live.exec(`ALTER TABLE main.${NOTES_TABLE} RENAME TO ${OLD_CYCLE_TABLE}`);
      const freshObjects = live
        .prepare(
          `SELECT sql FROM fresh.sqlite_schema WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid`,
        )
        .all(NOTES_TABLE);
      for (const { sql } of freshObjects) live.exec(String(sql));
      const rowidAlias = probeNotesTable(live, freshPath).rowidAlias;
      const newColumns = columnsOf(live, NOTES_TABLE, 'main').filter((name) => name !== rowidAlias);
      const list = columnsOf(live, OLD_CYCLE_TABLE, 'main')
        .filter((name) => newColumns.includes(name))
        .map(quoteIdentifier)
        .join(', ');
      // Every row written since the archive's cut-off, with its rowid, from the old table itself.
      live.exec(
        `INSERT INTO main.${NOTES_TABLE} (rowid${list ? `, ${list}` : ''}) SELECT rowid${list ? `, ${list}` : ''} FROM main.${OLD_CYCLE_TABLE} WHERE rowid > ${archivedThrough} ORDER BY rowid`,
      );
      const late = Number(live.prepare(`SELECT count(*) AS n FROM main.${OLD_CYCLE_TABLE} WHERE rowid > ?`).get(oldThrough)?.n ?? 0);
      // Then the new cycle's first notes (the schema file's and the rotation note: the fresh file's
      // rows past those fillFresh carried), numbered after them.
      let next = Number(live.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM main.${NOTES_TABLE}`).get()?.m ?? 0);
      next = Math.max(next, archivedThrough);
      for (const { r: _rowid, ...values } of live
        .prepare(`SELECT rowid AS r, * FROM fresh.${NOTES_TABLE} WHERE rowid > ? ORDER BY rowid`)
        .all(oldThrough)) {
        const entries = Object.entries(values).filter(([name]) => newColumns.includes(name));
        live
          .prepare(
            `INSERT INTO main.${NOTES_TABLE} (rowid${entries.map(([name]) => `, ${quoteIdentifier(name)}`).join('')}) VALUES (?${entries.map(() => ', ?').join('')})`,
          )
          .run(++next, ...entries.map(([, value]) => value));
      }
      // The new cycle starts above every cursor: a mark left by `adopt --continue` has no more use.
      if (tableExists(live, META_TABLE)) live.exec(`DELETE FROM main.${META_TABLE} WHERE key = 'continued_below'`);
      return late;
    });
  } finally {
    live.exec('PRAGMA legacy_alter_table = OFF');
    live.exec('DETACH DATABASE fresh');
  }
}

/**
 * Deletes the archived cycle's notes (safe in the archive) from a WAL database in short write
 * transactions, the write lock yielded between them as a sync yields it, then drops the emptied
 * table and VACUUMs, which gives the space back: in WAL mode VACUUM writes only the new cycle's few
 * pages, and the file is cut by the checkpoint, which agents' writes do not wait for. VACUUM
 * renumbers the rows of a table without an INTEGER PRIMARY KEY, so it runs only where every table
 * has one (or is WITHOUT ROWID); otherwise the space stays free inside the file, reused by new notes.
 * Interrupted, the next rotate finishes it (resumeDroppingOldCycle).
 */
export function dropOldCycle(live: Database): void {
  if (!tableExists(live, OLD_CYCLE_TABLE)) return;
  const yielder = new WriteLockYielder(live);
  const step = live.prepare(
    `DELETE FROM main.${OLD_CYCLE_TABLE} WHERE rowid IN (SELECT rowid FROM main.${OLD_CYCLE_TABLE} ORDER BY rowid LIMIT ${DROP_STEP_ROWS})`,
  );
  for (;;) {
    const started = performance.now();
    const deleted = inTransaction(live, 'IMMEDIATE', () => step.run().changes);
    yielder.released(performance.now() - started);
    if (deleted === 0) break;
  }
  live.exec(`DROP TABLE main.${OLD_CYCLE_TABLE}`);
  if (everyTableKeepsItsRowids(live)) {
    live.exec('VACUUM');
    live.exec('PRAGMA main.wal_checkpoint(PASSIVE)');
  }
}

/** Whether VACUUM keeps every row's rowid: each rowid table has an INTEGER PRIMARY KEY (an alias of it). */
function everyTableKeepsItsRowids(db: Database): boolean {
  const tables = db
    .prepare(`SELECT name, sql FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`)
    .all();
  return tables.every(({ name, sql }) => {
    if (/\bWITHOUT\s+ROWID\b/i.test(String(sql))) return true;
    return (
      db
        .prepare(
          `SELECT 1 AS x FROM pragma_table_info(?) WHERE pk = 1 AND upper(type) = 'INTEGER' AND (SELECT count(*) FROM pragma_table_info(?) WHERE pk > 0) = 1`,
        )
        .get(String(name), String(name)) !== undefined
    );
  });
}

/**
 * The database's size: its file's, or less where its header says the database ends before the file
 * does (a swap in place interrupted before the old cycle's bytes were all cut off), so that such a
 * file is not rotated again, and its fresh cycle archived, for bytes it no longer uses.
 */
function databaseBytes(path: string): number {
  const fileBytes = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const header = Buffer.alloc(100);
    if (readSync(fd, header, 0, 100, 0) < 100) return fileBytes;
    const pageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16);
    const pages = header.readUInt32BE(28);
    // The page count is valid only where the change counter and "version valid for" agree.
    if (pages === 0 || header.readUInt32BE(24) !== header.readUInt32BE(92)) return fileBytes;
    return Math.min(fileBytes, pages * pageSize);
  } finally {
    closeSync(fd);
  }
}

/** Their script's own rotation note, so whatever reads it still finds it. */
function rotationNote(sizeMb: number, backupName: string): NewRow {
  return {
    values: {
      timestamp: new Date().toISOString().replace('T', ' ').slice(0, 19),
      content: `Database rotated. Previous size: ${sizeMb.toFixed(1)}MB. Backup: ${backupName}`,
      context: 'system',
      source: 'rotation_manager',
    },
  };
}

function columnsOf(db: Database, table: string, schema: string): string[] {
  return db
    .prepare(`SELECT name FROM pragma_table_info(?, ?)`)
    .all(table, schema)
    .map((row) => String(row.name));
}

function commonColumns(db: Database, table: string, a: string, b: string): string[] {
  const other = columnsOf(db, table, b);
  return columnsOf(db, table, a).filter((name) => other.includes(name));
}

/** Newest first by modification time, as their script sorts; the rest are deleted. */
function pruneBackups(backupDir: string, keep: number): string[] {
  const backups = readdirSync(backupDir)
    .filter((name) => BACKUP_PATTERN.test(name))
    .map((name) => join(backupDir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  const deleted = backups.slice(keep);
  for (const path of deleted) unlinkSync(path);
  return deleted;
}

/** datetime.now().strftime("%Y%m%d_%H%M%S"): local time, like their script. */
function stamp(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}_${pad(date.getHours())}${pad(date.getMinutes())}${pad(date.getSeconds())}`;
}
