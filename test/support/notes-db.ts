/** Builds real SQLite files shaped like the users' databases (the four variants in the README). */
import { join } from 'node:path';
import { LocalReplica, type LocalReplicaOptions } from '../../src/transport/local/local-replica.js';
import type { Database, SqlRow } from '../../src/store/sqlite/driver.js';
import type { SqlValue } from '../../src/core/sql-value.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';

export type Variant = 'a' | 'b' | 'c' | 'd';

export const VARIANT_DDL: Record<Variant, string> = {
  a: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT)`,
  b: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT, source TEXT DEFAULT 'scribe')`,
  c: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, content TEXT NOT NULL, context TEXT, source TEXT NOT NULL)`,
  d: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, source TEXT, content TEXT, resonance_score REAL)`,
};

export interface Note {
  /** An explicit rowid, as an agent restoring or importing rows might give one. */
  id?: number;
  timestamp: SqlValue;
  content: SqlValue;
  context?: SqlValue;
  source?: SqlValue;
  resonance_score?: SqlValue;
}

export function createNotesDb(dir: string, name: string, variant: Variant = 'b'): string {
  return createNotesDbWith(dir, name, VARIANT_DDL[variant]);
}

/** A database whose notes table is made by `ddl` (a shape beyond the four variants). */
export function createNotesDbWith(dir: string, name: string, ddl: string): string {
  const path = join(dir, `${name}.sqlite3`);
  const db = openDatabase(path, { create: true });
  db.exec(ddl);
  db.close();
  return path;
}

/** Inserts notes the way an agent would: only the columns it knows, by name. */
export function insertNotes(path: string, notes: Note[]): void {
  const db = openDatabase(path);
  try {
    const columns = (db.prepare(`PRAGMA table_info(resonance_notes)`).all() as Array<{ name: string }>).map((c) => c.name);
    db.exec('BEGIN');
    for (const note of notes) {
      const entries = Object.entries(note).filter(([key, value]) => columns.includes(key) && value !== undefined);
      db.prepare(
        `INSERT INTO resonance_notes (${entries.map(([k]) => `"${k}"`).join(', ')}) VALUES (${entries.map(() => '?').join(', ')})`,
      ).run(...entries.map(([, v]) => v as SqlValue));
    }
    db.exec('COMMIT');
  } finally {
    db.close();
  }
}

export function withDb<T>(path: string, work: (db: Database) => T): T {
  const db = openDatabase(path);
  try {
    return work(db);
  } finally {
    db.close();
  }
}

/** Every row with exact integers and the SQLite type of each identity value, for byte-level comparison. */
export function allRows(path: string): SqlRow[] {
  return withDb(path, (db) =>
    db
      .prepare(`SELECT *, typeof(timestamp) AS t_type, typeof(content) AS c_type FROM resonance_notes ORDER BY rowid`, {
        exactIntegers: true,
      })
      .all(),
  );
}

/** The identity multiset: "timestamp|content|source" keys with their counts (typed, NULL-aware). */
export function identityCounts(path: string): Map<string, number> {
  const counts = new Map<string, number>();
  withDb(path, (db) => {
    const hasSource = (db.prepare(`PRAGMA table_info(resonance_notes)`).all() as Array<{ name: string }>).some((c) => c.name === 'source');
    const rows = db
      .prepare(`SELECT timestamp, content, ${hasSource ? 'source' : 'NULL AS source'} FROM resonance_notes`, { exactIntegers: true })
      .all();
    for (const row of rows) {
      const key = identityKey(row.timestamp ?? null, row.content ?? null, row.source ?? null);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  });
  return counts;
}

export function identityKey(timestamp: SqlValue, content: SqlValue, source: SqlValue): string {
  const tag = (v: SqlValue) =>
    v === null ? 'N' : v instanceof Uint8Array ? `B${Buffer.from(v).toString('hex')}` : `${typeof v}:${String(v)}`;
  return JSON.stringify([tag(timestamp), tag(content), tag(source)]);
}

export function openReplica(path: string, nodeName: string, options: Omit<LocalReplicaOptions, 'prepareAs'> = {}): LocalReplica {
  return LocalReplica.open(path, { ...options, prepareAs: { nodeName } });
}
