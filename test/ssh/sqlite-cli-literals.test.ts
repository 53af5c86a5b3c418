/**
 * The SQL literals of the agentless transport, property-tested against the real SQLite (no sshd
 * needed): any string becomes a TEXT literal with exactly its UTF-8 bytes, and a route with inlined
 * literals selects exactly what the same route with bound parameters selects.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hexWordLiteral, inlineParams, integerLiteral, textLiteral, valueLiteral } from '../../src/transport/sqlite-cli/sql-literals.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { routePredicate, type Route } from '../../src/core/route.js';
import type { SqlValue } from '../../src/core/sql-value.js';

const withMemoryDb = <T>(work: (db: ReturnType<typeof openDatabase>) => T): T => {
  const db = openDatabase(':memory:', { create: true });
  try {
    return work(db);
  } finally {
    db.close();
  }
};

test('a text literal carries any string byte-exact, as TEXT, and nothing else', () => {
  withMemoryDb((db) => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (value) => {
        // Read back as a BLOB: no binding can cut or re-encode it on the way out.
        const row = db.prepare(`SELECT typeof(${textLiteral(value)}) AS t, CAST(${textLiteral(value)} AS BLOB) AS b`).get();
        assert.equal(row?.t, 'text');
        assert.deepEqual(Buffer.from(row?.b as Uint8Array), Buffer.from(value, 'utf8'));
        assert.match(textLiteral(value), /^(''|CAST\(X'[0-9A-F]*' AS TEXT\))$/);
      }),
      { numRuns: 300 },
    );
  });
});

test('routes with inlined literals select what bound parameters select', () => {
  withMemoryDb((db) => {
    db.exec('CREATE TABLE n (context, source)');
    const insert = db.prepare('INSERT INTO n VALUES (?, ?)');
    const words = ['', 'a', "it's", 'x"y', '-- c', '$(touch x)', ';', 'ü*', '[ab]c', null];
    for (const c of words) for (const s of words) insert.run(c, s);
    const pattern = fc.oneof(fc.constantFrom('*', '?', "it'*", '[ab]*', '*;*', '-- *', '$(*)', 'ü?'), fc.string());
    const route = fc.record({
      includeContext: fc.array(pattern, { maxLength: 2 }),
      excludeContext: fc.array(pattern, { maxLength: 2 }),
      includeSource: fc.array(pattern, { maxLength: 2 }),
      excludeSource: fc.array(pattern, { maxLength: 2 }),
    });
    fc.assert(
      fc.property(route, (r: Route) => {
        const predicate = routePredicate(r, '"context"', '"source"');
        const bound = db.prepare(`SELECT rowid AS id FROM n WHERE ${predicate.sql} ORDER BY rowid`).all(...predicate.params);
        const inlined = db.prepare(`SELECT rowid AS id FROM n WHERE ${inlineParams(predicate.sql, predicate.params)} ORDER BY rowid`).all();
        assert.deepEqual(inlined, bound);
      }),
      { numRuns: 200 },
    );
  });
});

test('inlined values arrive exactly: NULL, integers to 2^63, BLOBs (empty too), any text', () => {
  withMemoryDb((db) => {
    const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    const value = fc.oneof(fc.constant(null), int64, fc.integer(), fc.uint8Array(), fc.string({ unit: 'binary' }));
    const hex = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('hex').toUpperCase();
    // What SQLite holds, as plain ASCII that no binding can cut: storage class and bytes. A JS number
    // is inlined as an integer (rowids, flags: the INTEGER columns it goes into would make it one).
    const expected = (v: SqlValue) =>
      v === null
        ? 'null:'
        : typeof v === 'string'
          ? `text:${hex(v)}`
          : typeof v === 'object'
            ? `blob:${hex(v)}`
            : `integer:${hex(String(v))}`;
    fc.assert(
      fc.property(value, (v) => {
        assert.equal(db.prepare(inlineParams(`SELECT typeof(?) || ':' || hex(?) AS v`, [v, v])).get()?.v, expected(v));
      }),
      { numRuns: 300 },
    );
  });
  assert.throws(() => valueLiteral(0.5), { code: 'INTERNAL' });
});

test('integers and hex words are checked before they become SQL', () => {
  assert.equal(integerLiteral(9007199254740993n), '9007199254740993');
  assert.equal(integerLiteral(-5), '-5');
  assert.throws(() => integerLiteral(1.5), { code: 'INTERNAL' });
  assert.throws(() => inlineParams('a = ? AND b = ?', ['x']), { code: 'INTERNAL' });
  assert.equal(hexWordLiteral('0a', 2), `'0a'`);
  assert.throws(() => hexWordLiteral("0'", 2), { code: 'USAGE' });
});
