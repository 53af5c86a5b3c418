/**
 * Hostile values through the agentless transport change nothing: database paths with spaces,
 * quotes, `$(…)`, backticks and `;` work (a newline is refused by the URL parser), route patterns
 * and peer names holding `'`, `"`, `;`, `--` and `$(…)` reach SQL as data only, and so do node names,
 * which a sync refuses unless they are node names (core/node-name.ts). A marker
 * file that any shell or SQL injection would create never appears, and the SQL did what it should.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { formatPeerUrl, parsePeerUrl } from '../../src/core/peer-url.js';
import { syncReplicas } from '../../src/sync/engine.js';
import { EVERYTHING, routeKey, type Route } from '../../src/core/route.js';
import { allRows, createNotesDb, identityCounts, insertNotes, openReplica, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { isSyncError } from '../../src/core/errors.js';
import { TEST_SQLITE3, connect, sshdFor, syncOnce } from './sqlite-cli-support.js';
import { SqliteCliReplica } from '../../src/transport/sqlite-cli/sqlite-cli-replica.js';

const marker = (dir: string) => join(dir, 'pwned');
/** Every trick at once, each aimed at creating `marker`. */
const nasty = (m: string) => `a b'c"d$(touch ${m})e\`touch ${m}\`;f -- g'; ATTACH '${m}' AS x; --`;

test('database paths with spaces, quotes, $(…), backticks and ";" sync normally; a newline is refused', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const peerDir = join(dir, nasty(marker(dir)));
  mkdirSync(peerDir, { recursive: true });
  const local = createNotesDb(dir, 'main');
  const peer = createNotesDb(peerDir, 'phone');
  insertNotes(local, [{ timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'c', source: 'main' }]);
  insertNotes(peer, [{ timestamp: '2025-11-30 22:00:01', content: 'from phone', context: 'c', source: null }]);
  const summary = await syncOnce(await connect(server, peer), local);
  assert.deepEqual(
    summary.directions.map((d) => d.received),
    [1, 1],
  );
  assert.deepEqual(identityCounts(local), identityCounts(peer));
  assert.ok(existsSync(`${peer}-sync.lock`), 'the lock file sits beside the hostile path');
  assert.equal(existsSync(marker(dir)), false);
  assert.throws(() => parsePeerUrl(`ssh://u@h/${dir}/x\ny.sqlite3`), { code: 'PEER_URL_INVALID' });
  assert.throws(() => parsePeerUrl(`ssh://u@h/${encodeURIComponent(`${dir}/x\ny`)}`), { code: 'PEER_URL_INVALID' });
});

