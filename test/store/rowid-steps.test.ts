/**
 * The rowid walk's windows against real SQLite locks, in one process with three connections on a
 * rollback-journal file: the walk's own, an agent that writes and one that reads. The writers tests
 * (test/cli/writers.test.ts) check the same with real agents, where it depends on timing; here each
 * lock is taken at a chosen moment.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { walkRowidWindows } from '../../src/store/rowid-steps.js';
import { openDatabase, sqliteCodeOf } from '../../src/store/sqlite/open-database.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

test('a window of several statements is one read: a writer that begins to commit inside it waits for the window, and the window is not tried again', (t) => {
  const path = createNotesDb(tempDir(t), 'main');
  insertNotes(
    path,
    [1, 2, 3, 4].map((i) => ({ timestamp: `2026-11-29 10:00:0${i}`, content: `note ${i}`, source: 'agent' })),
  );
  const walker = openDatabase(path);
  const writer = openDatabase(path, { busyTimeoutMs: 0 });
  const reader = openDatabase(path, { busyTimeoutMs: 0 });
  t.after(() => {
    for (const db of [walker, writer, reader]) db.close();
  });
  const read = walker.prepare('SELECT content FROM resonance_notes WHERE rowid > ? AND rowid <= ? ORDER BY rowid');

  let calls = 0;
  let writerPending = false;
  const seen: string[] = [];
  walkRowidWindows(walker, { after: 0, through: 4 }, (after, through) => {
    calls++;
    if (writerPending) {
      // Tried again (the window was not one read): let the writer finish so the walk can end, and fail below.
      writer.exec('COMMIT');
      writerPending = false;
    }
    const middle = after + Math.floor((through - after) / 2);
    const first = read.all(after, middle);
    if (calls === 1) {
      // An agent commits while another agent reads: its commit takes the PENDING lock and waits.
      reader.exec('BEGIN');
      reader.prepare('SELECT count(*) FROM resonance_notes').get();
      writer.exec('BEGIN IMMEDIATE');
      writer.prepare(`INSERT INTO resonance_notes (timestamp, content, source) VALUES ('2026-11-29 11:00:00', 'late', 'agent')`).run();
      assert.throws(
        () => writer.exec('COMMIT'),
        (error) => sqliteCodeOf(error) === 'SQLITE_BUSY',
      );
      writerPending = true;
      reader.exec('COMMIT');
    }
    const second = read.all(middle, through);
    seen.push(...[...first, ...second].map((row) => String(row.content)));
  });

  assert.equal(calls, 1, 'the window was read once, its second statement under the read lock its first took');
  assert.deepEqual(seen, ['note 1', 'note 2', 'note 3', 'note 4']);
  assert.ok(writerPending);
  // The walk is over and holds nothing: the agent's commit goes through now.
  writer.exec('COMMIT');
  assert.equal(Number(walker.prepare('SELECT count(*) AS n FROM resonance_notes').get()?.n), 5);
});

test('a window that fails is rolled back, and the connection holds no transaction after the walk', (t) => {
  const path = createNotesDb(tempDir(t), 'main');
  insertNotes(path, [{ timestamp: '2026-11-29 10:00:00', content: 'one', source: 'agent' }]);
  const walker = openDatabase(path);
  t.after(() => walker.close());
  assert.throws(
    () =>
      walkRowidWindows(walker, { after: 0, through: 1 }, () => {
        walker.prepare('SELECT count(*) FROM resonance_notes').get();
        throw new Error('the reader failed');
      }),
    /the reader failed/,
  );
  // BEGIN would fail inside an open transaction.
  walker.exec('BEGIN IMMEDIATE');
  walker.exec('COMMIT');
});
