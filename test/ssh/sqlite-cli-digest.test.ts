/**
 * `verify` over the agentless transport: the remote sqlite3 computes the very digests store/digest.ts
 * computes in JS (SHA3-256 of the identity keys' bytes, bucketed; each bucket's digest the CLI's
 * sha3_query() of its sorted hashes), for Unicode, text with NULs, blobs,
 * NULLs, integers beyond 2^53 and reals; entries fetched by hash are byte-identical; and a repair
 * through the CLI converges. Long reals too: the key prints them with 15 digits, alike in every SQLite version.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { LocalReplica } from '../../src/transport/local/local-replica.js';
import type { DigestResult, EntryHashName } from '../../src/core/replica.js';
import type { SqliteCliReplica } from '../../src/transport/sqlite-cli/sqlite-cli-replica.js';
import { bucketQuery, identityKeySql } from '../../src/store/digest.js';
import { probeNotesTable } from '../../src/store/schema.js';
import type { SqlValue } from '../../src/core/sql-value.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { EVERYTHING, routePredicate, type Route } from '../../src/core/route.js';
import { verifyReplicas } from '../../src/sync/verify.js';
import { syncReplicas } from '../../src/sync/engine.js';
import { createNotesDb, insertNotes, openReplica } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { connect, sshdFor } from './sqlite-cli-support.js';

/** A notes table with untyped identity columns, so every storage class survives into them. */
function mixedDb(dir: string, name: string, values: SqlValue[]): string {
  const path = `${dir}/${name}.sqlite3`;
  const db = openDatabase(path, { create: true });
  try {
    db.exec('CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp, content, context TEXT, source)');
    const insert = db.prepare('INSERT INTO resonance_notes (timestamp, content, context, source) VALUES (?, ?, ?, ?)');
    values.forEach((value, i) => {
      const other = values[(i * 7 + 3) % values.length] ?? null;
      insert.run(
        i % 3 === 0 ? value : `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`,
        i % 3 === 1 ? value : `note ${i}`,
        i % 2 ? 'ctx' : 'other',
        i % 4 === 2 ? other : i % 5 === 0 ? null : `src${i % 3}`,
      );
    });
    insert.run('dup', 'dup', 'ctx', null);
    insert.run('dup', 'dup', 'ctx', null);
  } finally {
    db.close();
  }
  return path;
}

const SAMPLES: SqlValue[] = [
  'ascii',
  'юникод',
  '😀 emoji',
  'e\u0301 combining',
  'a\u0000b',
  '',
  "it's",
  'x'.repeat(5000),
  new Uint8Array([]),
  new Uint8Array([0, 255, 10, 13]),
  new Uint8Array(Buffer.from('blob text')),
  null,
  0,
  -1,
  42,
  9007199254740993n,
  -9223372036854775808n,
  9223372036854775807n,
  0.5,
  -2.25,
  1e300,
  1764540000.5,
  100,
  3.125,
];

async function pair(t: TestContext, values: SqlValue[]) {
  const server = await sshdFor(t);
  if (!server) return undefined;
  const dir = tempDir(t);
  const path = mixedDb(dir, 'phone', Array.from({ length: 600 }, (_, i) => SAMPLES[i % SAMPLES.length] ?? null).concat(values));
  // The same file, through the binding in JS and through sqlite3 over ssh.
  const local = LocalReplica.open(path, { prepareAs: { nodeName: 'phone' } });
  const remote = await connect(server, path);
  t.after(async () => {
    await remote.close();
    await local.close();
  });
  return { dir, path, local, remote };
}

async function assertSameDigests(local: LocalReplica, remote: SqliteCliReplica, route: Route): Promise<void> {
  const hash = 'sha3-256';
  const mine = await local.digest({ route, hash });
  const theirs = await remote.digest({ route, hash });
  assert.ok(mine.buckets.length > 100, 'many buckets in use');
  assert.deepEqual(theirs, mine);
  const buckets = mine.buckets.slice(0, 40).map((b) => b.bucket);
  const [a, b] = [await local.digest({ route, hash, buckets }), await remote.digest({ route, hash, buckets })];
  assert.deepEqual([...b.hashes].sort(), [...a.hashes].sort());
  const columns = ['timestamp', 'content', 'context', 'source'];
  const wanted = a.hashes.slice(0, 60);
  assert.deepEqual(await remote.rowsByHash(route, columns, wanted, hash), await local.rowsByHash(route, columns, wanted, hash));
}

/**
 * digest.ts's algorithm, restated: entry hash = the first 8 bytes of `hash` (SHA3-256 or SHA-256) of
 * the identity key's bytes; bucket = its first byte; a bucket's digest = SHA3-256 of what the CLI's
 * sha3_query() hashes for bucketQuery(bucket): "S<length>:<query text>", then "RB8:" and the 8 bytes
 * of each distinct hash, in order.
 */
