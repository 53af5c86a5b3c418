/**
 * rotate's in-place swap of a rollback-journal database (src/store/replace-in-place.ts): the journal
 * it writes must be one SQLite itself rolls back after a crash, and a connection opened before the
 * swap must see the new content and write into it.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { test } from 'node:test';
import { replaceInPlace, writeJournal } from '../../src/store/replace-in-place.js';
import { rotateDatabase } from '../../src/store/rotate.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

function notes(count: number, context: string) {
  return Array.from({ length: count }, (_, i) => ({
    timestamp: `2025-01-01 00:00:${String(i % 60).padStart(2, '0')}`,
    content: `${context} ${i} ${'x'.repeat(300)}`,
    context,
    source: 'agent',
  }));
}

const count = (path: string) => withDb(path, (db) => Number(db.prepare('SELECT count(*) AS n FROM resonance_notes').get()?.n));
const integrity = (path: string) => withDb(path, (db) => String(db.prepare('PRAGMA integrity_check').get()?.integrity_check));

test('a crash after the journal is written and while the pages are overwritten: SQLite rolls the old database back', (t) => {
  const dir = tempDir(t);
  const db = createNotesDb(dir, 'live');
  insertNotes(db, notes(5_000, 'old'));
  const fd = openSync(db, 'r+');
  try {
    const pageSize = withDb(db, (d) => Number(d.prepare('PRAGMA page_size').get()?.page_size));
    writeJournal(`${db}-journal`, fd, pageSize, fstatSync(fd).size / pageSize, 8);
    const torn = Buffer.alloc(pageSize * 8, 0x5a); // the "crash": half-written pages, journal left behind
    writeSync(fd, torn, 0, torn.length, 0);
  } finally {
    closeSync(fd);
  }
  assert.equal(integrity(db), 'ok');
  assert.equal(count(db), 5_000);
  assert.equal(existsSync(`${db}-journal`), false, 'the hot journal was rolled back and deleted');
});

test('replaceInPlace: same file, the new content, cut to its size; a connection opened before writes into it', (t) => {
  const dir = tempDir(t);
  const live = createNotesDb(dir, 'live');
  insertNotes(live, notes(5_000, 'old'));
  const fresh = createNotesDb(dir, 'fresh');
  insertNotes(fresh, notes(3, 'new'));
  const inode = statSync(live).ino;
  const agent = openDatabase(live);
  t.after(() => agent.close());
  assert.equal(Number(agent.prepare('SELECT count(*) AS n FROM resonance_notes').get()?.n), 5_000);

  const swapper = openDatabase(live);
  swapper.exec('BEGIN EXCLUSIVE');
  const replacement = replaceInPlace(live, readFileSync(fresh));
  swapper.exec('COMMIT');
  assert.equal(Number(agent.prepare('SELECT count(*) AS n FROM resonance_notes').get()?.n), 3, 'the new content, before the cut');
  replacement.cutTail(swapper);
  replacement.finish();
  swapper.close();

  assert.equal(statSync(live).ino, inode);
  assert.equal(statSync(live).size, statSync(fresh).size);
  assert.equal(existsSync(`${live}-journal`), false);
  agent
    .prepare(`INSERT INTO resonance_notes (timestamp, content, context, source) VALUES ('2025-02-01 00:00:00', 'after', 'new', 'agent')`)
    .run();
  assert.equal(count(live), 4);
  assert.equal(integrity(live), 'ok');
});

test('a swap in place interrupted before the cut: rotate measures the database, not the file, and does not rotate it again', (t) => {
  const dir = tempDir(t);
  const live = createNotesDb(dir, 'live');
  insertNotes(live, notes(5_000, 'old'));
  const fresh = createNotesDb(dir, 'fresh');
  insertNotes(fresh, notes(3, 'new'));
  const swapper = openDatabase(live);
  swapper.exec('BEGIN EXCLUSIVE');
  const replacement = replaceInPlace(live, readFileSync(fresh));
  swapper.exec('COMMIT');
  replacement.finish(); // the "crash": no cut
  swapper.close();
  const fileBytes = statSync(live).size;
  assert.ok(fileBytes > statSync(fresh).size * 10);
  const result = rotateDatabase(live, { maxSizeBytes: fileBytes, force: false, keep: 5 });
  assert.equal(result.rotated, false);
  assert.equal(result.sizeMb, statSync(fresh).size / (1024 * 1024));
  assert.equal(count(live), 3);
});
