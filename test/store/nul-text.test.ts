/**
 * TEXT that contains U+0000 must come back exactly, whichever SQLite binding runs. node:sqlite (at
 * least up to Node 24.9) cuts such text at the first NUL when it reads it, so its adapter reads
 * around that; scripts/run-tests.mjs runs this file on better-sqlite3 and on node:sqlite.
 *
 * What was stored is always checked with hex() in SQL, which is plain ASCII and so cannot be cut by
 * any binding: the expectations never depend on the reading path under test.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { isSyncError } from '../../src/core/errors.js';
import type { Database, SqlRow } from '../../src/store/sqlite/driver.js';
import type { SqlValue } from '../../src/core/sql-value.js';
import { DRIVER_ENV, openDatabase } from '../../src/store/sqlite/open-database.js';
import { EVERYTHING } from '../../src/core/route.js';
import { verifyReplicas } from '../../src/sync/verify.js';
import { createNotesDb, insertNotes, openReplica, withDb, type Note } from '../support/notes-db.js';
import { direction, syncPair } from '../support/sync-pair.js';
import { tempDir } from '../support/temp.js';

/** NUL at the start, in the middle, at the end, alone, several, and next to non-ASCII text. */
const NUL_TEXTS = [
  '\u0000leading',
  'in the\u0000middle',
  'trailing\u0000',
  '\u0000',
  '\u0000\u0000',
  'several\u0000\u0000 NULs\u0000 in\u0000 one',
  'Привет\u0000мир 🙂\u0000✨ конец',
  '🙂\u0000',
  '\u0000ж\u0000',
] as const;

/** One note per NUL text, with NULs in every TEXT column, plus a plain note and one with a BLOB holding 0 bytes. */
function nulNotes(tag: string): Note[] {
  return [
    ...NUL_TEXTS.map((text, i) => ({
      timestamp: `2025-11-30 22:00:0${i}\u0000${tag}`,
      content: `${tag} ${text}`,
      context: `ctx\u0000${i}`,
      source: i % 2 === 0 ? `src\u0000Ω${i}` : null,
    })),
    { timestamp: `2025-11-30 23:00:00 ${tag}`, content: `${tag} no NUL at all, ёж 🙂`, context: 'plain', source: 'plain' },
    { timestamp: `2025-11-30 23:00:01 ${tag}`, content: new Uint8Array([0, 1, 0, 255, 0]), context: `blob\u0000${tag}`, source: null },
  ];
}

/** A value as text that survives any comparison: blobs by their bytes (Buffer vs Uint8Array differ by binding). */
function comparable(value: SqlValue | undefined): unknown {
  return value instanceof Uint8Array ? `blob:${Buffer.from(value).toString('hex')}` : value;
}

function comparableRow(row: SqlRow | SqlValue[] | undefined): unknown[] | undefined {
  if (row === undefined) return undefined;
  return (Array.isArray(row) ? row : Object.values(row)).map(comparable);
}

/** What SQLite's hex() shows for a value we wrote (NULL shows as ''). */
function hexOf(value: SqlValue | undefined): string {
  if (value === null || value === undefined) return '';
  const bytes = value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value), 'utf8');
  return bytes.toString('hex').toUpperCase();
}

const NOTE_COLUMNS = ['timestamp', 'content', 'context', 'source'] as const;

/** The stored bytes of every note, as hex, from SQL alone: independent of how the binding reads text. */
function storedHex(path: string): string[] {
  return withDb(path, (db) =>
    db
      .prepare(
        `SELECT hex(timestamp) || '|' || hex(content) || '|' || hex(context) || '|' || hex(source) || '|' || typeof(content) AS h FROM resonance_notes`,
      )
      .all()
      .map((row) => String(row.h))
      .sort(),
  );
}

function expectedHex(notes: readonly Note[]): string[] {
  return notes
    .map((note) => [...NOTE_COLUMNS.map((column) => hexOf(note[column])), note.content instanceof Uint8Array ? 'blob' : 'text'].join('|'))
    .sort();
}

function assertDriver(db: Database): void {
  const wanted = process.env[DRIVER_ENV];
  if (wanted) assert.equal(db.driverName, wanted, 'the binding this run is meant to test');
}

