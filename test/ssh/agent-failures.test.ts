/**
 * Failures through a real sshd, each reported as one line with its exit code, and with nothing lost:
 * unreachable port, changed or unknown host key (never accepted), missing agent, a chatty shell
 * banner (tolerated), protocol version mismatch, binary garbage instead of the agent (shown escaped),
 * remote paths that are a symlink loop, missing or a directory (no lock file left there), and
 * connections dropped in the middle of a big delta in either direction, after which the next run
 * completes with no loss and no duplicates.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { PROTOCOL_VERSION } from '../../src/protocol/protocol.js';
import { shellQuote } from '../../src/transport/ssh/ssh-command.js';
import { runCli, type CliResult } from '../support/cli.js';
import { allRows, createNotesDb, identityCounts, insertNotes, withDb } from '../support/notes-db.js';
import type { SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, directionCounts, failedWith, sshdFor, sshUrl, writeConfig, writeScript } from './fixtures.js';

function pair(t: TestContext, mainRows = 1, phoneRows = 1) {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  const notes = (who: string, n: number) =>
    Array.from({ length: n }, (_, i) => ({
      timestamp: `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`,
      content: `${who} ${i}`,
      context: 'c',
      source: i % 3 ? who : null,
    }));
  insertNotes(main, notes('main', mainRows));
  insertNotes(phone, notes('phone', phoneRows));
  return { dir, main, phone };
}

function sync(
  server: SshServer,
  main: string,
  phone: string,
  options: { remoteCommand?: string; env?: NodeJS.ProcessEnv; extra?: string[] } = {},
): Promise<CliResult> {
  // Without sync notes, so the entry counts below are exactly the notes written by the "agents".
  const config = writeConfig(dirname(main), main, 'main_device', [], { syncNote: false });
  const args = [
    'sync',
    sshUrl(server, phone),
    '--config',
    config,
    '--remote-command',
    options.remoteCommand ?? agentCommand(),
    '--json',
    ...(options.extra ?? []),
  ];
  return runCli(args, { env: { ...server.env, ...options.env } });
}

/** Both databases hold the same entries, each exactly once. */
function assertConverged(main: string, phone: string, expected: number): void {
  const counts = identityCounts(main);
  assert.deepEqual(identityCounts(phone), counts);
  assert.ok(
    [...counts.values()].every((n) => n === 1),
    'no duplicates',
  );
  assert.equal(allRows(main).length, expected);
}

test('an unreachable port exits 6 and is logged as skipped', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { main, phone } = pair(t);
  const closed = { ...server, port: 1 };
  const result = await sync(closed, main, phone);
  failedWith(result, 6, 'PEER_UNREACHABLE', /127\.0\.0\.1:1 is unreachable \(.*Connection refused\); skipped/);
  const log = withDb(main, (db) =>
    db
      .prepare(`SELECT direction, status, error_code FROM sync_log`)
      .all()
      .map((r) => ({ ...r })),
  );
  assert.deepEqual(log, [{ direction: 'connect', status: 'skipped', error_code: 'PEER_UNREACHABLE' }]);
});

test('a changed host key is refused with advice, an unknown one too; neither is ever accepted', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { dir, main, phone } = pair(t);
  const original = readFileSync(server.knownHostsPath, 'utf8');
  t.after(() => writeFileSync(server.knownHostsPath, original));
  const otherKey = join(dir, 'other_host_key');
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', otherKey]);
  writeFileSync(
    server.knownHostsPath,
    `[127.0.0.1]:${server.port} ${readFileSync(`${otherKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
  );
  failedWith(
    await sync(server, main, phone),
    7,
    'HOST_KEY_CHANGED',
    /does not match the one in known_hosts.*ssh-keygen -R '\[127\.0\.0\.1\]:\d+'/,
  );

  writeFileSync(server.knownHostsPath, '');
  failedWith(await sync(server, main, phone), 7, 'HOST_KEY_UNKNOWN', /not in known_hosts.*never accepts an unknown key/);
  assert.equal(readFileSync(server.knownHostsPath, 'utf8'), '', 'nothing was learned');
  assert.equal(allRows(phone).length, 1, 'nothing was synced');
});

test('a missing agent is named, with what to do', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { main, phone } = pair(t);
  const result = await sync(server, main, phone, { remoteCommand: '/nonexistent/resonance-sync', extra: ['--mode', 'agent'] });
  failedWith(
    result,
    7,
    'AGENT_MISSING',
    /cannot run "\/nonexistent\/resonance-sync" \(.*No such file or directory\): install resonance-sync there, or set remote_command/,
  );
});

test('mode auto: a remote without the agent is synced agentless through its sqlite3, and says so', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { main, phone } = pair(t);
  const result = await sync(server, main, phone, { remoteCommand: '/nonexistent/resonance-sync' });
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout);
  assert.equal(summary.peers[0].transport, 'ssh sqlite3');
  assert.ok(summary.peers[0].directions.every((d: { received: number }) => d.received > 0));
});

