import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { closedPort, logRows, startCli, waitFor } from '../fixtures/unattended-support.js';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

// No config files: the developer's ~/.ssh/config must not change what "unreachable" means here.
const SSH_ENV = { RESONANCE_SYNC_SSH: 'ssh -F none', RESONANCE_SYNC_CONNECT_TIMEOUT: '5' };

async function setUp(dir: string) {
  const main = createNotesDb(dir, 'main');
  const laptop = createNotesDb(dir, 'laptop');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'c', source: 's' }]);
  const config = join(dir, 'config.toml');
  const port = await closedPort();
  assert.equal((await runCli(['init', '--db', main, '--node', 'main_device', '--config', config])).code, 0);
  // The phone is asleep: nothing listens where its sshd would be.
  assert.equal((await runCli(['peer', 'add', 'phone', `ssh://127.0.0.1:${port}/~/resonance.sqlite3`, '--config', config])).code, 0);
  assert.equal((await runCli(['peer', 'add', 'laptop', laptop, '--config', config])).code, 0);
  return { main, laptop, config };
}

test('an unreachable peer is a logged skip with its own exit code; the other peers still sync', async (t) => {
  const dir = tempDir(t);
  const { main, laptop, config } = await setUp(dir);

  const both = await runCli(['sync', '--config', config], { env: SSH_ENV });
  assert.notEqual(both.code, 0);
  assert.notEqual(both.code, 70, 'not a crash');
  assert.match(both.stdout, /^phone: failed \(PEER_UNREACHABLE\)$/m);
  assert.match(
    both.stderr,
    /^resonance-sync: phone: 127\.0\.0\.1:\d+ is unreachable \(.*Connection refused\); skipped \[PEER_UNREACHABLE\]$/m,
  );
  assert.ok(
    allRows(laptop).some((row) => row.content === 'from main'),
    'the laptop synced',
  );
  const skipped = logRows(main).filter((row) => row.peer === 'phone');
  assert.deepEqual(
    skipped.map((row) => [row.direction, row.status, row.errorCode]),
    [['connect', 'skipped', 'PEER_UNREACHABLE']],
  );

  const only = await runCli(['sync', 'phone', '--config', config], { env: SSH_ENV });
  assert.equal(only.code, 6, only.stderr);

  const status = await runCli(['status', '--config', config]);
  assert.match(status.stdout, /peer phone .*\n.*\n {2}last connect: skipped at .* — 127\.0\.0\.1:\d+ is unreachable/);
  const log = await runCli(['log', '--peer', 'phone', '--config', config]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /phone {2}connect {2}skipped +- +- +- +\d+\.\ds {2}127\.0\.0\.1:\d+ is unreachable .*\[PEER_UNREACHABLE\]/);
});

test('the daemon treats an unreachable peer as a failure to retry soon, while the reachable ones sync', async (t) => {
  const dir = tempDir(t);
  const { main, laptop, config } = await setUp(dir);
  const daemon = startCli(t, ['daemon', '--every', '1h', '--retry', '200ms', '--config', config], SSH_ENV);
  await waitFor('three runs', () => logRows(main).filter((row) => row.peer === 'phone').length >= 3);
  daemon.child.kill('SIGTERM');
  assert.equal((await daemon.exited).code, 0);
  const phone = logRows(main).filter((row) => row.peer === 'phone');
  assert.ok(phone.every((row) => row.status === 'skipped' && row.errorCode === 'PEER_UNREACHABLE'));
  assert.ok(logRows(main).some((row) => row.peer === 'laptop' && row.status === 'ok'));
  assert.ok(allRows(laptop).some((row) => row.content === 'from main'));
  assert.match(daemon.output().stderr, /run 1 failed \(1 of 2 peers failed\); next run in 0\.\d+s/);
});
