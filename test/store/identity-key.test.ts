/**
 * The identity key verify hashes (store/digest.ts identityKeySql), byte for byte: both ends build it
 * with the same SQL, so nothing else would notice a change in it, yet a change makes every digest
 * differ from a peer's of the other protocol. Here it is pinned for each type a value may have,
 * and two entries whose fields only shift between columns get different keys.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { identityKeySql } from '../../src/store/digest.js';
import { probeNotesTable } from '../../src/store/schema.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import type { SqlValue } from '../../src/core/sql-value.js';
import { tempDir } from '../support/temp.js';

/** Bytes as text, one character per byte, for readable comparisons. */
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');
/** Expected key bytes: strings as UTF-8, byte arrays as they are. */
const bytesOf = (...parts: Array<string | Uint8Array>) =>
  text(Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : part))));

test('the identity key: timestamp, source, then content without its length; each value typed', (t) => {
  const path = join(tempDir(t), 'keys.sqlite3');
  const db = openDatabase(path, { create: true });
  t.after(() => db.close());
  // Columns without a type keep every value as it was stored.
  db.exec('CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY, timestamp, content, context, source)');
  const rows: Array<[SqlValue, SqlValue, SqlValue, string]> = [
    ['2025-12-01 08:00:00', 'héllo, world', 'agent', bytesOf('t19:2025-12-01 08:00:00,t5:agent,théllo, world')],
    ['2025-12-01 08:00:00', 'no source', null, bytesOf('t19:2025-12-01 08:00:00,n,tno source')],
    [1764576000n, 42n, 'int', bytesOf('i1764576000,t3:int,i42')],
    [1764576000.5, 1 / 3, 'real', bytesOf('r1764576000.5,t4:real,r0.333333333333333')],
    ['t', new Uint8Array([0, 255, 44]), 'blob', bytesOf('t1:t,t4:blob,b', new Uint8Array([0, 255, 44]))],
    ['', '', '', bytesOf('t0:,t0:,t')],
    // The same characters, split differently between the columns: other keys.
    ['a', 'c', 'b,t1:', bytesOf('t1:a,t5:b,t1:,tc')],
    ['a', 't1:c', 'b', bytesOf('t1:a,t1:b,tt1:c')],
  ];
  const insert = db.prepare('INSERT INTO resonance_notes (timestamp, content, source) VALUES (?, ?, ?)');
  for (const [timestamp, content, source] of rows) insert.run(timestamp, content, source);
  const shape = probeNotesTable(db, path);
  const keys = db
    .prepare(`SELECT ${identityKeySql(shape)} AS k FROM resonance_notes ORDER BY id`)
    .all()
    .map((row) => {
      assert.ok(row.k instanceof Uint8Array, 'the key is a BLOB');
      return text(row.k);
    });
  assert.deepEqual(
    keys,
    rows.map((row) => row[3]),
  );
  assert.equal(new Set(keys).size, keys.length);
});
