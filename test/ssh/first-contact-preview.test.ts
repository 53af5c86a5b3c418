/**
 * `sync PEER --dry-run` on first contact over ssh, with the agent and agentless: the peer's database
 * was never prepared, and the preview shows what would flow each way while neither file changes, not
 * a byte, and nothing is left beside either (no journal, WAL or lock file). The real sync after it
 * moves what the preview said.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { fingerprint } from '../support/untouched.js';
import { agentCommand, sshdFor, sshUrl, writeConfig } from './fixtures.js';

interface Direction {
  direction: string;
  sent: number;
  received: number;
  duplicates: number;
  rejected: number;
}

const counts = (stdout: string) =>
  (JSON.parse(stdout) as { peers: Array<{ directions: Direction[] }> }).peers[0]?.directions.map((d) => [
    d.direction,
    d.sent,
    d.received,
    d.duplicates,
    d.rejected,
  ]);

async function previewFirstContact(t: TestContext, peerSettings: { remoteCommand?: string; extra?: string }, transport: string) {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  // The users' phone schema: source NOT NULL, so main's NULL-source entry is refused there.
  const phone = createNotesDb(dir, 'phone', 'c');
  insertNotes(main, [
    { timestamp: '2025-11-30 22:00:00', content: 'dev note', context: 'leo_development', source: 'leo' },
    { timestamp: '2025-11-30 22:00:01', content: 'diary', context: 'diary', source: null },
    { timestamp: '2025-11-30 22:00:02', content: 'to the phone', context: 'c', source: 'main' },
  ]);
  insertNotes(phone, [
    { timestamp: '2025-11-30 23:00:00', content: 'from the phone', context: 'c', source: 'termux' },
    { timestamp: '2025-11-30 22:00:00', content: 'dev note', context: 'leo_development', source: 'leo' },
  ]);
  const config = writeConfig(dir, main, 'main_device', [{ name: 'selesta', url: sshUrl(server, phone), ...peerSettings }], {
    syncNote: false,
  });
  await runCli(['init', '--db', main, '--node', 'main_device', '--config', config]);
  const before = [fingerprint(main), fingerprint(phone)];
  assert.ok(!before[1]?.tables.includes('resonance_sync_meta'), 'the phone was never prepared');

  const expected = [
    ['pull', 2, 1, 1, 0],
    ['push', 3, 1, 1, 1],
  ];
  const dry = await runCli(['sync', 'selesta', '--dry-run', '--json', '--config', config], { env: server.env });
  assert.equal(dry.code, 0, dry.stderr);
  const report = JSON.parse(dry.stdout);
  assert.equal(report.peers[0].transport, transport);
  assert.equal(report.peers[0].remote.name, 'selesta', 'previewed under the name it will get');
  assert.deepEqual(counts(dry.stdout), expected);
  assert.deepEqual([fingerprint(main), fingerprint(phone)], before, 'both files byte for byte unchanged, nothing left beside them');

  const text = await runCli(['sync', 'selesta', '--dry-run', '--config', config], { env: server.env });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /pull selesta -> main_device: would add 1/);
  assert.match(text.stdout, /push main_device -> selesta: would add 1/);
  assert.deepEqual([fingerprint(main), fingerprint(phone)], before);

  const real = await runCli(['sync', 'selesta', '--json', '--config', config], { env: server.env });
  assert.equal(real.code, 0, real.stderr);
  assert.deepEqual(counts(real.stdout), expected, 'the real sync moves what the preview said');
}

test('first contact over ssh with the agent: the dry run previews, and writes nothing on either side', async (t) => {
  await previewFirstContact(t, { remoteCommand: agentCommand() }, 'ssh agent');
});

test('first contact over ssh agentless (sqlite3): the dry run previews, and writes nothing on either side', async (t) => {
  await previewFirstContact(t, { extra: 'mode = "sqlite3"' }, 'ssh sqlite3');
});