test('a shell banner on stdout before the agent starts is skipped', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { main, phone } = pair(t);
  const result = await sync(server, main, phone, {
    remoteCommand: `echo 'Welcome to Termux!'; printf 'no newline, and a NUL \\0 byte'; ${agentCommand()}`,
  });
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    directionCounts(result.stdout).map((d) => d.received),
    [1, 1],
  );
});

test('a different protocol version fails with one line naming both versions and what to upgrade', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { dir, main, phone } = pair(t);
  const newer = writeScript(dir, 'newer-agent', `printf '\\000resonance-sync agent ${PROTOCOL_VERSION + 1} 9.0.0\\n'\ncat > /dev/null`);
  failedWith(
    await sync(server, main, phone, { remoteCommand: newer, extra: ['--mode', 'agent'] }),
    7,
    'PROTOCOL_VERSION',
    new RegExp(
      `resonance-sync 9\\.0\\.0 on .* speaks agent protocol ${PROTOCOL_VERSION + 1}, this resonance-sync \\S+ speaks ${PROTOCOL_VERSION}; upgrade resonance-sync on this machine`,
    ),
  );
  // auto: the agentless mode serves instead, and one line says why.
  const auto = await sync(server, main, phone, { remoteCommand: newer });
  assert.equal(auto.code, 0, auto.stderr);
  assert.equal(auto.stderr.trim().split('\n').length, 1, auto.stderr);
  assert.match(
    auto.stderr,
    /no usable agent \(protocol mismatch: .*\[PROTOCOL_VERSION\]\); syncing agentless through the remote sqlite3$/m,
  );
});

test('garbage starting with a NUL byte is named escaped, never as "", whether the remote exits or floods', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { main, phone } = pair(t);
  // A broken wrapper printing binary: NUL, a byte that is no UTF-8, a right-to-left override.
  const exits = await sync(server, main, phone, {
    remoteCommand: `printf '\\000\\001\\377 \\342\\200\\256garbage\\n'; exit 1; true`,
    extra: ['--mode', 'agent'],
  });
  failedWith(
    exits,
    7,
    'PROTOCOL_ERROR',
    /the remote command on \S+ printed "\\x00\\x01\\xff \\u202egarbage" and ended without starting the resonance-sync agent \(check remote_command/,
  );
  const floods = await sync(server, main, phone, {
    remoteCommand: `printf '\\000\\001'; yes garbage | head -c 100000; true`,
    extra: ['--mode', 'agent'],
  });
  failedWith(
    floods,
    7,
    'PROTOCOL_ERROR',
    /printed more than 64 KiB before resonance-sync started .*; it began: "\\x00\\x01garbage" \[PROTOCOL_ERROR\]$/,
  );
  assert.equal(allRows(phone).length, 1, 'nothing was synced');
});

test('a remote path that is a symlink loop says ELOOP; a missing one or a directory gets no lock file there', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { dir, main } = pair(t);
  const loop = join(dir, 'loop.sqlite3');
  symlinkSync(loop, loop);
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  const agent = { extra: ['--mode', 'agent'] };
  failedWith(
    await sync(server, main, loop, agent),
    4,
    'DB_NOT_FOUND',
    /: \S+@127\.0\.0\.1:\d+: \/\S+\/loop\.sqlite3 is a symlink loop \(ELOOP\): its links never reach a file; fix the link so it points at the database file/,
  );
  failedWith(
    await sync(server, main, folder, agent),
    4,
    'DB_NOT_FOUND',
    /\/folder is a directory, not a database file; name the database file inside it/,
  );
  failedWith(
    await sync(server, main, join(dir, 'missing.sqlite3'), agent),
    4,
    'DB_NOT_FOUND',
    /database not found: \S+missing\.sqlite3 \(check the path in the peer URL/,
  );
  assert.deepEqual(
    readdirSync(dir).filter((name) => name.endsWith('-sync.lock')),
    ['main.sqlite3-sync.lock'],
    "only this node's own lock",
  );
  assert.deepEqual(readdirSync(folder), []);
});

test('a connection cut mid-pull (stream truncated) loses nothing; the next run completes', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { dir, main, phone } = pair(t, 1, 20_000);
  // ssh whose output is cut after 30 kB (frames are compressed: a few thousand notes), like a network
  // drop in the middle of the feed. The cutter runs ssh itself, so once it exits nothing else holds
  // our end of the pipe open.
  const cutter = join(dir, 'cutter.cjs');
  writeFileSync(
    cutter,
    `const { spawn } = require('node:child_process');
const [limit, file, ...args] = process.argv.slice(2);
const ssh = spawn(file, args, { stdio: ['inherit', 'pipe', 'inherit'] });
let left = Number(limit);
ssh.stdout.on('data', (chunk) => {
  if (chunk.length < left) { left -= chunk.length; process.stdout.write(chunk); return; }
  process.stdout.write(chunk.subarray(0, left), () => process.exit(0));
});
ssh.on('exit', (code) => process.exit(code ?? 1));`,
  );
  const cutting = writeScript(
    dir,
    'cutting-ssh',
    `exec ${shellQuote(process.execPath)} ${shellQuote(cutter)} 30000 ${server.env.RESONANCE_SYNC_SSH ?? 'ssh'} "$@"`,
  );
  const cut = await sync(server, main, phone, { env: { RESONANCE_SYNC_SSH: cutting }, extra: ['--batch-rows', '100'] });
  failedWith(cut, 6, 'CONNECTION_LOST', /connection to .* was lost mid-sync.*next sync resumes/);
  const partial = allRows(main).length;
  assert.ok(partial > 1 && partial < 20_001, `some batches committed (${partial} rows)`);

  const again = await sync(server, main, phone);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(directionCounts(again.stdout)[0]?.duplicates, 0, 'resumed after the last committed batch');
  assertConverged(main, phone, 20_001);
});

