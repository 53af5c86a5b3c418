/**
 * Failures of the SQLite files on this machine come out as typed database errors naming the file,
 * never as INTERNAL: the node's own database removed mid-sync (how the ssh simulation once failed,
 * its temp folder deleted by a cleanup of /tmp while it ran), a schema changed under an open
 * replica, and the agentless transport's local delta files.
 */
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { emptyConfig, type PeerConfig } from '../../src/config/schema.js';
import { parsePeerUrl } from '../../src/core/peer-url.js';
import { isSyncError } from '../../src/core/errors.js';
import { NODES_TABLE } from '../../src/core/notes-table.js';
import { databaseError, openDatabase } from '../../src/store/sqlite/open-database.js';
import { EVERYTHING } from '../../src/core/route.js';
import { syncPeers } from '../../src/sync/sync-peers.js';
import { Download } from '../../src/transport/sqlite-cli/delta-file.js';
import { createNotesDb, insertNotes, openReplica, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

const MOVED = /was deleted, moved or replaced while .*find what removed it/;

function localPeer(name: string, path: string): PeerConfig {
  return {
    name,
    url: path,
    location: parsePeerUrl(path),
    mode: 'auto',
    remoteCommand: undefined,
    enabled: true,
    push: EVERYTHING,
    pull: EVERYTHING,
  };
}

test('a database deleted under a running sync (a cleanup of its temp folder) fails typed, naming it, never INTERNAL', async (t) => {
  const root = tempDir(t);
  const [here, there] = [join(root, 'here'), join(root, 'there')];
  mkdirSync(here);
  mkdirSync(there);
  const local = createNotesDb(here, 'local');
  const peer = createNotesDb(there, 'peer');
  insertNotes(
    peer,
    Array.from({ length: 100 }, (_, i) => ({
      timestamp: `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`,
      content: `n${i}`,
      context: 'c',
      source: 's',
    })),
  );
  let batches = 0;
  const [outcome] = await syncPeers({
    dbPath: local,
    node: { ...emptyConfig().node, name: 'local', syncNote: false },
    peers: [localPeer('peer', peer)],
    pull: true,
    push: true,
    dryRun: false,
    limits: { maxRows: 10, maxBytes: 1 << 20 },
    // Between two batches of the pull, the folder holding this node's database goes away, open
    // files and all: SQLite then refuses every write with "attempt to write a readonly database".
    onProgress: () => {
      if (++batches === 2) rmSync(here, { recursive: true, force: true });
    },
  });
  assert.ok(batches >= 2, 'the sync got as far as the second batch');
  const error = outcome?.error;
  assert.ok(isSyncError(error), 'the peer failed with a typed error');
  assert.equal(error.code, 'DB_ERROR', error.message);
  assert.ok(error.message.startsWith(local), error.message);
  assert.match(error.message, MOVED);
});

test('a write refused because the file was deleted is told apart from a read-only file', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'gone.sqlite3');
  const db = openDatabase(path, { create: true });
  try {
    db.exec('CREATE TABLE t (x)');
    db.exec('INSERT INTO t VALUES (1)');
    rmSync(path);
    let thrown: unknown;
    try {
      db.exec('INSERT INTO t VALUES (2)');
    } catch (error) {
      thrown = error;
    }
    assert.ok(thrown instanceof Error, 'SQLite refused the write');
    assert.match(thrown.message, /readonly database/);
    const typed = databaseError(thrown, path, 'writing a batch');
    assert.equal(typed.code, 'DB_ERROR');
    assert.match(typed.message, MOVED);
    assert.doesNotMatch(typed.message, /must be writable/);
  } finally {
    db.close();
  }
});

test('a local replica whose bookkeeping tables vanished under it reports typed errors from info() and apply()', async (t) => {
  const dir = tempDir(t);
  const path = createNotesDb(dir, 'node');
  const replica = openReplica(path, 'node');
  try {
    // Another program drops a table while the replica is open: preparing against it now fails.
    withDb(path, (db) => db.exec(`DROP TABLE ${NODES_TABLE}`));
    await assert.rejects(
      replica.info(),
      (error: unknown) => isSyncError(error) && error.code === 'DB_ERROR' && error.message.includes(path),
    );
    const request = {
      sender: { id: 'f'.repeat(32), name: 'other' },
      routeKey: 'all',
      columns: ['timestamp', 'content'],
      rows: [{ rowid: 1, origin: 'f'.repeat(32), values: ['2025-11-30 22:00:00', 'x'] }],
      throughRowid: 1,
      rewound: false,
      knownNodes: [],
      dryRun: false,
    };
    await assert.rejects(
      replica.apply(request),
      (error: unknown) => isSyncError(error) && error.code === 'DB_ERROR' && error.message.includes(path),
    );
  } finally {
    await replica.close();
  }
});

test('a damaged delta file of the agentless transport is a typed error naming it', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'feed-0.sqlite3');
  const db = openDatabase(path, { create: true });
  db.exec('CREATE TABLE unrelated (x)');
  db.close();
  const shape = { kind: 'feed' as const, columns: ['sync_origin', 'c0'], from: 'x.sqlite3 on phone' };
  // Not what was asked for: the remote's doing, refused before anything is read.
  assert.throws(
    () => new Download(path, shape),
    (error: unknown) => isSyncError(error) && error.code === 'PROTOCOL_ERROR' && error.message.includes(path),
  );
  writeFileSync(path, 'not a database at all, just text long enough to be read as a header...........................');
  assert.throws(
    () => new Download(path, shape),
    // Damaged on the way or by the remote: the remote's file, refused as anything else wrong with it.
    (error: unknown) => isSyncError(error) && error.code === 'PROTOCOL_ERROR' && error.message.includes(`damaged delta file (${path}`),
  );
});
