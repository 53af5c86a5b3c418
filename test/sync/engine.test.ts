import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { test } from 'node:test';
import { isSyncError } from '../../src/core/errors.js';
import { allRows, createNotesDb, identityCounts, insertNotes, withDb } from '../support/notes-db.js';
import { direction, syncPair } from '../support/sync-pair.js';
import { tempDir } from '../support/temp.js';

test('two-way sync moves only what is new, once, and keeps every field byte-identical', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main', 'b');
  const phone = createNotesDb(dir, 'phone', 'b');
  insertNotes(main, [
    { timestamp: '2025-11-30 22:00:00', content: 'main one', context: 'leo_development', source: 'scribe' },
    { timestamp: '2025-11-30T22:00:00.123456', content: 'main two', context: 'field4', source: null },
  ]);
  insertNotes(phone, [{ timestamp: '2025-11-30T23:00:00+03:00', content: 'phone one ✨ привет', context: 'maternal', source: 'telegram' }]);

  const first = await syncPair(main, phone);
  assert.equal(direction(first, 'pull').received, 1);
  assert.equal(direction(first, 'push').received, 2);
  assert.equal(direction(first, 'push').duplicates, 0);

  const second = await syncPair(main, phone);
  assert.equal(direction(second, 'pull').sent, 0, 'nothing new: nothing read');
  assert.equal(direction(second, 'push').sent, 0);

  assert.deepEqual(identityCounts(main), identityCounts(phone));
  const phoneRows = allRows(phone);
  const fromMain = phoneRows.find((row) => row.content === 'main two');
  assert.equal(fromMain?.timestamp, '2025-11-30T22:00:00.123456', 'timestamp stored exactly as written');
  assert.equal(fromMain?.source, null, 'NULL source stays NULL');
  assert.equal(fromMain?.context, 'field4');
});

test('origin is recorded on arrival and kept across hops; nobody gets its own entries back', async (t) => {
  const dir = tempDir(t);
  const phone = createNotesDb(dir, 'phone');
  const main = createNotesDb(dir, 'main');
  const laptop = createNotesDb(dir, 'laptop');
  insertNotes(phone, [{ timestamp: '2025-01-01 00:00:00', content: 'from the phone', context: 'x', source: 's' }]);
  await syncPair(main, phone);
  await syncPair(laptop, main);
  const back = await syncPair(main, phone);
  assert.equal(direction(back, 'push').sent, 0, 'the phone entry is not echoed back to the phone');

  const origin = (path: string) =>
    withDb(path, (db) => db.prepare(`SELECT origin_name, origin_id FROM resonance_notes_origin WHERE content = 'from the phone'`).get());
  const phoneId = withDb(phone, (db) => db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_id'`).get()?.value);
  assert.equal(origin(laptop)?.origin_name, 'phone');
  assert.equal(origin(laptop)?.origin_id, phoneId);
  assert.equal(origin(main)?.origin_name, 'phone');
  assert.equal(origin(phone)?.origin_name, 'phone');
  assert.equal(allRows(phone).length, 1);
});

test('an entry written on both nodes, and NULL sources, are never duplicated', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  const same = { timestamp: '2025-11-30 22:00:00', content: 'same', context: 'c', source: null };
  insertNotes(a, [same, { ...same, content: 'only a' }]);
  insertNotes(b, [same]);
  const summary = await syncPair(a, b);
  assert.equal(direction(summary, 'pull').duplicates, 1);
  assert.equal(direction(summary, 'push').duplicates, 1);
  assert.equal(direction(summary, 'push').received, 1);
  assert.equal(allRows(a).length, 2);
  assert.equal(allRows(b).length, 2);
});

test('duplicates already in a database are kept and do not break sync', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  const dup = { timestamp: '2025-11-30 22:00:00', content: 'twice', context: 'c', source: 'x' };
  insertNotes(a, [dup, dup, { ...dup, source: null }, { ...dup, source: null }]);
  await syncPair(a, b);
  assert.equal(allRows(a).length, 4, 'nothing deleted');
  assert.equal(allRows(b).length, 2, 'one copy of each identity arrives');
});

