/**
 * The agentless replica behaves as the local one does, checked side by side on identical files:
 * first contact prepares exactly what store/prepare.ts adds (and a dry run prepares nothing), a
 * batch applies with BatchWriter's per-entry semantics and cursor rules, and the feed delivers the
 * same rows with valid cursors however the downloads are cut. A whole sync is one ssh session.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LocalReplica } from '../../src/transport/local/local-replica.js';
import type { ApplyRequest, FeedBatch, FeedRequest, Replica } from '../../src/core/replica.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { syncReplicas } from '../../src/sync/engine.js';
import { EVERYTHING } from '../../src/core/route.js';
import { allRows, createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { connect, sshdFor, writeExecutable } from './sqlite-cli-support.js';

const schema = (path: string) =>
  withDb(path, (db) => ({
    objects: db
      .prepare(`SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name`)
      .all()
      .map((row) => ({ ...row })),
    columns: db
      .prepare(`SELECT * FROM pragma_table_info('resonance_notes')`)
      .all()
      .map((row) => ({ ...row })),
    meta: db
      .prepare(`SELECT key, CASE key WHEN 'node_id' THEN length(value) ELSE value END AS v FROM resonance_sync_meta ORDER BY key`)
      .all()
      .map((row) => ({ ...row })),
  }));

test('first contact prepares exactly what prepare.ts adds; a dry run prepares nothing', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  for (const variant of ['a', 'c'] as const) {
    const viaCli = createNotesDb(dir, `cli-${variant}`, variant);
    const viaJs = createNotesDb(dir, `js-${variant}`, variant);
    insertNotes(viaCli, [{ timestamp: '2025-11-30 22:00:00', content: 'x', context: 'c', source: 's' }]);
    const before = readFileSync(viaCli);
    // A dry run previews it under a provisional identity (the name it would get, a fresh id never written).
    const preview = await connect(server, viaCli, { prepare: false, nodeName: 'phone' });
    assert.equal((await preview.info()).node.name, 'phone');
    assert.equal(await preview.cursor('someone', 'k'), 0);
    await preview.close();
    assert.ok(readFileSync(viaCli).equals(before), 'a dry run changed nothing');
    assert.equal(existsSync(`${viaCli}-sync.lock`), false, 'nor took the lock');
    await (await connect(server, viaCli, { nodeName: 'phone' })).close();
    await LocalReplica.open(viaJs, { prepareAs: { nodeName: 'phone' } }).close();
    assert.deepEqual(schema(viaCli), schema(viaJs));
    // Second contact: nothing more to do, same identity.
    const again = await connect(server, viaCli, { nodeName: 'other' });
    assert.equal((await again.info()).node.name, 'phone');
    await again.close();
  }
});

test('a batch applies like BatchWriter: duplicates in the table and in the batch, refusals, own entries, cursor rules', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const path = join(dir, 'strict.sqlite3');
  const db = openDatabase(path, { create: true });
  db.exec(
    `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT NOT NULL, source TEXT, score REAL)`,
  );
  db.close();
  insertNotes(path, [{ timestamp: 't0', content: 'there', context: 'c', source: null }]);
  const remote = await connect(server, path, { nodeName: 'phone' });
  // A copy with the same identity, so the two can be compared row for row.
  const copy = join(dir, 'copy.sqlite3');
  copyFileSync(path, copy);
  const local = LocalReplica.open(copy);
  t.after(async () => {
    await remote.close();
    await local.close();
  });
  const remoteId = (await remote.info()).node.id;
  assert.equal(local.node.id, remoteId);
  const columns = ['timestamp', 'content', 'context', 'source', 'score'];
  const row = (origin: string, ...values: ApplyRequest['rows'][number]['values']) => ({ rowid: 0, origin, values });
  const request = (through: number, extra: Partial<ApplyRequest> = {}): ApplyRequest => ({
    sender: { id: 'sender-1', name: 'main' },
    routeKey: 'r1',
    columns,
    rows: [
      row('sender-1', 't0', 'there', 'x', null, null), // already in the table
      row('sender-1', '2025-11-30 22:00:01', 'new', 'a', 's', 0.1), // inserted
      row('sender-1', '2025-11-30 22:00:01', 'new', 'other context', 's', 1), // duplicate within the batch
      row('sender-1', '2025-11-30 22:00:02', 'refused', null, null, null), // NULL context: refused
      row('sender-1', '2025-11-30 22:00:02', 'refused', 'now fine', null, 2.5), // same identity, accepted
      row(remoteId, '2025-11-30 22:00:03', 'mine, lost and back', 'c', 'me', null), // returns as written here
      row('relay-9', '2025-12-01T00:00:00+02:00', 'Synced 3 entries from x', 'sync', 'resonance-sync', null), // a sync note
      row('sender-1', 1764540000n, new Uint8Array([0, 1, 255]), 'b', 9007199254740993n, -0.5), // epoch seconds
    ],
    throughRowid: through,
    rewound: false,
    knownNodes: [
      { id: 'relay-9', name: "relay 'nine'" },
      { id: remoteId, name: 'ignored' },
    ],
    dryRun: false,
    ...extra,
  });
  const both = async (req: ApplyRequest) => [await local.apply(req), await remote.apply(req)] as const;
  const state = (p: string) =>
    withDb(p, (d) => ({
      rows: d
        .prepare(`SELECT rowid, *, typeof(timestamp) AS tt, typeof(score) AS st FROM resonance_notes ORDER BY rowid`, {
          exactIntegers: true,
        })
        .all()
        .map((r) => ({ ...r })),
      cursors: d
        .prepare(`SELECT sender_id, route_key, sender_name, through_rowid FROM resonance_sync_cursors`)
        .all()
        .map((r) => ({ ...r })),
      nodes: d
        .prepare(`SELECT node_id, name FROM resonance_sync_nodes ORDER BY node_id`)
        .all()
        .map((r) => ({ ...r })),
    }));

  const [dryJs, dryCli] = await both(request(10, { dryRun: true }));
  assert.deepEqual(dryCli, dryJs);
  assert.deepEqual(state(path), state(copy));
  const [js, cli] = await both(request(10));
  assert.deepEqual(cli, js);
  assert.deepEqual(
    { ...cli, newestTimestamp: undefined },
    { received: 5, duplicates: 2, rejected: 1, refusals: [{ column: 'context', count: 1 }], syncNotes: 1, newestTimestamp: undefined },
  );
  assert.notEqual(cli.newestTimestamp, undefined);
  assert.deepEqual(state(path), state(copy));
  await both(request(5)); // a lower cursor never moves it back...
  await both(request(-1)); // ...a repair batch moves none...
  assert.deepEqual(
    state(path).cursors.map((c) => c.through_rowid),
    [10],
  );
  await both(request(7, { rewound: true })); // ...and a rewound sender may.
  assert.deepEqual(state(path), state(copy));
  assert.deepEqual(
    state(path).cursors.map((c) => c.through_rowid),
    [7],
  );
  assert.equal(await remote.cursor('sender-1', 'r1'), 7);
  assert.equal(await remote.cursor('sender-1', 'other route'), 0);
});

async function collect(replica: Replica, request: FeedRequest): Promise<FeedBatch[]> {
  const batches: FeedBatch[] = [];
  for await (const batch of replica.readFeed(request)) batches.push(batch);
  return batches;
}

test('the feed: same rows as the local reader, valid cursors however downloads are cut, one session per sync', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const path = createNotesDb(dir, 'phone', 'd');
  insertNotes(
    path,
    Array.from({ length: 700 }, (_, i) => ({
      timestamp: `2025-11-30 ${String(i)}`,
      content: i % 50 === 0 ? 'Ω'.repeat(3000) : `n${i}`,
      source: i % 4 ? `s${i % 3}` : null,
      resonance_score: i / 7,
    })),
  );
  const local = LocalReplica.open(path, { prepareAs: { nodeName: 'phone' } });
  // Some entries came from the receiver (echoes), which the feed must skip.
  const receiverId = '0e0e0e0e-0000-4000-8000-000000000009';
  withDb(path, (d) => d.prepare(`UPDATE resonance_notes SET sync_origin = ? WHERE rowid % 9 = 0`).run(receiverId));
  const log = join(dir, 'ssh.log');
  const ssh = writeExecutable(join(dir, 'ssh-logged'), `echo "$$" >> '${log}'\nexec ssh "$@"`);
  const env = { ...server.env, RESONANCE_SYNC_SSH: `${ssh} -F ${server.sshConfigPath}` };
  const remote = await connect(server, path, { env, download: { maxRows: 37, maxBytes: 20_000, scanRowids: 100 } });
  t.after(async () => {
    await remote.close();
    await local.close();
  });
  const request: FeedRequest = {
    afterRowid: 20,
    receiverId,
    route: { ...EVERYTHING, excludeSource: ['s1'] },
    columns: ['timestamp', 'content', 'source', 'resonance_score', 'missing'],
    maxRows: 25,
    maxBytes: 5000,
  };
  const [mine, theirs] = [await collect(local, request), await collect(remote, request)];
  const rows = (batches: FeedBatch[]) => batches.flatMap((b) => b.rows);
  assert.deepEqual(rows(theirs), rows(mine));
  assert.equal(theirs.at(-1)?.throughRowid, 700);
  let through = request.afterRowid;
  for (const batch of theirs) {
    assert.ok(batch.throughRowid >= through, 'cursors never go back');
    assert.ok(
      batch.rows.every((r) => r.rowid > through && r.rowid <= batch.throughRowid),
      'a batch covers its rows',
    );
    assert.ok(batch.rows.length <= 25);
    through = batch.throughRowid;
  }
  // A full sync both ways (pull 700 entries, push none of them back) on the same session.
  const receiver = LocalReplica.open(createNotesDb(dir, 'main'), { prepareAs: { nodeName: 'main' } });
  try {
    const summary = await syncReplicas(receiver, remote, {
      peerName: 'phone',
      pull: EVERYTHING,
      push: EVERYTHING,
      dryRun: false,
      writeSyncNote: false,
      limits: { maxRows: 100, maxBytes: 1 << 20 },
    });
    assert.equal(summary.directions[0]?.received, 700);
    // Relayed entries (origin receiverId, not the phone) arrived from the phone: they do not go back.
    assert.deepEqual([summary.directions[1]?.sent, summary.directions[1]?.duplicates, summary.directions[1]?.received], [0, 0, 0]);
  } finally {
    await receiver.close();
  }
  assert.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'one ssh session for everything');
  assert.equal(allRows(path).length, 700, 'nothing came back twice');
});
