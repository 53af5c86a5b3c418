/** store/add-note.ts on the users' table shapes: the dedupe identity, defaults, and the columns a table lacks or needs. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SyncError } from '../../src/core/errors.js';
import { addNote } from '../../src/store/add-note.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

const AT = '2025-12-01 10:00:00';

test('an identical entry is not written twice, also when the source comes from the column DEFAULT', (t) => {
  const path = createNotesDb(tempDir(t), 'b', 'b');
  insertNotes(path, [{ timestamp: AT, content: 'same', context: 'x', source: 'scribe' }]);
  const again = withDb(path, (db) => addNote(db, path, { timestamp: AT, content: 'same', context: 'other' }));
  assert.deepEqual(again, { id: 1, timestamp: AT, added: false }, "source left out is 'scribe' by DEFAULT: the same entry");
  const other = withDb(path, (db) => addNote(db, path, { timestamp: AT, content: 'same', source: 'leo' }));
  assert.deepEqual(other, { id: 2, timestamp: AT, added: true });
  assert.equal(withDb(path, (db) => db.prepare('SELECT count(*) AS n FROM resonance_notes').get())?.n, 2);
});

test('a column the table lacks is refused, and so is leaving out one it needs', (t) => {
  const dir = tempDir(t);
  const noContext = createNotesDb(dir, 'd', 'd');
  assert.throws(
    () => withDb(noContext, (db) => addNote(db, noContext, { timestamp: AT, content: 'c', context: 'x' })),
    (error: unknown) => error instanceof SyncError && error.code === 'USAGE' && /no context column/.test(error.message),
  );
  const needsSource = createNotesDb(dir, 'c', 'c');
  assert.throws(
    () => withDb(needsSource, (db) => addNote(db, needsSource, { timestamp: AT, content: 'c' })),
    (error: unknown) => error instanceof SyncError && error.code === 'USAGE' && /needs a value for source/.test(error.message),
  );
  assert.equal(withDb(needsSource, (db) => addNote(db, needsSource, { timestamp: AT, content: 'c', source: 's' })).added, true);
});
