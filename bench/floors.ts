/**
 * The honest floors the bench compares resonance-sync with, each measured in the same run as a
 * whole process, as a user would measure it:
 * - SQL floor: SQLite moving the rows itself. One `sqlite3` process ATTACHes the sender and runs
 *   `INSERT … SELECT … WHERE NOT EXISTS (same identity)` in one transaction into a table with the
 *   same timestamp index and an origin column, in WAL mode like the receiver.
 * - identity scan: one `sqlite3` process reading every entry's identity (timestamp, content,
 *   source) of both databases once: what any comparison of two databases must at least do.
 * - ssh floor (in ssh-bench.ts): `scp` of the whole file, then the SQL floor on the copy.
 * Without the sqlite3 CLI the same SQL runs through the binding in this process (said in the row).
 *
 * And two references that are not floors the issue names, but what a figure cannot go below, so that
 * a missed target shows in every run how much of it is ours:
 * - the SQL floor in a bare Node process: Node started, the SQLite binding loaded, the same script,
 *   and nothing else (what any Node program moving these rows pays);
 * - the agentless remote's digest alone: the very script verify sends to a peer's sqlite3 shell, run
 *   by a local sqlite3 process on the same file.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findPeer, loadConfig } from '../src/config/config-file.js';
import type { NotesTableShape } from '../src/core/notes-table.js';
import { probeNotesTable } from '../src/store/schema.js';
import { openDatabase } from '../src/store/sqlite/open-database.js';
import { bucketDigestsSql } from '../src/transport/sqlite-cli/feed.js';

export type FloorHow = 'sqlite3 process' | 'in-process (no sqlite3 CLI)';

export function sqlite3Available(): boolean {
  return spawnSync('sqlite3', ['-version']).status === 0;
}

const TABLE = `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL,
  context TEXT, source TEXT DEFAULT 'scribe', sync_origin TEXT);
CREATE INDEX floor_timestamp ON resonance_notes(timestamp);`;

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Runs `script` in one sqlite3 process on `db` (or through the binding), timed from outside. */
export function runScript(db: string, script: string): { seconds: number; how: FloorHow } {
  const started = performance.now();
  if (sqlite3Available()) {
    const result = spawnSync('sqlite3', ['-bail', db], { input: script, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`sqlite3 floor failed: ${result.stderr}`);
    return { seconds: (performance.now() - started) / 1000, how: 'sqlite3 process' };
  }
  const handle = openDatabase(db, { create: true });
  try {
    handle.exec(script);
  } finally {
    handle.close();
  }
  return { seconds: (performance.now() - started) / 1000, how: 'in-process (no sqlite3 CLI)' };
}

/** Removes a database file and its WAL files, so that the next script starts from no database. */
export function removeDatabaseFiles(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

/** The script of the SQL floor: everything `sender` holds into the database it runs on, new. */
function sqlFloorScript(sender: string): string {
  return `PRAGMA journal_mode = WAL;
${TABLE}
ATTACH ${sqlString(sender)} AS sender;
BEGIN IMMEDIATE;
INSERT INTO main.resonance_notes (timestamp, content, context, source, sync_origin)
  SELECT s.timestamp, s.content, s.context, s.source, 'sender' FROM sender.resonance_notes AS s
  WHERE NOT EXISTS (SELECT 1 FROM main.resonance_notes AS m
    WHERE m.timestamp IS s.timestamp AND m.content IS s.content AND m.source IS s.source)
  ORDER BY s.rowid;
COMMIT;
`;
}

/** The SQL floor of receiving everything `sender` holds into a new database at `target`. */
export function sqlFloor(sender: string, target: string): { seconds: number; how: FloorHow } {
  removeDatabaseFiles(target);
  const measured = runScript(target, sqlFloorScript(sender));
  if (!existsSync(target)) throw new Error('the SQL floor wrote no database');
  return measured;
}

/** The child that runs a script in a bare Node process (sql-child.ts). */
const SQL_CHILD = fileURLToPath(new URL('./sql-child.js', import.meta.url));

/** The SQL floor's script run by a bare Node process through this runtime's SQLite binding, timed from outside. */
export function nodeSqlFloor(sender: string, target: string): { seconds: number } {
  removeDatabaseFiles(target);
  const started = performance.now();
  const result = spawnSync(process.execPath, [SQL_CHILD, target], { input: sqlFloorScript(sender), encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) throw new Error(`the SQL floor in a bare Node process failed: ${result.stderr}`);
  if (!existsSync(target)) throw new Error('the SQL floor in a bare Node process wrote no database');
  return { seconds };
}

/**
 * The digest verify asks of an agentless peer (transport/sqlite-cli/feed.ts bucketDigestsSql), for
 * the route this node sends `peer` by `configPath` (the first digest verify asks for), run by a
 * sqlite3 process on `db` alone.
 */
export function agentlessDigestAlone(db: string, configPath: string, peer: string): { seconds: number; how: FloorHow } {
  const route = findPeer(loadConfig(configPath, { mustExist: true }), peer).push;
  const digest = bucketDigestsSql(notesShapeOf(db), route);
  return runScript(db, [...digest.before, `${digest.query};`, ...digest.after].join('\n'));
}

function notesShapeOf(db: string): NotesTableShape {
  const handle = openDatabase(db);
  try {
    return probeNotesTable(handle, db);
  } finally {
    handle.close();
  }
}

/** One full scan of the identities of both databases (what verify must at least read). */
export function identityScanFloor(a: string, b: string): { seconds: number; how: FloorHow } {
  const scan = (schema: string) =>
    `SELECT count(*), sum(length(timestamp)), sum(length(content)), sum(length(source)) FROM ${schema}.resonance_notes;`;
  return runScript(a, `ATTACH ${sqlString(b)} AS other;\n${scan('main')}\n${scan('other')}\n`);
}
