/**
 * A sync started on the phone is recorded on the desktop too (issue 13 part 2): the phone reaches the
 * desktop's database over the real test sshd through the agent (`serve --stdio`), and afterwards the
 * desktop's own `log` and `status` show the run, with what it received and sent, filed under the
 * phone's node name and matched to the desktop's peer of another name through that node name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, directionCounts, sshdFor, sshUrl, writeConfig } from './fixtures.js';

interface LogRow {
  peer: string;
  direction: string;
  status: string;
  received: number;
  sent: number;
}

test('a phone-started sync over the agent shows in the desktop log and status, with its counts', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const desktop = createNotesDb(dir, 'desktop');
  const phone = createNotesDb(dir, 'phone', 'c');
  insertNotes(desktop, [{ timestamp: '2025-11-30 22:00:00', content: 'first from the desktop', context: 'c', source: 'desk' }]);
  insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'first from the phone', context: 'c', source: 'termux' }]);
  // The desktop knows the phone as "phone"; the phone's node calls itself "selesta".
  // No sync notes, so the counts are the notes alone.
  const desktopConfig = writeConfig(tempDir(t), desktop, 'main_device', [{ name: 'phone', url: phone }], { syncNote: false });
  assert.equal((await runCli(['init', '--db', desktop, '--node', 'main_device', '--config', desktopConfig])).code, 0);
  const phoneConfig = writeConfig(
    tempDir(t),
    phone,
    'selesta',
    [{ name: 'desktop', url: sshUrl(server, desktop), remoteCommand: agentCommand() }],
    {
      syncNote: false,
    },
  );
  assert.equal((await runCli(['init', '--db', phone, '--node', 'selesta', '--config', phoneConfig])).code, 0);
  const first = await runCli(['sync', 'phone', '--config', desktopConfig]);
  assert.equal(first.code, 0, first.stderr);

  insertNotes(desktop, [{ timestamp: '2025-12-01 08:00:00', content: 'later from the desktop', context: 'c', source: 'desk' }]);
  insertNotes(phone, [
    { timestamp: '2025-12-01 09:00:00', content: 'later from the phone', context: 'c', source: 'termux' },
    { timestamp: '2025-12-01 09:00:01', content: 'and another', context: 'c', source: 'termux' },
  ]);
  const started = await runCli(['sync', 'desktop', '--json', '--config', phoneConfig], { env: server.env });
  assert.equal(started.code, 0, started.stderr);
  const [phonePull, phonePush] = directionCounts(started.stdout);
  assert.equal(JSON.parse(started.stdout).peers[0].transport, 'ssh agent');
  assert.equal(phonePull?.received, 1, 'the desktop sent its later note');
  assert.equal(phonePush?.received, 2, "the desktop stored the phone's two");

  // The desktop's own history: the phone's pull is its push, the phone's push its pull, filed under selesta.
  const log = await runCli(['log', '--json', '--config', desktopConfig]);
  assert.equal(log.code, 0, log.stderr);
  const rows = JSON.parse(log.stdout) as LogRow[];
  const byPhone = rows.filter((row) => row.peer === 'selesta').map((row) => [row.direction, row.status, row.received, row.sent]);
  assert.deepEqual(byPhone.sort(), [
    ['pull', 'ok', 2, 2],
    ['push', 'ok', 1, 1],
  ]);

  // status matches the configured "phone" by its node name: totals include the phone-started run.
  const status = await runCli(['status', '--json', '--config', desktopConfig]);
  assert.equal(status.code, 0, status.stderr);
  const peer = JSON.parse(status.stdout).peers[0];
  assert.equal(peer.name, 'phone');
  const firstRun = rows.filter((row) => row.peer === 'phone');
  const firstReceived = firstRun.filter((row) => row.direction === 'pull').reduce((sum, row) => sum + row.received, 0);
  const firstSent = firstRun.filter((row) => row.direction === 'push').reduce((sum, row) => sum + row.received, 0);
  assert.deepEqual(peer.totals, { received: firstReceived + 2, sent: firstSent + 1 });
  assert.deepEqual(
    peer.lastRuns.map((run: { direction: string; received: number }) => [run.direction, run.received]),
    [
      ['pull', 2],
      ['push', 1],
    ],
    'the newest runs are the phone-started ones',
  );
  assert.equal(peer.tracking.syncCount, 2, "the desktop's tracking counts both syncs it received in");
});
