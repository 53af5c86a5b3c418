import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { laterOf, normalizeTimestamp, parseByPattern, parseTimestamp, sqliteNow } from '../../src/core/timestamps.js';

test('every shape the agents write is read to the same instant', () => {
  const instant = '2025-11-30T22:00:00.000Z';
  for (const text of [
    '2025-11-30 22:00:00',
    '2025-11-30T22:00:00',
    '2025-11-30T22:00:00.000000',
    '2025-11-30T22:00:00+00:00',
    '2025-11-30T23:00:00+01:00',
    '2025-11-30T17:00:00-05:00',
    '2025-11-30T22:00:00Z',
    '2025-11-30T22:00',
  ]) {
    assert.equal(normalizeTimestamp(text), instant, text);
  }
  assert.equal(normalizeTimestamp('2025-11-30T22:00:00.123456'), '2025-11-30T22:00:00.123Z');
  assert.equal(normalizeTimestamp(1764540000), '2025-11-30T22:00:00.000Z', 'epoch seconds');
  assert.equal(normalizeTimestamp(1764540000000n), '2025-11-30T22:00:00.000Z', 'epoch milliseconds');
  assert.equal(normalizeTimestamp('1764540000'), '2025-11-30T22:00:00.000Z');
});

test('naive times can be read as local time (datetime.now())', () => {
  const utc = parseTimestamp('2025-06-01T12:00:00', 'utc');
  const local = parseTimestamp('2025-06-01T12:00:00', 'local');
  assert.equal(local, new Date(2025, 5, 1, 12).getTime());
  assert.equal(utc, Date.UTC(2025, 5, 1, 12));
  assert.equal(parseTimestamp('2025-06-01T12:00:00+02:00', 'local'), Date.UTC(2025, 5, 1, 10), 'an explicit zone wins');
});

test('what is not a time is undefined, never a guess', () => {
  for (const value of ['yesterday', '', '2025-13-01 00:00:00', '2025-11-30 25:00:00', null, new Uint8Array([1]), '12']) {
    assert.equal(parseTimestamp(value), undefined, String(value));
  }
});

test('normalized times order like the instants they stand for (unlike the raw text)', () => {
  assert.ok('2025-11-30T01:00' > '2025-11-30 20:00', 'raw text sorts wrong');
  assert.equal(laterOf(normalizeTimestamp('2025-11-30T01:00'), normalizeTimestamp('2025-11-30 20:00')), '2025-11-30T20:00:00.000Z');
  fc.assert(
    fc.property(
      fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }),
      fc.date({ min: new Date('1990-01-01'), max: new Date('2090-01-01'), noInvalidDate: true }),
      (a, b) => {
        const [na, nb] = [
          normalizeTimestamp(a.toISOString()),
          normalizeTimestamp(b.toISOString().replace('T', ' ').replace('Z', '+00:00')),
        ];
        assert.equal(na === undefined || nb === undefined ? 'x' : Math.sign(na.localeCompare(nb)), Math.sign(a.getTime() - b.getTime()));
      },
    ),
  );
});

test('sqliteNow has the CURRENT_TIMESTAMP shape', () => {
  assert.equal(sqliteNow(new Date(Date.UTC(2025, 10, 30, 22, 0, 0, 500))), '2025-11-30 22:00:00');
});

/** Texts at and around the shapes parseTimestamp reads without its pattern. */
const nearCommonShape = fc
  .record({
    year: fc.oneof(fc.integer({ min: 1990, max: 2030 }), fc.integer({ min: 0, max: 9999 })),
    month: fc.integer({ min: 0, max: 13 }),
    day: fc.integer({ min: 0, max: 32 }),
    hour: fc.integer({ min: 0, max: 25 }),
    minute: fc.integer({ min: 0, max: 61 }),
    second: fc.integer({ min: 0, max: 61 }),
    separator: fc.constantFrom(' ', 'T', 't', '_'),
    fraction: fc.constantFrom('', '.', '.5', ',25', '.123', '.999', '.000001', '.123456', '.123456789', '.1234567890', '.12a'),
    zone: fc.constantFrom('', 'Z', 'z', ' UTC', '+00:00', '-00:00', '+0000', '+02:00', '-0130', ' ', '+00:0', 'Z '),
    prefix: fc.constantFrom('', '', '', ' ', 'x'),
  })
  .map((t) => {
    const pad = (value: number, width: number) => String(value).padStart(width, '0');
    return `${t.prefix}${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}${t.separator}${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}${t.fraction}${t.zone}`;
  });

test('the shortcut for the common shapes reads every text exactly as the general pattern does', () => {
  fc.assert(
    fc.property(fc.oneof(nearCommonShape, fc.string()), fc.constantFrom('utc' as const, 'local' as const), (text, naive) => {
      const viaPattern = parseByPattern(text, naive);
      const expected = viaPattern !== undefined && Number.isFinite(viaPattern) && Math.abs(viaPattern) <= 8.64e15 ? viaPattern : undefined;
      assert.equal(parseTimestamp(text, naive), expected, text);
    }),
    { numRuns: 5000 },
  );
});

test('pinned: impossible fields in a common shape read as no time, a month 00 as December before', () => {
  assert.equal(parseTimestamp('2025-11-30 24:00:00'), undefined);
  assert.equal(parseTimestamp('2025-11-00 10:00:00'), undefined);
  assert.equal(parseTimestamp('2025-13-01 10:00:00Z'), undefined);
  assert.equal(normalizeTimestamp('2025-00-10 10:00:00'), '2024-12-10T10:00:00.000Z');
  assert.equal(normalizeTimestamp('2025-02-30T10:00:00.5+00:00'), '2025-03-02T10:00:00.500Z');
  assert.equal(normalizeTimestamp('2025-11-30 10:00:60'), '2025-11-30T10:01:00.000Z');
  assert.equal(normalizeTimestamp('0099-01-01 00:00:00'), '1999-01-01T00:00:00.000Z');
});
