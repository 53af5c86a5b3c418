/**
 * The archive `rotate` keeps of a cycle, taken without keeping the database's writers waiting.
 *
 * `VACUUM INTO` would be one consistent snapshot, but it is one read of the whole file: in the
 * default rollback journal every agent's commit waits for all of it (about a second per 200 MB
 * here, far more on a phone), and an agent whose busy timeout runs out loses its note. So the
 * archive is built in short steps instead (rowid-steps.ts): the schema's tables first, then every
 * table's rows in rowid windows, each its own short read, then the indexes, triggers and views,
 * built on the archive alone, and last the AUTOINCREMENT counters, statistics and header values.
 * Writers commit between two windows.
 *
 * What it holds: every note up to the cut-off (the notes table's last rowid when the archive began;
 * rotate moves every later row into the new cycle), and the other tables as the steps read them. The
 * notes are append-only and `rotate` holds the sync lock, so the bookkeeping does not move meanwhile:
 * that is the same content a snapshot at the cut-off would hold. A database with virtual tables (full
 * text search and the like, whose shadow tables cannot be copied row by row) is still archived with
 * VACUUM INTO, in one read.
 */
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, openSync } from 'node:fs';
import { NOTES_TABLE } from '../core/notes-table.js';
import { type RowidRange, rowidRange, walkRowidWindows } from './rowid-steps.js';
import { quoteIdentifier } from './sql.js';
import type { Database, SqlRow } from './sqlite/driver.js';
import { openDatabase } from './sqlite/open-database.js';
import { inTransaction } from './sqlite/transaction.js';

/** The name the archive file is attached under on the live connection while rows are copied. */
const ARCHIVE_SCHEMA = 'rs_archive';

interface SchemaEntry {
  type: string;
  name: string;
  sql: string;
}

interface LiveShape {
  entries: SchemaEntry[];
  notes: RowidRange;
  sequences: SqlRow[];
  stat1: SqlRow[];
  pragmas: { page_size: number; auto_vacuum: number; user_version: number; application_id: number };
}

/**
 * Writes the archive of `live` to `archivePath` (a new file) and returns the cut-off: the last rowid
 * of the notes it holds. On failure the file may be left half built: the caller deletes it.
 */
