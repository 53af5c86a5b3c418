/**
 * A sync starts ssh to its first peer before it locks and opens its own database, so that ssh's
 * set-up and the far side's start-up overlap that work (sync/sync-peers.ts). Nothing that locks or
 * writes the peer is sent before this side is ready: when this side cannot sync, the peer is left
 * exactly as it was. And a sync that moves nothing asks the far side for each thing once: the
 * round trips are counted from the trace marks (core/trace.ts), in both modes, through a real sshd.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { acquireSyncLock } from '../../src/store/lock.js';
import { type CliResult, runCli } from '../support/cli.js';
import type { SshServer } from '../support/sshd.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { fingerprint } from '../support/untouched.js';
import { agentCommand, directionCounts, failedWith, type PeerEntry, sshdFor, sshUrl, writeConfig } from './fixtures.js';

const MODES = [
  { mode: 'agent', entry: { remoteCommand: agentCommand(), extra: 'mode = "agent"' } },
  { mode: 'sqlite3', entry: { extra: 'mode = "sqlite3"' } },
] as const;

for (const { mode, entry } of MODES) {
  test(`${mode}: while another sync holds this node's database, the peer's early connection locks, prepares and writes nothing there`, async (t) => {
    const server = await sshdFor(t);
    if (!server) return;
    const dir = tempDir(t);
    const main = createNotesDb(dir, 'main');
    const phone = createNotesDb(dir, 'phone');
    insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'from the phone', context: 'c', source: 'termux' }]);
    const config = writeConfig(dir, main, 'main_device', [{ name: 'phone', url: sshUrl(server, phone), ...entry }], { syncNote: false });
    const before = fingerprint(phone);

    const held = acquireSyncLock(main);
    try {
      const refused = await runCli(['sync', 'phone', '--config', config, '--json'], { env: server.env });
      failedWith(refused, 5, 'SYNC_RUNNING', /another resonance-sync is already syncing/);
    } finally {
      held.release();
    }
    assert.deepEqual(fingerprint(phone), before, 'never prepared, locked or written: no table, no lock file, same bytes');

    // Nothing was left behind on either end: the next sync runs, and finds the peer as it was.
    const next = await runCli(['sync', 'phone', '--config', config, '--json'], { env: server.env });
    assert.equal(next.code, 0, next.stderr);
    assert.deepEqual(
      directionCounts(next.stdout).map((d) => [d.direction, d.received]),
      [
        ['pull', 1],
        ['push', 0],
      ],
    );
  });
}

/** The far side's requests a run made, from its trace marks on stderr. */
function requests(stderr: string, pattern: RegExp): string[] {
  return stderr.split('\n').flatMap((line) => {
    const match = pattern.exec(line);
    return match ? [match[1] as string] : [];
  });
}

/**
 * A sync that moves nothing, traced, after two syncs that moved one entry and read its echo: the peer reached with
 * `peer` (the agent, or agentless) over the test sshd. Undefined where the test was skipped.
 */
async function tracedNoop(t: TestContext, peer: (server: SshServer, phone: string) => PeerEntry): Promise<CliResult | undefined> {
  const server = await sshdFor(t);
  if (!server) return undefined;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'to the phone', context: 'c', source: 'main' }]);
  const config = writeConfig(dir, main, 'main_device', [peer(server, phone)], { syncNote: false });
  const env = { ...server.env, RESONANCE_SYNC_TRACE: '1' };
  assert.equal((await runCli(['sync', 'phone', '--config', config], { env })).code, 0);
  // The second sync's pull reads the entry the first one pushed (an echo, passed over) and moves its
  // cursor past it; from the third on, a sync that finds nothing new opens no feed.
  assert.equal((await runCli(['sync', 'phone', '--config', config], { env })).code, 0);
  const noop = await runCli(['sync', 'phone', '--config', config, '--json'], { env });
  assert.equal(noop.code, 0, noop.stderr);
  assert.deepEqual(
    directionCounts(noop.stdout).map((d) => d.sent),
    [0, 0],
  );
  return noop;
}

test('a sync that moves nothing asks the agent for our cursor once and its info once, with the handshake, and opens no feed', async (t) => {
  const noop = await tracedNoop(t, (server, phone) => ({ name: 'phone', url: sshUrl(server, phone), remoteCommand: agentCommand() }));
  if (!noop) return;
  // INFO goes with the handshake; read once for the sync, it answers findPeerReplacement and starts
  // the engine. The push cursor read before the pull serves the push too (the agent holds its
  // database's sync lock).
  assert.deepEqual(requests(noop.stderr, / agent: request (\w+)$/), ['INFO', 'CURSOR', 'LOG', 'FINISH', 'LOG']);
  // And that cursor is asked right behind INFO, before any answer: the two cost one round trip.
  const marks = requests(noop.stderr, / agent: (request \w+|answer \w+|welcome received)$/);
  assert.deepEqual(marks.slice(0, 5), ['request INFO', 'request CURSOR', 'welcome received', 'answer INFO_OK', 'answer CURSOR_OK']);
  assert.doesNotMatch(noop.stderr, / agent: feed opened$/m, 'nothing new either way: no feed is opened');
});

test('agentless: a sync that moves nothing reads the remote once, while connecting, and opens no feed', async (t) => {
  const noop = await tracedNoop(t, (server, phone) => ({ name: 'phone', url: sshUrl(server, phone), extra: 'mode = "sqlite3"' }));
  if (!noop) return;
  assert.deepEqual(requests(noop.stderr, / sqlite3: request \d+ (.+)$/), [
    'reading its schema',
    'taking the sync lock',
    'reading it',
    'logging the sync',
    'recording the sync',
    'logging the sync',
  ]);
});