test('same-second, out-of-order and skewed timestamps all travel (the cursor is the rowid, not time)', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  insertNotes(a, [{ timestamp: '2025-11-30 22:00:00', content: 'first', context: 'c', source: 's' }]);
  await syncPair(b, a);
  insertNotes(a, [
    { timestamp: '2025-11-30 22:00:00', content: 'same second, later', context: 'c', source: 's' },
    { timestamp: '2019-01-01T00:00:00', content: 'clock far behind', context: 'c', source: 's' },
    { timestamp: '2025-11-30T01:00', content: 'sorts wrong as text', context: 'c', source: 's' },
  ]);
  const summary = await syncPair(b, a);
  assert.equal(direction(summary, 'pull').received, 3);
});

test('values keep their SQLite types: integers beyond 2^53, reals, blobs, 10 MB notes, any Unicode', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a', 'd');
  const b = createNotesDb(dir, 'b', 'd');
  const big = 'ж'.repeat(5 * 1024 * 1024) + '🙂\u0000tail';
  insertNotes(a, [
    { timestamp: 9007199254740993n, content: 'epoch as huge integer', source: 'x', resonance_score: 1.0 },
    { timestamp: '2025-11-30 22:00:00', content: new Uint8Array([0, 255, 10, 13]), source: 'blob', resonance_score: 0.25 },
    { timestamp: '2025-11-30 22:00:01', content: big, source: 'big', resonance_score: null },
  ]);
  await syncPair(b, a);
  const before = allRows(a);
  const after = allRows(b);
  assert.equal(after.length, 3);
  for (let i = 0; i < 3; i++) {
    for (const column of ['timestamp', 'content', 'source', 'resonance_score', 't_type', 'c_type']) {
      assert.deepEqual(after[i]?.[column], before[i]?.[column], `row ${i} column ${column}`);
    }
  }
  const score = withDb(b, (db) => db.prepare(`SELECT typeof(resonance_score) AS t FROM resonance_notes WHERE source = 'x'`).get());
  assert.equal(score?.t, 'real', '1.0 stays a REAL');
});

test('schema variants: a gains a source column; extra columns travel only where both sides have them', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'va', 'a');
  const d = createNotesDb(dir, 'vd', 'd');
  const d2 = createNotesDb(dir, 'vd2', 'd');
  insertNotes(d, [{ timestamp: '2025-11-30 22:00:00', content: 'scored', source: 'agent', resonance_score: 0.9 }]);
  insertNotes(a, [{ timestamp: '2025-11-30 22:00:00', content: 'plain', context: 'ctx' }]);
  await syncPair(a, d);
  await syncPair(d2, d);
  const inA = allRows(a).find((row) => row.content === 'scored');
  assert.equal(inA?.source, 'agent', 'source kept on a node that had no source column');
  const inD2 = allRows(d2).find((row) => row.content === 'scored');
  assert.equal(inD2?.resonance_score, 0.9);
  const plainInD2 = allRows(d2).find((row) => row.content === 'plain');
  assert.equal(plainInD2?.source, null);
});

test('a crash between batches loses nothing and duplicates nothing; the next run resumes', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  insertNotes(
    a,
    Array.from({ length: 250 }, (_, i) => ({
      timestamp: `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`,
      content: `n${i}`,
      context: 'c',
      source: 's',
    })),
  );
  const controller = new AbortController();
  let batches = 0;
  await assert.rejects(
    syncPair(b, a, {
      push: undefined,
      limits: { maxRows: 20, maxBytes: 1 << 20 },
      signal: controller.signal,
      onProgress: () => {
        if (++batches === 4) controller.abort();
      },
    }),
  );
  assert.equal(allRows(b).length, 80, 'exactly the committed batches are there');
  const resumed = await syncPair(b, a, { push: undefined, limits: { maxRows: 20, maxBytes: 1 << 20 } });
  assert.equal(direction(resumed, 'pull').sent, 170, 'resumes after the last committed batch');
  assert.equal(direction(resumed, 'pull').duplicates, 0);
  assert.equal(allRows(b).length, 250);
  const failed = withDb(b, (db) => db.prepare(`SELECT status FROM sync_log ORDER BY id`).all());
  assert.deepEqual(
    failed.map((row) => row.status),
    ['failed', 'ok'],
  );
});