test('TEXT with U+0000 is stored whole and read back exactly by get, all, iterate and iterateArrays', (t) => {
  const dir = tempDir(t);
  const path = createNotesDb(dir, 'nul', 'b');
  const notes = nulNotes('read');
  insertNotes(path, notes);
  assert.deepEqual(storedHex(path), expectedHex(notes), 'binding a string with U+0000 stores every byte');

  withDb(path, (db) => {
    assertDriver(db);
    const expected = notes.map((note, i) => [i + 1, ...NOTE_COLUMNS.map((column) => comparable(note[column] ?? null))]);
    const sql = 'SELECT id, timestamp, content, context, source FROM resonance_notes ORDER BY id';
    const statement = db.prepare(sql);
    assert.deepEqual(statement.all().map(comparableRow), expected, 'all()');
    assert.deepEqual([...statement.iterate()].map(comparableRow), expected, 'iterate()');
    assert.deepEqual([...statement.iterateArrays()].map(comparableRow), expected, 'iterateArrays()');
    assert.deepEqual(comparableRow(statement.get()), expected[0], 'get()');
    assert.deepEqual(Object.keys(statement.get() ?? {}), ['id', ...NOTE_COLUMNS], 'object rows keep the column names');

    const byId = db.prepare('SELECT content, context FROM resonance_notes WHERE id = ?');
    notes.forEach((note, i) => {
      assert.deepEqual(comparableRow(byId.get(i + 1)), [comparable(note.content), note.context], `get(${i + 1})`);
    });

    // Leaving an iteration early resets the statement; the next one starts over and is still exact.
    for (const row of statement.iterateArrays()) {
      assert.equal(row[2], notes[0]?.content);
      break;
    }
    for (const row of statement.iterate()) {
      assert.equal(row.timestamp, notes[0]?.timestamp);
      break;
    }
    assert.deepEqual([...statement.iterateArrays()].map(comparableRow), expected, 'iterateArrays() after a break');

    const exact = db.prepare(sql, { exactIntegers: true });
    assert.deepEqual(
      [...exact.iterateArrays()].map(comparableRow),
      expected.map(([id, ...rest]) => [BigInt(id as number), ...rest]),
      'exact integers',
    );
  });
});