export function archiveInSteps(live: Database, archivePath: string): number {
  const shape = readShape(live);
  if (shape.entries.some((entry) => /^CREATE\s+VIRTUAL\s+TABLE/i.test(entry.sql))) {
    live.prepare('VACUUM INTO ?').run(archivePath);
    return shape.notes.through;
  }
  withArchive(archivePath, (archive) => {
    archive.exec(`PRAGMA page_size = ${shape.pragmas.page_size}; PRAGMA auto_vacuum = ${shape.pragmas.auto_vacuum}`);
    for (const entry of shape.entries) if (entry.type === 'table') archive.exec(entry.sql);
  });
  copyRows(live, archivePath, shape);
  withArchive(archivePath, (archive) =>
    inTransaction(archive, 'IMMEDIATE', () => {
      // Indexes built once over the copied rows: faster than keeping them up to date row by row, and on the archive alone.
      for (const entry of shape.entries) if (entry.type !== 'table') archive.exec(entry.sql);
      for (const { name, seq } of shape.sequences) {
        archive.prepare('DELETE FROM sqlite_sequence WHERE name = ?').run(name);
        archive.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(name, seq);
      }
      if (shape.stat1.length > 0) {
        archive.exec('ANALYZE sqlite_schema'); // creates sqlite_stat1 without reading any table
        for (const { tbl, idx, stat } of shape.stat1) archive.prepare('INSERT INTO sqlite_stat1 VALUES (?, ?, ?)').run(tbl, idx, stat);
      }
      archive.exec(`PRAGMA user_version = ${shape.pragmas.user_version}; PRAGMA application_id = ${shape.pragmas.application_id}`);
    }),
  );
  // The rows were written without syncing (a crash leaves a .partial file, deleted by the next run): sync once now.
  const fd = openSync(archivePath, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return shape.notes.through;
}

/** Everything about the live file the archive needs, read in one short read transaction. */
function readShape(live: Database): LiveShape {
  return inTransaction(live, 'DEFERRED', () => {
    const entries = live
      .prepare(
        `SELECT type, name, sql FROM main.sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
         ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid`,
      )
      .all()
      .map((row) => ({ type: String(row.type), name: String(row.name), sql: String(row.sql) }));
    const has = (name: string) =>
      live.prepare(`SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?`).get(name) !== undefined;
    const pragma = (name: string) => Number(Object.values(live.prepare(`PRAGMA main.${name}`).get() ?? {})[0] ?? 0);
    return {
      entries,
      notes: rowidRange(live, NOTES_TABLE),
      sequences: has('sqlite_sequence') ? live.prepare('SELECT name, seq FROM main.sqlite_sequence').all() : [],
      stat1: has('sqlite_stat1') ? live.prepare('SELECT tbl, idx, stat FROM main.sqlite_stat1').all() : [],
      pragmas: {
        page_size: pragma('page_size'),
        auto_vacuum: pragma('auto_vacuum'),
        user_version: pragma('user_version'),
        application_id: pragma('application_id'),
      },
    };
  });
}

/** Every table's rows, in short windows read on the live connection and written into the attached archive. */
function copyRows(live: Database, archivePath: string, shape: LiveShape): void {
  live.prepare(`ATTACH DATABASE ? AS ${ARCHIVE_SCHEMA}`).run(archivePath);
  const flusher = new Flusher(archivePath);
  try {
    // No journal and no sync while a file nobody else sees is filled: each window then costs its reading alone.
    live.exec(`PRAGMA ${ARCHIVE_SCHEMA}.journal_mode = OFF; PRAGMA ${ARCHIVE_SCHEMA}.synchronous = OFF`);
    for (const entry of shape.entries) {
      if (entry.type !== 'table') continue;
      const table = quoteIdentifier(entry.name);
      const { columns, withoutRowid, rowidAlias } = tableColumns(live, entry.name);
      if (withoutRowid) {
        // No rowid to step along (such tables are small bookkeeping, never the notes): one statement.
        live.exec(`INSERT INTO ${ARCHIVE_SCHEMA}.${table} (${columns}) SELECT ${columns} FROM main.${table}`);
        continue;
      }
      // The rowid itself is copied, whether or not a column names it: a feed's cursors count in rowids.
      const list = rowidAlias ? columns : `rowid, ${columns}`;
      const copy = live.prepare(
        `INSERT INTO ${ARCHIVE_SCHEMA}.${table} (${list}) SELECT ${list} FROM main.${table} WHERE rowid > ? AND rowid <= ?`,
      );
      const range = entry.name === NOTES_TABLE ? shape.notes : rowidRange(live, entry.name);
      walkRowidWindows(
        live,
        range,
        (after, through) => copy.run(after, through),
        () => flusher.step(),
      );
    }
  } finally {
    flusher.close();
    live.exec(`DETACH DATABASE ${ARCHIVE_SCHEMA}`);
  }
}

/** Bytes written to the archive between two flushes to disk. */
const FLUSH_BYTES = 32 * 1024 * 1024;

/**
 * Flushes the archive to disk every FLUSH_BYTES as it grows. One flush of the whole file at the end
 * writes hundreds of megabytes at once, and every agent's commit (which waits for its own fsync)
 * waits behind it for seconds: measured 2.8 s for 400 MB here.
 */
class Flusher {
  private readonly fd: number;
  private flushedAt = 0;

  constructor(path: string) {
    this.fd = openSync(path, 'r+');
  }

  step(): void {
    const size = fstatSync(this.fd).size;
    if (size - this.flushedAt < FLUSH_BYTES) return;
    fdatasyncSync(this.fd);
    this.flushedAt = size;
  }

  close(): void {
    closeSync(this.fd);
  }
}

function tableColumns(live: Database, table: string): { columns: string; withoutRowid: boolean; rowidAlias: boolean } {
  const info = live.prepare('SELECT name, type, pk FROM pragma_table_info(?, ?)').all(table, 'main');
  const listed = live.prepare(`SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?`).get(table);
  const keys = info.filter((column) => Number(column.pk) > 0);
  return {
    columns: info.map((column) => quoteIdentifier(String(column.name))).join(', '),
    withoutRowid: Number(listed?.wr ?? 0) === 1,
    rowidAlias: keys.length === 1 && String(keys[0]?.type).toUpperCase() === 'INTEGER',
  };
}

function withArchive<T>(path: string, work: (db: Database) => T): T {
  const db = openDatabase(path, { create: true });
  try {
    return work(db);
  } finally {
    db.close();
  }
}
