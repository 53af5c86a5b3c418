/**
 * Database paths that hold no database, through the real CLI on real files: a missing file, a
 * directory and a symlink loop, as this node's database and as a local peer. Each fails with its own
 * one line (a loop says ELOOP, not "not found") and exit 4, and none leaves a `-sync.lock` beside
 * it. A run that succeeds leaves exactly the documented `<db>-sync.lock` beside each database it
 * wrote, and nothing else.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { failedWith } from '../ssh/fixtures.js';

const LOOP = /is a symlink loop \(ELOOP\): its links never reach a file; fix the link so it points at the database file/;

function seeded(dir: string) {
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'main', context: 'c', source: 's' }]);
  insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'phone', context: 'c', source: 's' }]);
  return { main, phone };
}

const listing = (dir: string) => readdirSync(dir).sort();
const prepared = (path: string) =>
  withDb(path, (db) => db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = 'resonance_sync_meta'`).get()?.n) === 1;

test('a sync that succeeds leaves only the documented lock file beside each database', async (t) => {
  const dir = tempDir(t);
  const { main, phone } = seeded(dir);
  const result = await runCli(['sync', phone, '--db', main]);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(listing(dir), ['main.sqlite3', 'main.sqlite3-sync.lock', 'phone.sqlite3', 'phone.sqlite3-sync.lock']);
});

test("this node's database missing or a directory: exit 4, one line with the fix, no lock file made", async (t) => {
  const dir = tempDir(t);
  const { phone } = seeded(dir);
  const missing = join(dir, 'missing.sqlite3');
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  const before = listing(dir);
  failedWith(
    await runCli(['sync', phone, '--db', missing]),
    4,
    'DB_NOT_FOUND',
    /database not found: .*missing\.sqlite3 \(check the path, or create one with: resonance-sync init --create --db /,
  );
  failedWith(
    await runCli(['sync', phone, '--db', folder]),
    4,
    'DB_NOT_FOUND',
    /folder is a directory, not a database file; name the database file inside it/,
  );
  failedWith(await runCli(['verify', phone, '--db', folder, '--repair']), 4, 'DB_NOT_FOUND', /folder is a directory/);
  assert.deepEqual(listing(dir), before, 'no lock file beside the missing path, the folder or the peer');
  assert.deepEqual(readdirSync(folder), []);
  assert.equal(prepared(phone), false, 'the peer was not touched');
});

test('a local peer missing or a directory: exit 4, no lock file beside it (this node keeps its own)', async (t) => {
  const dir = tempDir(t);
  const { main } = seeded(dir);
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  failedWith(
    await runCli(['sync', join(dir, 'missing.sqlite3'), '--db', main]),
    4,
    'DB_NOT_FOUND',
    /missing: database not found: .*missing\.sqlite3 \(check the path/,
  );
  failedWith(
    await runCli(['sync', folder, '--db', main]),
    4,
    'DB_NOT_FOUND',
    /folder: .*folder is a directory, not a database file; name the database file inside it/,
  );
  assert.deepEqual(listing(dir), ['folder', 'main.sqlite3', 'main.sqlite3-sync.lock', 'phone.sqlite3']);
  assert.deepEqual(readdirSync(folder), []);
  assert.deepEqual(
    allRows(main).map((r) => r.content),
    ['main'],
    'nothing arrived, no sync note',
  );
});

test('a symlink loop as a database path says ELOOP and to fix the link, for sync, a peer and init; no lock file', async (t) => {
  const dir = tempDir(t);
  const { main, phone } = seeded(dir);
  const loop = join(dir, 'loop.sqlite3');
  symlinkSync(loop, loop);
  // Two links pointing at each other, and a loop on the way to the file.
  symlinkSync(join(dir, 'b.sqlite3'), join(dir, 'a.sqlite3'));
  symlinkSync(join(dir, 'a.sqlite3'), join(dir, 'b.sqlite3'));
  symlinkSync(join(dir, 'spin'), join(dir, 'spin'));
  const before = listing(dir);
  failedWith(
    await runCli(['sync', phone, '--db', loop]),
    4,
    'DB_NOT_FOUND',
    new RegExp(`^resonance-sync: .*loop\\.sqlite3 ${LOOP.source}`),
  );
  failedWith(await runCli(['sync', phone, '--db', join(dir, 'a.sqlite3')]), 4, 'DB_NOT_FOUND', LOOP);
  failedWith(await runCli(['sync', phone, '--db', join(dir, 'spin', 'x.sqlite3'), '--dry-run']), 4, 'DB_NOT_FOUND', LOOP);
  failedWith(
    await runCli(['sync', loop, '--db', main]),
    4,
    'DB_NOT_FOUND',
    new RegExp(`^resonance-sync: loop: .*loop\\.sqlite3 ${LOOP.source}`),
  );
  for (const create of [[], ['--create']]) {
    failedWith(await runCli(['init', '--db', loop, '--node', 'x', '--config', join(dir, 'c.toml'), ...create]), 4, 'DB_NOT_FOUND', LOOP);
  }
  assert.deepEqual(
    listing(dir),
    [...before, 'main.sqlite3-sync.lock'].sort(),
    "only the lock of this node's own database, from the run with the looping peer",
  );
});
