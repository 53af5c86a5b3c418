/**
 * End to end through a real sshd: the CLI syncs `ssh://user@127.0.0.1:PORT/abs/path` both ways over
 * one agent connection, keeping every value's exact type; a phone-like remote (Node 24, node:sqlite,
 * no better-sqlite3) works the same; and a path full of shell syntax is synced and runs nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { shellQuote } from '../../src/transport/ssh/ssh-command.js';
import { runCli } from '../support/cli.js';
import { requireNode24OrSkip } from '../support/node24.js';
import { allRows, createNotesDb, identityCounts, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, directionCounts, sshdFor, sshUrl, writeConfig } from './fixtures.js';

test('sync ssh://user@127.0.0.1:PORT/abs/path both ways; exact values; the second run moves nothing', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main', 'd');
  const phone = createNotesDb(dir, 'phone', 'd');
  insertNotes(main, [
    { timestamp: 9007199254740993n, content: 'epoch as a huge integer', source: 'x', resonance_score: 1.0 },
    { timestamp: '2025-11-30 22:00:00', content: new Uint8Array([0, 255, 10, 13]), source: 'blob', resonance_score: -0 },
    { timestamp: '2025-11-30 22:00:01', content: `ж🙂\u0000 ${'long '.repeat(300_000)}`, source: null, resonance_score: Infinity },
  ]);
  insertNotes(phone, [{ timestamp: '2025-11-30T23:00:00+03:00', content: 'мама', source: 'telegram', resonance_score: 0.5 }]);
  // No sync notes, so that "nothing new" really means zero entries either way.
  const config = writeConfig(dir, main, 'main_device', [], { syncNote: false });
  const args = ['sync', sshUrl(server, phone), '--config', config, '--remote-command', agentCommand(), '--json'];

  const first = await runCli(args, { env: server.env });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout).peers[0].transport, 'ssh agent');
  assert.deepEqual(directionCounts(first.stdout), [
    { direction: 'pull', sent: 1, received: 1, duplicates: 0 },
    { direction: 'push', sent: 3, received: 3, duplicates: 0 },
  ]);
  const second = await runCli(args, { env: server.env });
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(
    directionCounts(second.stdout).map((d) => [d.sent, d.received]),
    [
      [0, 0],
      [0, 0],
    ],
  );

  assert.deepEqual(identityCounts(phone), identityCounts(main));
  const sent = allRows(main).slice(0, 3);
  const arrived = allRows(phone).slice(1);
  for (const column of ['timestamp', 'content', 'source', 'resonance_score', 't_type', 'c_type']) {
    assert.deepEqual(
      arrived.map((row) => row[column]),
      sent.map((row) => row[column]),
      column,
    );
  }
  const types = withDb(phone, (db) => db.prepare(`SELECT typeof(resonance_score) AS t FROM resonance_notes WHERE source = 'x'`).get());
  assert.equal(types?.t, 'real', '1.0 stays REAL');
  const remoteName = withDb(phone, (db) => db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_name'`).get());
  assert.equal(remoteName?.value, 'phone', 'an ad-hoc remote is named after its file on first contact');
});

test('a phone-like remote: Node 24 with node:sqlite, configured as a peer with remote_command', async (t) => {
  const server = await sshdFor(t);
  const node24 = requireNode24OrSkip(t);
  if (!server || !node24) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone', 'c');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'to the phone', context: 'c', source: 'main' }]);
  insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'from the phone', context: 'c', source: 'termux' }]);
  const marker = join(dir, 'remote-node-version');
  // Trusted user text, like on a real phone; the prefix records which Node actually ran.
  const remoteCommand = `${shellQuote(node24)} -p process.version > ${shellQuote(marker)} && ${agentCommand(node24, 'env RESONANCE_SYNC_SQLITE=node:sqlite ')}`;
  const config = writeConfig(dir, main, 'main_device', [{ name: 'phone', url: sshUrl(server, phone), remoteCommand }]);

  const result = await runCli(['sync', 'phone', '--config', config, '--json'], { env: server.env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(readFileSync(marker, 'utf8').trim(), 'v24.9.0');
  assert.deepEqual(
    directionCounts(result.stdout).map((d) => [d.direction, d.received]),
    [
      ['pull', 1],
      ['push', 2],
    ],
    "one note each way, plus the pull's sync note",
  );
  const note = withDb(phone, (db) =>
    db.prepare(`SELECT content FROM resonance_notes WHERE context = 'sync' AND sync_origin IS NULL`).get(),
  );
  assert.equal(note?.content, 'Synced 1 entry from main_device', 'the phone wrote its own sync note, filed under our node name');
  const tracking = withDb(phone, (db) =>
    db
      .prepare(`SELECT remote_node, last_sync_success FROM sync_tracking`)
      .all()
      .map((r) => ({ ...r })),
  );
  assert.deepEqual(tracking, [{ remote_node: 'main_device', last_sync_success: 1 }]);
});

test('a remote path full of shell syntax is synced as a plain path and runs nothing', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const markers = [1, 2, 3, 4].map((i) => join(dir, `pwned${i}`));
  const hostile = join(
    dir,
    `it's "quoted" $(touch ${markers[0]}) \`touch ${markers[1]}\` ; touch ${markers[2]} & |<>*?!# $HOME ~ ${'\\'}n && touch ${markers[3]}`,
  );
  mkdirSync(hostile, { recursive: true });
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(hostile, 'phone');
  insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'safe', context: 'c', source: 's' }]);
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'also safe', context: 'c', source: 's' }]);

  const result = await runCli(['sync', sshUrl(server, phone), '--db', main, '--remote-command', agentCommand(), '--json'], {
    env: server.env,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    directionCounts(result.stdout).map((d) => d.received),
    [1, 2],
  );
  assert.equal(allRows(phone).length, 4, "its own note, both of main's (one is a sync note), and its own sync note");
  for (const marker of markers) assert.equal(existsSync(marker), false, `${marker} must not exist: nothing in the path may run`);
});