test('reading around the cut keeps what a query means: order, parameters, names, types, expressions', (t) => {
  const dir = tempDir(t);
  const path = createNotesDb(dir, 'shapes', 'd');
  insertNotes(path, [
    { timestamp: 'one\u0000', content: 'a\u0000', source: null, resonance_score: 0.5 },
    { timestamp: 9007199254740993n, content: 'b', source: 'x\u0000y', resonance_score: 1.0 },
    { timestamp: 'three', content: new Uint8Array([0]), source: '', resonance_score: null },
    { timestamp: 'four', content: 'd\u0000ж', source: 's', resonance_score: -2.25 },
  ]);
  withDb(path, (db) => {
    assertDriver(db);
    const cases: Array<{ sql: string; params?: SqlValue[]; rows: unknown[][]; exactIntegers?: boolean; arraysOnly?: boolean }> = [
      {
        sql: `SELECT 'a' || char(0) || ? AS x, 1 AS y, 2.5 AS z, x'00ff' AS b, NULL AS n, ? AS p`,
        params: ['b\u0000', '\u0000bound'],
        rows: [['a\u0000b\u0000', 1, 2.5, 'blob:00ff', null, '\u0000bound']],
      },
      {
        sql: 'SELECT content FROM resonance_notes WHERE id > ? ORDER BY id DESC LIMIT 2 OFFSET 1',
        params: [0],
        rows: [['blob:00'], ['b']],
      },
      {
        sql: 'SELECT timestamp, resonance_score, 9007199254740992 + id AS big FROM resonance_notes ORDER BY id',
        exactIntegers: true,
        rows: [
          ['one\u0000', 0.5, 9007199254740993n],
          ['9007199254740993', 1, 9007199254740994n],
          ['three', null, 9007199254740995n],
          ['four', -2.25, 9007199254740996n],
        ],
      },
      // With exact integers a REAL 1.0 and an INTEGER 1 stay apart: nothing converts values on the way out.
      { sql: `SELECT 1.0 AS r, 1 AS i, '1' AS t, char(0) AS z`, exactIntegers: true, rows: [[1, 1n, '1', '\u0000']] },
      {
        sql: `SELECT typeof(timestamp) AS t, typeof(content) AS c, typeof(resonance_score) AS r FROM resonance_notes WHERE id = 3`,
        rows: [['text', 'blob', 'null']],
      },
      { sql: `SELECT 'z' || char(0) AS v UNION ALL SELECT 'a' || char(0) || 'a' ORDER BY 1`, rows: [['a\u0000a'], ['z\u0000']] },
      { sql: `WITH w(v) AS (VALUES (char(0)), ('x'), (char(0, 0x416))) SELECT v FROM w`, rows: [['\u0000'], ['x'], ['\u0000Ж']] },
      { sql: `VALUES ('v' || char(0), 7)`, rows: [['v\u0000', 7]] },
      // Array rows keep both columns of a duplicated name (object rows cannot, in either binding).
      { sql: `SELECT 'a' || char(0) AS v, 'b' || char(0) AS v`, rows: [['a\u0000', 'b\u0000']], arraysOnly: true },
      {
        sql: `SELECT count(*) AS n, max(length(CAST(content AS BLOB))) AS m, sum(instr(source, char(0)) > 0) AS s FROM resonance_notes`,
        rows: [[4, 4, 1]],
      },
      { sql: `SELECT CAST(x'6100ff62' AS TEXT) AS broken`, rows: [['a\u0000\ufffdb']] },
      { sql: `SELECT char(0) || 'semicolon' AS v; `, rows: [['\u0000semicolon']] },
      { sql: `SELECT 'comment' || char(0) AS v -- a trailing comment`, rows: [['comment\u0000']] },
      // JSON text stays text: the escaped NUL inside is just six characters, and json() output is quoted, not embedded.
      {
        sql: `SELECT json_object('k', 'a' || char(0)) AS j, json('"x"') AS s, 'n' || char(0) AS t`,
        rows: [['{"k":"a\\u0000"}', '"x"', 'n\u0000']],
      },
      { sql: `SELECT content FROM resonance_notes WHERE 0`, rows: [] },
    ];
    for (const { sql, params = [], rows, exactIntegers = false, arraysOnly = false } of cases) {
      const statement = db.prepare(sql, { exactIntegers });
      assert.deepEqual([...statement.iterateArrays(...params)].map(comparableRow), rows, `iterateArrays: ${sql}`);
      if (arraysOnly) continue;
      assert.deepEqual(statement.all(...params).map(comparableRow), rows, `all: ${sql}`);
      assert.deepEqual(comparableRow(statement.get(...params)), rows[0], `get: ${sql}`);
    }
    const names = (db.prepare(`PRAGMA table_info(resonance_notes)`).all() as Array<{ name: string }>).map((column) => column.name);
    assert.deepEqual(names, ['id', 'timestamp', 'source', 'content', 'resonance_score'], 'PRAGMA results read as before');
  });
});

test('a UTF-16 database: text with U+0000 is read exactly as well', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'utf16.sqlite3');
  const db = openDatabase(path, { create: true });
  try {
    assertDriver(db);
    db.exec(`PRAGMA encoding = 'UTF-16le'`);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT, b BLOB)');
    assert.equal(db.prepare('PRAGMA encoding').get()?.encoding, 'UTF-16le');
    const insert = db.prepare('INSERT INTO t (x, b) VALUES (?, ?)');
    for (const text of NUL_TEXTS) insert.run(text, new Uint8Array([0, 0x41, 0, 0xd8]));
    insert.run('plain ёж', new Uint8Array([0x41, 0]));
    const expected = [...NUL_TEXTS, 'plain ёж'];
    const rows = [...db.prepare('SELECT x, b FROM t ORDER BY id').iterateArrays()];
    assert.deepEqual(
      rows.map((row) => row[0]),
      expected,
    );
    assert.deepEqual(
      rows.map((row) => comparable(row[1])),
      [...NUL_TEXTS.map(() => 'blob:004100d8'), 'blob:4100'],
    );
    assert.deepEqual(
      db
        .prepare('SELECT x FROM t ORDER BY id')
        .all()
        .map((row) => row.x),
      expected,
    );
  } finally {
    db.close();
  }
});