test('routes filter each direction, and a changed route re-reads that direction', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, [
    { timestamp: '2025-11-30 22:00:00', content: 'dev', context: 'leo_development', source: 's' },
    { timestamp: '2025-11-30 22:00:01', content: 'private', context: 'diary', source: 's' },
    { timestamp: '2025-11-30 22:00:02', content: 'no context', context: null, source: 's' },
  ]);
  const narrow = { includeContext: ['leo_*'], excludeContext: [], includeSource: [], excludeSource: [] };
  const first = await syncPair(main, phone, { pull: undefined, push: narrow });
  assert.equal(direction(first, 'push').received, 1);
  const wider = { ...narrow, includeContext: ['leo_*', 'diary'] };
  const second = await syncPair(main, phone, { pull: undefined, push: wider });
  assert.equal(direction(second, 'push').sent, 2, 're-read from the start under the new route');
  assert.equal(direction(second, 'push').received, 1);
  assert.equal(direction(second, 'push').duplicates, 1);
  const excluding = { includeContext: [], excludeContext: ['diary'], includeSource: [], excludeSource: ['nope'] };
  const third = await syncPair(main, phone, { pull: undefined, push: excluding });
  assert.equal(direction(third, 'push').received, 1, 'NULL context passes an exclude-only route');
});

test('dry run reports both directions and writes nothing', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  insertNotes(a, [{ timestamp: '1', content: 'x', context: 'c', source: 's' }]);
  insertNotes(b, [{ timestamp: '2', content: 'y', context: 'c', source: 's' }]);
  await syncPair(a, b, { pull: undefined, push: undefined }); // prepare both
  const summary = await syncPair(a, b, { dryRun: true });
  assert.equal(direction(summary, 'pull').received, 1);
  assert.equal(direction(summary, 'push').received, 1);
  assert.equal(allRows(a).length, 1);
  assert.equal(allRows(b).length, 1);
  const cursors = withDb(a, (db) => db.prepare(`SELECT count(*) AS n FROM resonance_sync_cursors`).get());
  assert.equal(Number(cursors?.n), 0);
});

