/**
 * EntryHasher (src/store/entry-hashes.ts): with a worker thread helping, every key's entry hash is
 * handed out exactly once, the same hashes as hashing each key alone with node:crypto, for each entry
 * hash function; slices the worker cannot hash fail as they would here.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { ENTRY_HASH_NAMES, type EntryHashName } from '../../src/core/replica.js';
import { EntryHasher, type KeySlice, entryHash } from '../../src/store/entry-hashes.js';

/** A slice as the digest reads it: the keys back to back in a buffer of its own, and their lengths. */
function sliceOf(keys: Uint8Array[]): KeySlice {
  const bytes = new Uint8Array(keys.reduce((sum, key) => sum + key.length, 0));
  let at = 0;
  for (const key of keys) {
    bytes.set(key, at);
    at += key.length;
  }
  return { keys: bytes, lengths: keys.map((key) => key.length).join(',') };
}

async function hashAll(slices: Uint8Array[][], helper: boolean, name: EntryHashName): Promise<bigint[]> {
  const hashes: bigint[] = [];
  const hasher = new EntryHasher((slice) => hashes.push(...slice), helper, name);
  try {
    for (const keys of slices) hasher.addSlice(sliceOf(keys), () => sliceOf(keys));
    await hasher.finish();
  } finally {
    hasher.close();
  }
  return hashes.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The first 8 bytes of the digest `name` of each key, as node:crypto gives them. */
const expected = (slices: Uint8Array[][], name: EntryHashName) =>
  slices
    .flat()
    .map((key) => createHash(name).update(key).digest().readBigUInt64BE(0))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

test('with and without the worker: each key hashed exactly once, the same hashes as one by one', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { minLength: 1, maxLength: 40 }), { maxLength: 30 }),
      fc.constantFrom(...ENTRY_HASH_NAMES),
      async (slices, name) => {
        const want = expected(slices, name);
        assert.deepEqual(await hashAll(slices, true, name), want);
        assert.deepEqual(await hashAll(slices, false, name), want);
        assert.deepEqual(
          slices
            .flat()
            .map((key) => entryHash(key, name))
            .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
          want,
        );
      },
    ),
    { numRuns: 25 },
  );
});

test('many slices: the worker and this thread share them, and every hash comes once', async () => {
  const slices = Array.from({ length: 200 }, (_, s) =>
    Array.from({ length: 100 }, (_, k) => new TextEncoder().encode(`t5:slice${s},t${String(k).length}:${k},n`)),
  );
  for (const name of ENTRY_HASH_NAMES) assert.deepEqual(await hashAll(slices, true, name), expected(slices, name));
});

test('a slice whose lengths do not add up fails with the same error, at the worker or here', async () => {
  for (const helper of [true, false]) {
    const hasher = new EntryHasher(() => undefined, helper, 'sha256');
    const broken: KeySlice = { keys: new Uint8Array(10), lengths: '4,4' };
    await assert.rejects(
      (async () => {
        hasher.addSlice({ keys: new Uint8Array(10), lengths: '4,4' }, () => broken);
        await hasher.finish();
      })(),
      /identity keys of 10 bytes, but their lengths add up to 8/,
    );
    hasher.close();
  }
});
