/**
 * Prepares a remote database on first contact with exactly what store/prepare.ts adds, without a
 * second copy of its DDL that could drift: prepareDatabase runs here on a scratch database holding a
 * notes table with the remote's column names, and whatever it created there (tables, columns, the
 * dedupe index, the view, the identity) is replayed on the remote in one transaction, skipping what
 * the remote already has. The replayed SQL is our own prepare's output, never text from the remote.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { LOG_REFUSAL_COLUMNS, prepareDatabase } from '../../store/prepare.js';
import { LOG_TABLE, META_TABLE, NOTES_TABLE, TIMESTAMP_INDEX } from '../../core/notes-table.js';
import { databaseError, openDatabase } from '../../store/sqlite/open-database.js';
import type { RemoteInfo, RemoteProbe } from './remote-schema.js';
import { quoteIdentifier } from '../../store/sql.js';
import { textLiteral } from './sql-literals.js';

/** Statements to run inside one write transaction on the remote. */
export function preparePlan(probe: RemoteProbe, info: RemoteInfo, nodeName: string, scratchDir: string): string[] {
  const path = join(scratchDir, 'prepare.sqlite3');
  try {
    return planOn(path, probe, info, nodeName);
  } catch (error) {
    // A local scratch file: its failures (a full disk, a removed temp folder) are typed like any database's.
    throw databaseError(error, path, 'planning how to prepare the remote database');
  } finally {
    rmSync(path, { force: true });
  }
}

function planOn(path: string, probe: RemoteProbe, info: RemoteInfo, nodeName: string): string[] {
  const db = openDatabase(path, { create: true });
  try {
    db.exec(`CREATE TABLE ${NOTES_TABLE} (${probe.shape.allColumns.map(quoteIdentifier).join(', ')})`);
    prepareDatabase(db, path, { nodeName });
    const created = db
      .prepare(
        `SELECT type, name, sql FROM sqlite_master WHERE name <> ? AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql IS NOT NULL ORDER BY rowid`,
      )
      .all(NOTES_TABLE)
      .map((row) => ({ type: String(row.type), name: String(row.name), sql: String(row.sql) }));
    const columns = db.prepare(`SELECT name, type FROM pragma_table_info(?)`).all(NOTES_TABLE);
    const meta = db.prepare(`SELECT key, value FROM ${META_TABLE}`).all();

    const missing = created.filter(({ name }) => !probe.objects.has(name));
    // An index the remote has on the timestamp (the users' idx_timestamp, their UNIQUE index) does the
    // dedupe index's job (prepare.ts ensureDedupeIndex).
    const wanted = missing.filter(({ name }) => !(name === TIMESTAMP_INDEX && probe.timestampIndexes.length > 0));
    const statements = wanted.filter(({ type }) => type === 'table').map(({ sql }) => `${sql};`);
    for (const column of columns) {
      const name = String(column.name);
      // Spelt as prepare.ts spells it (our own names), so the table's SQL reads the same either way.
      const spelt = /^[a-z_][a-z0-9_]*$/.test(name) ? name : quoteIdentifier(name);
      if (!probe.shape.allColumns.includes(name))
        statements.push(`ALTER TABLE main.${NOTES_TABLE} ADD COLUMN ${spelt} ${String(column.type)};`);
    }
    // Columns added to a bookkeeping table the remote already has (sync_log, schema 3).
    if (probe.objects.has(LOG_TABLE)) {
      for (const column of LOG_REFUSAL_COLUMNS) {
        if (!probe.logColumns.includes(column.split(' ')[0] ?? column))
          statements.push(`ALTER TABLE main.${LOG_TABLE} ADD COLUMN ${column};`);
      }
    }
    // Indexes and the view come after the columns they use.
    statements.push(...wanted.filter(({ type }) => type !== 'table').map(({ sql }) => `${sql};`));
    for (const row of meta) {
      const key = String(row.key);
      // As prepareDatabase does: keep an existing node id and dedupe choice, name the node, stamp the version.
      const keep = key === 'node_id' || key === 'dedupe';
      if (keep && info.meta[key] !== undefined) continue;
      statements.push(
        `INSERT INTO main.${META_TABLE} (key, value) VALUES (${textLiteral(key)}, ${textLiteral(String(row.value))}) ON CONFLICT (key) DO UPDATE SET value = excluded.value;`,
      );
    }
    return statements;
  } finally {
    db.close();
  }
}