test('the sync note is written on the receiver and does not ping-pong', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  insertNotes(b, [{ timestamp: '2025-11-30T23:00:00+01:00', content: 'x', context: 'c', source: 's' }]);
  await syncPair(a, b, { writeSyncNote: true });
  const note = withDb(a, (db) => db.prepare(`SELECT content, context, source FROM resonance_notes WHERE context = 'sync'`).all());
  assert.deepEqual(
    note.map((row) => ({ ...row })),
    [{ content: 'Synced 1 entry from b', context: 'sync', source: 'resonance-sync' }],
  );
  await syncPair(a, b, { writeSyncNote: true });
  await syncPair(a, b, { writeSyncNote: true });
  const notes = (path: string) =>
    withDb(path, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'sync'`).get()?.n));
  assert.equal(notes(a), 1);
  assert.equal(notes(b), 1, "a's note reached b but caused no new note");
  const tracking = withDb(a, (db) => db.prepare(`SELECT * FROM sync_tracking`).all());
  assert.equal(tracking[0]?.remote_node, 'b');
  assert.equal(tracking[0]?.last_sync_timestamp, '2025-11-30T22:00:00.000Z');
  assert.equal(Number(tracking[0]?.sync_count), 3);
});

test('a restored (older) copy of the sender is detected and re-read without duplicates', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  insertNotes(b, [{ timestamp: '1', content: 'old', context: 'c', source: 's' }]);
  await syncPair(a, b, { push: undefined });
  copyFileSync(b, `${dir}/b-backup`);
  insertNotes(
    b,
    [1, 2, 3].map((i) => ({ timestamp: String(i + 1), content: `later ${i}`, context: 'c', source: 's' })),
  );
  await syncPair(a, b, { push: undefined });
  copyFileSync(`${dir}/b-backup`, b);
  insertNotes(b, [{ timestamp: '9', content: 'after restore', context: 'c', source: 's' }]);
  const summary = await syncPair(a, b, { push: undefined });
  assert.equal(direction(summary, 'pull').rewound, true);
  assert.equal(direction(summary, 'pull').received, 1);
  assert.equal(allRows(a).length, 5);
});

test('a peer that is the same database, or a copy with the same identity, is refused', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  await syncPair(a, createNotesDb(dir, 'b'));
  await assert.rejects(syncPair(a, a), (error) => isSyncError(error) && error.code === 'SAME_DATABASE');
  copyFileSync(a, `${dir}/copy.sqlite3`);
  await assert.rejects(syncPair(a, `${dir}/copy.sqlite3`), (error) => isSyncError(error) && error.code === 'NODE_ID_CONFLICT');
});

test("an entry the receiver's schema refuses (NULL source into NOT NULL) is reported, not a blocker", async (t) => {
  const dir = tempDir(t);
  const b = createNotesDb(dir, 'b', 'b');
  const c = createNotesDb(dir, 'c', 'c');
  insertNotes(b, [
    { timestamp: '2025-11-30 22:00:00', content: 'no source', context: 'x', source: null },
    { timestamp: '2025-11-30 22:00:01', content: 'with source', context: 'x', source: 'agent' },
  ]);
  const summary = await syncPair(c, b, { push: undefined });
  assert.equal(direction(summary, 'pull').received, 1);
  assert.equal(direction(summary, 'pull').rejected, 1);
  const log = withDb(c, (db) => db.prepare(`SELECT status, message FROM sync_log`).get());
  assert.equal(log?.status, 'ok');
  assert.match(String(log?.message), /1 entries refused/);
  const again = await syncPair(c, b, { push: undefined });
  assert.equal(direction(again, 'pull').sent, 0, 'the cursor moved past it');
});

test('a peer database rotated (replaced by a fresh file) gets everything again, and nothing is duplicated here', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  insertNotes(
    a,
    [1, 2, 3].map((i) => ({ timestamp: `2025-11-30 22:00:0${i}`, content: `a${i}`, context: 'c', source: 's' })),
  );
  insertNotes(b, [{ timestamp: '2025-11-30 23:00:00', content: 'old b', context: 'c', source: 's' }]);
  await syncPair(a, b);
  const { rmSync } = await import('node:fs');
  rmSync(b);
  createNotesDb(dir, 'b');
  insertNotes(b, [{ timestamp: '2025-12-01 00:00:00', content: 'fresh b', context: 'c', source: 's' }]);
  const summary = await syncPair(a, b);
  assert.equal(direction(summary, 'pull').received, 1, 'only the fresh entry is new here');
  assert.equal(direction(summary, 'push').received, 4, 'the fresh file gets all it lacks: 3 from a and the old b entry');
  assert.equal(allRows(a).length, 5);
  assert.equal(allRows(b).length, 5);
});

test('relay: in a star, a leaf sends back none of what the hub relayed to it', async (t) => {
  const dir = tempDir(t);
  const hub = createNotesDb(dir, 'hub');
  const a = createNotesDb(dir, 'a');
  const b = createNotesDb(dir, 'b');
  const note = (i: number) => ({ timestamp: `2025-01-01 00:00:0${i}`, content: `from a ${i}`, context: 'c', source: i % 2 ? null : 's' });
  insertNotes(
    a,
    Array.from({ length: 5 }, (_, i) => note(i)),
  );
  assert.equal(direction(await syncPair(hub, a), 'pull').received, 5);
  assert.equal(direction(await syncPair(hub, b), 'push').received, 5);
  const again = await syncPair(hub, b);
  assert.equal(direction(again, 'pull').sent, 0, "b sends back none of a's entries");
  assert.equal(direction(again, 'pull').duplicates, 0);
  const marks = withDb(b, (db) =>
    db
      .prepare('SELECT first_rowid, last_rowid, via FROM resonance_sync_arrivals')
      .all()
      .map((row) => ({ ...row })),
  );
  const hubId = withDb(hub, (db) => db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_id'`).get()?.value);
  assert.deepEqual(marks, [{ first_rowid: 1, last_rowid: 5, via: hubId }], "b's one batch, marked as from the hub");
});
