/**
 * A peer with several addresses (LAN, hotspot, tailnet): tried in order with the connect timeout
 * against a real sshd; the first here is a closed port, the second the server. The one that answered
 * is recorded, and `status` (text and --json) shows it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { closedPort } from '../fixtures/unattended-support.js';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, sshdFor, sshUrl } from './fixtures.js';

test('the first address that answers is used, recorded and shown by status; none answering is one skipped run', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, [{ timestamp: '2025-12-01 10:00:00', content: 'from the desktop', context: 'leo_development', source: 'leo' }]);
  const asleep = `ssh://${server.user}@127.0.0.1:${await closedPort()}${phone}`;
  const working = sshUrl(server, phone);
  const config = join(dir, 'config.toml');
  const write = (urls: string[]) =>
    writeFileSync(
      config,
      `[node]\nname = "main_device"\ndb = ${JSON.stringify(main)}\n\n[peers.selesta]\nurl = ${JSON.stringify(urls)}\nremote_command = ${JSON.stringify(agentCommand())}\n`,
    );
  write([asleep, working]);
  const env = { ...server.env, RESONANCE_SYNC_CONNECT_TIMEOUT: '5' };
  const sync = await runCli(['sync', '--config', config], { env });
  assert.equal(sync.code, 0, sync.stderr);
  assert.ok(allRows(phone).some((row) => row.content === 'from the desktop'));

  const status = JSON.parse((await runCli(['status', '--json', '--config', config], { env })).stdout);
  assert.deepEqual(status.peers[0].urls, [asleep, working]);
  assert.equal(status.peers[0].url, asleep);
  assert.equal(status.peers[0].reached.url, working);
  assert.match(status.peers[0].reached.at, /^\d{4}-\d\d-\d\dT/);
  const text = (await runCli(['status', '--config', config], { env })).stdout;
  assert.match(text, new RegExp(`\\n {2}reached at ${working.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(last \\d{4}-`));

  // No address answers: one PEER_UNREACHABLE naming each, logged as skipped.
  write([asleep, `ssh://${server.user}@127.0.0.1:${await closedPort()}${phone}`]);
  const none = await runCli(['sync', '--config', config], { env });
  assert.equal(none.code, 6, none.stderr);
  assert.match(none.stderr, /selesta: none of the 2 addresses of selesta answered: ssh:\/\/.*; ssh:\/\/.*\[PEER_UNREACHABLE\]/);
  assert.match((await runCli(['status', '--config', config], { env })).stdout, /last sync skipped \(peer not reachable\)/);
});
