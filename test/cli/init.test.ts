import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

test('init prepares every variant additively, prints what changed, and is idempotent', async (t) => {
  const dir = tempDir(t);
  for (const variant of ['a', 'b', 'c', 'd'] as const) {
    const db = createNotesDb(dir, `v${variant}`, variant);
    insertNotes(db, [{ timestamp: '2025-11-30 22:00:00', content: 'kept', context: 'x', source: 's', resonance_score: 0.5 }]);
    const config = join(dir, `${variant}.toml`);
    const first = await runCli(['init', '--db', db, '--node', `node_${variant}`, '--config', config]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /created table sync_tracking/);
    assert.match(first.stdout, /added column resonance_notes\.sync_origin/);
    if (variant === 'a') assert.match(first.stdout, /added column resonance_notes\.source/);
    const second = await runCli(['--config', config, 'init', '--db', db]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /already prepared; nothing changed/);
    assert.match(second.stdout, new RegExp(`node node_${variant}`), 'the name is kept when not given again');
    assert.match(readFileSync(config, 'utf8'), new RegExp(`name = "node_${variant}"`));
    const rows = withDb(db, (handle) => handle.prepare(`SELECT content FROM resonance_notes`).all());
    assert.deepEqual(
      rows.map((row) => row.content),
      ['kept'],
    );
    const tracking = withDb(db, (handle) =>
      handle
        .prepare(`PRAGMA table_info(sync_tracking)`)
        .all()
        .map((c) => c.name),
    );
    assert.deepEqual(tracking, ['remote_node', 'last_sync_timestamp', 'last_sync_success', 'sync_count']);
  }
});

test('init reports duplicates already present and keeps them; unique-index is refused then', async (t) => {
  const dir = tempDir(t);
  const db = createNotesDb(dir, 'dups');
  // With a NULL source SQLite's UNIQUE index would not even notice: NULLs are distinct to it.
  const dup = { timestamp: '2025-11-30 22:00:00', content: 'twice', context: 'x', source: 'agent' };
  insertNotes(db, [dup, dup, dup]);
  const config = join(dir, 'c.toml');
  const refused = await runCli(['init', '--db', db, '--dedupe', 'unique-index', '--config', config]);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /2 duplicate entries.*\[DEDUPE_INDEX_BLOCKED\]/);
  assert.equal(refused.stderr.trim().split('\n').length, 1, 'one line');
  const tables = withDb(db, (handle) =>
    handle.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE 'resonance_sync%' OR name LIKE 'sync_%'`).get(),
  );
  assert.equal(Number(tables?.n), 0, 'nothing written');
  const ok = await runCli(['init', '--db', db, '--config', config]);
  assert.equal(ok.code, 0);
  assert.match(ok.stdout, /2 duplicate entries in 1 groups were already here; they are kept/);
  assert.equal(Number(withDb(db, (handle) => handle.prepare(`SELECT count(*) AS n FROM resonance_notes`).get()?.n)), 3);
});

test("init --dedupe unique-index creates the users' idx_unique_entry where it can", async (t) => {
  const dir = tempDir(t);
  const db = createNotesDb(dir, 'u');
  const result = await runCli(['init', '--db', db, '--dedupe', 'unique-index', '--config', join(dir, 'c.toml')]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /created unique index idx_unique_entry/);
});

test('init refuses bad input with one line, a documented exit code, and writes nothing', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'c.toml');
  const missing = join(dir, 'missing.sqlite3');
  const notFound = await runCli(['init', '--db', missing, '--config', config]);
  assert.equal(notFound.code, 4);
  assert.match(notFound.stderr, /^resonance-sync: database not found: .*--create.*\[DB_NOT_FOUND\]\n$/);
  assert.equal(existsSync(missing), false);
  assert.equal(existsSync(config), false, 'no config written either');

  const junk = join(dir, 'junk.sqlite3');
  writeFileSync(junk, 'this is not a database, just text that is long enough to have a header'.repeat(20));
  const notSqlite = await runCli(['init', '--db', junk, '--config', config]);
  assert.equal(notSqlite.code, 4);
  assert.match(notSqlite.stderr, /is not a SQLite database.*\[DB_NOT_SQLITE\]/);

  const empty = join(dir, 'other.sqlite3');
  withDb(createNotesDb(dir, 'tmp'), () => undefined);
  const { openDatabase } = await import('../../src/store/sqlite/open-database.js');
  const handle = openDatabase(empty, { create: true });
  handle.exec('CREATE TABLE something_else (x)');
  handle.close();
  const noTable = await runCli(['init', '--db', empty, '--config', config]);
  assert.equal(noTable.code, 4);
  assert.match(noTable.stderr, /no resonance_notes table.*\[DB_NO_NOTES_TABLE\]/);
  const after = withDb(empty, (db) => db.prepare(`SELECT group_concat(name) AS names FROM sqlite_schema`).get());
  assert.equal(after?.names, 'something_else');

  const created = await runCli(['init', '--create', '--db', join(dir, 'new', 'fresh.sqlite3'), '--node', 'fresh', '--config', config]);
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /created table resonance_notes/);

  const badName = await runCli(['init', '--db', empty, '--node', 'bad name; rm -rf', '--config', config]);
  assert.equal(badName.code, 2);
});