test('an ssh killed mid-push loses nothing; the next run completes without duplicates', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { dir, main, phone } = pair(t, 20_000, 1);
  const pidFile = join(dir, 'ssh.pid');
  const recording = writeScript(dir, 'recording-ssh', `echo $$ > '${pidFile}'\nexec ${server.env.RESONANCE_SYNC_SSH ?? 'ssh'} "$@"`);
  const running = sync(server, main, phone, { env: { RESONANCE_SYNC_SSH: recording }, extra: ['--batch-rows', '50'] });
  // Kill ssh once the remote has committed some of the pushed batches (but not all).
  const countPhone = () => Number(withDb(phone, (db) => db.prepare('SELECT count(*) AS n FROM resonance_notes').get()?.n ?? 0));
  const deadline = Date.now() + 60_000;
  while (countPhone() < 500 && Date.now() < deadline) await sleep(10);
  process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  const killed = await running;
  failedWith(killed, 6, 'CONNECTION_LOST', /lost mid-sync/);
  assert.ok(countPhone() < 20_001, 'stopped before the end');

  const again = await sync(server, main, phone);
  assert.equal(again.code, 0, again.stderr);
  assertConverged(main, phone, 20_001);
});

test('auto: an agent that fails to start falls back to agentless, in one line carrying the tail of its stderr', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { dir, main, phone } = pair(t);
  const broken = writeScript(
    dir,
    'broken-agent',
    `echo 'node:internal/modules/cjs/loader:1228' >&2\necho '  throw err;' >&2\necho "Error: Cannot find module '/moved/dist/src/cli/main.js'" >&2\nexit 1`,
  );
  const agentOnly = await sync(server, main, phone, { remoteCommand: broken, extra: ['--mode', 'agent'] });
  failedWith(agentOnly, 7, 'REMOTE_ERROR', /failed to start \(Error: Cannot find module/);
  const auto = await sync(server, main, phone, { remoteCommand: broken });
  assert.equal(auto.code, 0, auto.stderr);
  const lines = auto.stderr.trim().split('\n');
  assert.equal(lines.length, 1, auto.stderr);
  assert.match(
    lines[0] ?? '',
    /no usable agent \(the resonance-sync agent on \S+ failed to start .*\[REMOTE_ERROR\]; its stderr ended: "node:internal\/modules\/cjs\/loader:1228 \| throw err; \| Error: Cannot find module '\/moved\/dist\/src\/cli\/main\.js'"\); syncing agentless through the remote sqlite3$/,
  );
  assert.equal(JSON.parse(auto.stdout).peers[0].transport, 'ssh sqlite3');
});

test("the agent's bookkeeping, confirmed at the sync's end: a refused FINISH fails the sync, naming it; the next run completes", async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const { main, phone } = pair(t);
  const first = await sync(server, main, phone);
  assert.equal(first.code, 0, first.stderr);
  // FINISH writes the agent's sync_tracking; LOG and a batch without entries are sent with it, unwaited.
  withDb(phone, (db) =>
    db.exec(`CREATE TRIGGER refuse_insert BEFORE INSERT ON sync_tracking BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
      CREATE TRIGGER refuse_update BEFORE UPDATE ON sync_tracking BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;`),
  );
  // The phone's new notes come back as echoes in the push: its batch has no entries.
  insertNotes(phone, [
    { timestamp: '2025-12-01 08:00:00', content: 'later 1', context: 'c', source: 'termux' },
    { timestamp: '2025-12-01 08:00:01', content: 'later 2', context: 'c', source: 'termux' },
  ]);
  const refused = await sync(server, main, phone);
  assert.notEqual(refused.code, 0, refused.stdout);
  assert.match(refused.stderr, /refused by the test/);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.equal(allRows(main).length, 4, 'what the pull brought is kept');
  withDb(phone, (db) => db.exec('DROP TRIGGER refuse_insert; DROP TRIGGER refuse_update;'));
  const again = await sync(server, main, phone);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    directionCounts(again.stdout).map((d) => [d.direction, d.received]),
    [
      ['pull', 0],
      ['push', 0],
    ],
  );
  assertConverged(main, phone, 4);
});