test('a statement that cannot be read around the cut refuses with a typed error instead of cutting', (t) => {
  const dir = tempDir(t);
  const db = openDatabase(join(dir, 'returning.sqlite3'), { create: true });
  try {
    assertDriver(db);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)');
    // RETURNING cannot be a subquery. Either the binding reads it exactly (better-sqlite3, or a
    // node:sqlite that reads NUL right), or it must refuse: never return 'a'.
    let returned: SqlValue | undefined;
    let refused: unknown;
    try {
      returned = db.prepare('INSERT INTO t (x) VALUES (?) RETURNING x').get('a\u0000b')?.x;
    } catch (error) {
      refused = error;
    }
    if (refused === undefined) assert.equal(returned, 'a\u0000b');
    else assert.ok(isSyncError(refused) && refused.code === 'DB_ERROR', `refused with ${String(refused)}`);
    // A RETURNING that yields no text is fine on every binding.
    assert.equal(Number(db.prepare(`INSERT INTO t (x) VALUES ('y') RETURNING id`).get()?.id), 2);
  } finally {
    db.close();
  }
});

test('sync: notes with U+0000 arrive byte-exact both ways, are recognised as duplicates, and verify repairs them exactly', async (t) => {
  const dir = tempDir(t);
  const a = createNotesDb(dir, 'a', 'b');
  const b = createNotesDb(dir, 'b', 'b');
  const fromA = nulNotes('from a');
  const fromB = nulNotes('from b').slice(0, 3);
  // The same entry written on both nodes: only an exact read finds it in the other database.
  const both: Note = { timestamp: '2025-11-30 22:30:00', content: 'on both\u0000 nodes', context: 'c', source: 'same\u0000' };
  insertNotes(a, [...fromA, both]);
  insertNotes(b, [...fromB, both]);

  const first = await syncPair(a, b);
  assert.equal(direction(first, 'push').received, fromA.length, 'push');
  assert.equal(direction(first, 'pull').received, fromB.length, 'pull');
  assert.equal(direction(first, 'push').duplicates, 1, 'the shared entry is recognised, not stored again cut short');
  assert.equal(direction(first, 'pull').duplicates, 1);

  const everything = expectedHex([...fromA, ...fromB, both]);
  assert.deepEqual(storedHex(a), everything, 'a holds every byte of every note');
  assert.deepEqual(storedHex(b), everything, 'b holds every byte of every note');

  const second = await syncPair(a, b);
  assert.equal(direction(second, 'push').sent, 0, 'nothing is sent again');
  assert.equal(direction(second, 'pull').sent, 0);

  // An entry below every cursor (an explicit low id): only verify sees it, and its repair reads rows by hash.
  const hidden: Note = { id: 0, timestamp: '2020-01-01\u000000:00', content: '\u0000hidden Ж 🙂\u0000', context: 'x\u0000', source: null };
  insertNotes(a, [hidden]);
  const local = openReplica(a, 'a');
  const remote = openReplica(b, 'b');
  try {
    const report = await verifyReplicas(local, remote, { push: EVERYTHING, pull: EVERYTHING, repair: true });
    assert.deepEqual(
      report.directions.map((d) => [d.direction, d.missing, d.repaired]),
      [
        ['push', 1, 1],
        ['pull', 0, 0],
      ],
    );
    assert.equal(report.equalAfterRepair, true);
  } finally {
    await local.close();
    await remote.close();
  }
  assert.deepEqual(storedHex(b), expectedHex([...fromA, ...fromB, both, hidden]), 'the repaired entry is byte-exact');
  assert.equal(
    withDb(b, (db) => db.prepare('SELECT content FROM resonance_notes WHERE timestamp = ?').get(hidden.timestamp)?.content),
    hidden.content,
    'and reads back exactly',
  );
});