function referenceDigests(path: string, route: Route, hash: EntryHashName): DigestResult['buckets'] {
  const db = openDatabase(path, { readOnly: true });
  try {
    const shape = probeNotesTable(db, path);
    const where = routePredicate(route, shape.hasContext ? '"context"' : 'NULL', shape.hasSource ? '"source"' : 'NULL');
    const byBucket = new Map<string, Set<string>>();
    for (const [key] of db
      .prepare(`SELECT ${identityKeySql(shape)} FROM resonance_notes WHERE ${where.sql}`)
      .iterateArrays(...where.params)) {
      assert.ok(key instanceof Uint8Array, 'the identity key is a BLOB');
      const entry = createHash(hash).update(key).digest('hex').slice(0, 16);
      const set = byBucket.get(entry.slice(0, 2)) ?? new Set<string>();
      byBucket.set(entry.slice(0, 2), set.add(entry));
    }
    return [...byBucket]
      .map(([bucket, hashes]) => {
        const query = bucketQuery(Number.parseInt(bucket, 16));
        const digest = createHash('sha3-256').update(`S${Buffer.byteLength(query)}:${query}`);
        for (const entry of [...hashes].sort()) digest.update('RB8:').update(Buffer.from(entry, 'hex'));
        return { bucket, count: hashes.size, digest: digest.digest('hex').slice(0, 32) };
      })
      .sort((a, b) => a.bucket.localeCompare(b.bucket));
  } finally {
    db.close();
  }
}

test("the remote sqlite3 computes digest.ts's digests, whatever binding runs here; here, SHA-256 ones too", async (t) => {
  const s = await pair(t, []);
  if (!s) return;
  for (const route of [EVERYTHING, { ...EVERYTHING, includeSource: ['src*'], excludeContext: ["it'*"] }]) {
    const expected = referenceDigests(s.path, route, 'sha3-256');
    assert.ok(expected.length > 100, 'many buckets in use');
    assert.deepEqual((await s.remote.digest({ route, hash: 'sha3-256' })).buckets, expected);
    // What two ends running Node compare (a local file, an agent): the same, with SHA-256 entry hashes.
    const sha256 = referenceDigests(s.path, route, 'sha256');
    assert.deepEqual((await s.local.digest({ route, hash: 'sha256' })).buckets, sha256);
    assert.notDeepEqual(sha256, expected);
  }
  await assert.rejects(s.remote.digest({ route: EVERYTHING, hash: 'sha256' }), /cannot take entry hashes with sha256/);
});

test('the remote sqlite3 computes exactly the JS digests, entry hashes and repair rows', async (t) => {
  const s = await pair(t, []);
  if (!s) return;
  await assertSameDigests(s.local, s.remote, EVERYTHING);
  await assertSameDigests(s.local, s.remote, { ...EVERYTHING, includeSource: ['src*'], excludeContext: ["it'*"] });
});

// quote()'s text for a REAL changed across SQLite versions: 1/3 is 3.33333333333333314829e-01 in
// 3.40, 3.333333333333333148e-01 in 3.50, 0.33333333333333331 in 3.53; 15 significant digits agree.
test('long reals give the same digests whatever SQLite version quotes them', async (t) => {
  const s = await pair(t, [1 / 3, 0.30000000000000004, 1764540000.123456]);
  if (!s) return;
  const request = { route: EVERYTHING, hash: 'sha3-256' } as const;
  assert.deepEqual(await s.remote.digest(request), await s.local.digest(request));
});

test('verify --repair through the CLI finds entries below the cursors and sends just those', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const localPath = createNotesDb(dir, 'main');
  const peerPath = createNotesDb(dir, 'phone');
  insertNotes(localPath, [{ timestamp: '2025-11-30 22:00:00', content: 'a', context: 'c', source: null }]);
  insertNotes(peerPath, [{ timestamp: '2025-11-30 22:00:01', content: new Uint8Array([1, 2]), context: 'c', source: 's' }]);
  const local = openReplica(localPath, 'main');
  const remote = await connect(server, peerPath);
  try {
    await syncReplicas(local, remote, { peerName: 'phone', pull: EVERYTHING, push: EVERYTHING, dryRun: false, writeSyncNote: false });
    // Below every cursor: an explicit rowid, as a restored or imported row would have.
    insertNotes(peerPath, [{ id: -5, timestamp: '2025-11-29 10:00:00', content: 'hidden', context: 'c', source: null }]);
    const report = await verifyReplicas(local, remote, { push: EVERYTHING, pull: EVERYTHING, repair: true });
    assert.deepEqual(
      report.directions.map((d) => [d.direction, d.missing, d.repaired]),
      [
        ['push', 0, 0],
        ['pull', 1, 1],
      ],
    );
    assert.equal(report.equalAfterRepair, true);
  } finally {
    await remote.close();
    await local.close();
  }
});
