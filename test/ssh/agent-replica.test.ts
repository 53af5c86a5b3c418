/**
 * AgentReplica against a real agent process (spawned through a stand-in ssh that runs the remote
 * command locally, so no sshd login is paid): feeds can be abandoned and resumed, requests work
 * while a feed is open, remote errors keep their code, and closing leaves no process behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parsePeerUrl } from '../../src/core/peer-url.js';
import { AgentReplica } from '../../src/transport/agent/agent-replica.js';
import type { FeedRequest } from '../../src/core/replica.js';
import { EVERYTHING } from '../../src/core/route.js';
import type { SshLocation } from '../../src/transport/ssh/ssh-command.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, localSsh, writeScript } from './fixtures.js';

async function connect(t: TestContext, db: string, remoteCommand = agentCommand(), prepare = true): Promise<AgentReplica> {
  const dir = tempDir(t);
  const replica = await AgentReplica.connect({
    location: parsePeerUrl(`ssh://nowhere${db}`) as SshLocation,
    remoteCommand,
    nodeName: 'phone',
    prepare,
    env: { ...process.env, RESONANCE_SYNC_SSH: localSsh(dir) },
  });
  t.after(() => replica.close());
  return replica;
}

const feedRequest = (maxRows: number): FeedRequest => ({
  afterRowid: 0,
  receiverId: 'main',
  route: EVERYTHING,
  columns: ['timestamp', 'content', 'source'],
  maxRows,
  maxBytes: 1 << 20,
});

test('a feed can be abandoned midway; requests interleave with an open feed; a new feed starts clean', async (t) => {
  const db = createNotesDb(tempDir(t), 'phone');
  insertNotes(
    db,
    Array.from({ length: 500 }, (_, i) => ({
      timestamp: `2025-01-01 00:00:00`,
      content: `n${i}`,
      context: 'c',
      source: i % 2 ? 's' : null,
    })),
  );
  const replica = await connect(t, db);
  const info = await replica.info();
  assert.equal(info.node.name, 'phone');
  assert.equal(info.maxRowid, 500);
  assert.match(info.location, /^ssh:\/\/nowhere\/.*phone\.sqlite3$/, 'host-qualified location');

  let seen = 0;
  for await (const batch of replica.readFeed(feedRequest(20))) {
    seen += batch.rows.length;
    assert.equal(await replica.cursor('someone', 'k'), 0, 'a request while the feed is open');
    if (seen >= 60) break;
  }
  assert.equal(seen, 60);
  const rows = [];
  for await (const batch of replica.readFeed(feedRequest(64))) rows.push(...batch.rows);
  assert.equal(rows.length, 500);
  assert.deepEqual(rows[499]?.values, ['2025-01-01 00:00:00', 'n499', 's']);
  assert.equal(rows[0]?.values[2], null);
  assert.equal(rows[0]?.origin, info.node.id, 'origin filled in by the sender');
});

test('remote failures keep their SyncError code; a dry run prepares nothing, previewing under a provisional identity', async (t) => {
  const db = createNotesDb(tempDir(t), 'fresh');
  const before = readFileSync(db);
  const preview = await connect(t, db, agentCommand(), false);
  const info = await preview.info();
  assert.equal(info.node.name, 'phone');
  assert.match(info.node.id, /^[0-9a-f]{8}-[0-9a-f]{4}-/);
  assert.equal(await preview.cursor('someone', 'k'), 0);
  await preview.close();
  assert.ok(readFileSync(db).equals(before), 'the preview changed nothing');
  assert.equal(existsSync(`${db}-sync.lock`), false, 'nor took the lock');
  await assert.rejects(connect(t, `${db}.missing`), { code: 'DB_NOT_FOUND' });
});

test('close ends the agent and ssh: nothing is left running', async (t) => {
  const dir = tempDir(t);
  const db = createNotesDb(dir, 'phone');
  const pidFile = join(dir, 'agent.pid');
  // The agent wrapper records its pid (exec keeps it) so the test can check it is gone afterwards.
  const wrapper = writeScript(dir, 'agent', `echo $$ > '${pidFile}'\nexec ${agentCommand()} "$@"`);
  const replica = await connect(t, db, wrapper);
  await replica.info();
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await replica.close();
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the agent exited');
});

test('an AbortSignal stops a connection attempt at once and kills ssh', async (t) => {
  const dir = tempDir(t);
  const pidFile = join(dir, 'ssh.pid');
  const hanging = writeScript(dir, 'hanging-ssh', `echo $$ > '${pidFile}'\nexec sleep 600`);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  const started = Date.now();
  await assert.rejects(
    AgentReplica.connect({
      location: parsePeerUrl('ssh://nowhere/x.sqlite3') as SshLocation,
      remoteCommand: undefined,
      nodeName: 'x',
      prepare: true,
      env: { ...process.env, RESONANCE_SYNC_SSH: hanging },
      signal: controller.signal,
    }),
    { code: 'INTERRUPTED' },
  );
  assert.ok(Date.now() - started < 5_000);
  assert.throws(() => process.kill(Number(readFileSync(pidFile, 'utf8')), 0), { code: 'ESRCH' });
});