test('a home-relative path (ssh://host/~/rel) is resolved against the remote $HOME', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const home = mkdtempSync(join(homedir(), '.resonance-test-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const peer = createNotesDb(home, "it's here");
  insertNotes(peer, [{ timestamp: '2025-11-30 22:00:01', content: 'home', context: 'c', source: 's' }]);
  const local = createNotesDb(tempDir(t), 'main');
  const url = formatPeerUrl({
    kind: 'ssh',
    user: server.user,
    host: server.host,
    port: server.port,
    path: relative(homedir(), peer),
    homeRelative: true,
  });
  assert.match(url, /\/~\//);
  const location = parsePeerUrl(url);
  assert.equal(location.kind, 'ssh');
  if (location.kind !== 'ssh') return;
  const remote = await SqliteCliReplica.connect({
    location,
    sqlite3Command: TEST_SQLITE3,
    nodeName: 'phone',
    prepare: true,
    env: server.env,
  });
  assert.equal((await remote.info()).location, formatPeerUrl({ ...location, path: peer, homeRelative: false }));
  await syncOnce(remote, local);
  assert.deepEqual(
    allRows(local).map((row) => row.content),
    ['home'],
  );
});

test('route patterns, node names and ids with quotes, ";", "--" and $(…) are data, never SQL or shell', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const m = marker(dir);
  const evil = nasty(m);
  const local = createNotesDb(dir, 'main');
  const peer = createNotesDb(dir, 'phone');
  const rows = (who: string) => [
    { timestamp: '2025-11-30 22:00:00', content: `${who} evil`, context: evil, source: evil },
    { timestamp: '2025-11-30 22:00:01', content: `${who} plain`, context: 'plain', source: 'x' },
    { timestamp: '2025-11-30 22:00:02', content: `${who} quote`, context: "it's", source: null },
  ];
  insertNotes(local, rows('main'));
  insertNotes(peer, rows('phone'));
  // GLOB metacharacters escaped, so the pattern matches the hostile context literally.
  const literal = evil.replace(/[*?[]/g, (c) => `[${c}]`);
  const route: Route = {
    ...EVERYTHING,
    includeContext: [literal, `it'*`],
    excludeSource: [`${evil}`, `'; DROP TABLE resonance_notes; --`],
  };
  const localReplica = openReplica(local, 'main');
  t.after(() => localReplica.close());
  const options = { peerName: evil, pull: route, push: route, dryRun: false, writeSyncNote: true };

  // Prepared under that name, the remote keeps it byte for byte; a sync then refuses it (a node name
  // ends up in notes and logs: it must be one), before anything moves.
  const named = await connect(server, peer, { nodeName: evil });
  try {
    const info = await named.info();
    assert.equal(info.node.name, evil, 'the remote node is named exactly that');
    await assert.rejects(
      syncReplicas(localReplica, named, options),
      (error: unknown) => isSyncError(error) && error.code === 'PROTOCOL_ERROR' && /is not a node name/.test(error.message),
    );
  } finally {
    await named.close();
  }
  withDb(peer, (db) => assert.equal(db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_name'`).get()?.value, evil));
  assert.equal(allRows(local).length, 3, 'nothing moved');
  withDb(peer, (db) => db.prepare(`UPDATE resonance_sync_meta SET value = 'phone' WHERE key = 'node_name'`).run());

  const remote = await connect(server, peer);
  try {
    const summary = await syncReplicas(localReplica, remote, options);
    // Only the "it's" entry passes: the hostile one matches the include but its source is excluded.
    assert.deepEqual(
      summary.directions.map((d) => d.received),
      [1, 1],
    );
    // Names and ids a sync never sends any more still reach the remote's SQL as data only.
    const [id, relay] = ['5e5e5e5e-0000-4000-8000-000000000001', '5e5e5e5e-0000-4000-8000-000000000002'];
    await remote.apply({
      sender: { id, name: evil },
      routeKey: evil,
      columns: ['timestamp', 'content'],
      rows: [],
      throughRowid: 1,
      rewound: false,
      knownNodes: [{ id: relay, name: evil }],
      dryRun: false,
    });
  } finally {
    await remote.close();
  }
  const contents = (path: string) => allRows(path).map((row) => row.content);
  assert.deepEqual(contents(peer), ['phone evil', 'phone plain', 'phone quote', 'main quote', 'Synced 1 entry from main']);
  assert.deepEqual(contents(local), ['main evil', 'main plain', 'main quote', 'phone quote', 'Synced 1 entry from phone']);
  withDb(peer, (db) => {
    const cursors = db
      .prepare(`SELECT sender_name, route_key FROM resonance_sync_cursors ORDER BY sender_name`)
      .all()
      .map((row) => ({ ...row }));
    assert.deepEqual(cursors, [
      { sender_name: evil, route_key: evil },
      { sender_name: 'main', route_key: routeKey(route) },
    ]);
    assert.deepEqual(
      db
        .prepare(`SELECT name FROM resonance_sync_nodes ORDER BY name`)
        .all()
        .map((row) => row.name),
      [evil, evil, 'main'],
    );
    assert.equal(db.prepare(`SELECT remote_node FROM sync_tracking`).get()?.remote_node, 'main');
    assert.equal(db.prepare(`SELECT count(*) AS n FROM sqlite_master WHERE name = 'x'`).get()?.n, 0);
  });
  // The pull's tracking row on this side is filed under the hostile peer name, byte for byte.
  withDb(local, (db) => assert.equal(db.prepare(`SELECT remote_node FROM sync_tracking`).get()?.remote_node, evil));
  assert.equal(existsSync(m), false, 'no injection ran');
});
