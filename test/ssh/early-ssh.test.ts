/**
 * The installed command starts a sync's or a verify's ssh before it loads the command line (cli/early-ssh.ts,
 * bin/resonance-sync.mjs), so that the login overlaps that loading. These tests run the installed
 * command over a real sshd and read its trace marks (core/trace.ts): the ssh started ahead is the one
 * the sync uses, in each mode, and one the command does not use is ended, never left behind or waited
 * for. The hand-over itself (transport/ssh/ssh-process.ts) is checked on real processes too.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test, type TestContext } from 'node:test';
import { readCommandArguments } from '../../src/cli/early-ssh.js';
import { formatPeerUrl } from '../../src/core/peer-url.js';
import { discardEarlySsh, startSsh, startSshEarly } from '../../src/transport/ssh/ssh-process.js';
import { createNotesDb, identityCounts, insertNotes } from '../support/notes-db.js';
import { authorizeOnPhone, giveToPhone, phoneDir, requirePhoneAccount, type PhoneAccount } from '../support/phone-account.js';
import { requireSshdOrSkip, startSshd, type SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, directionCounts, notesPair, sshUrl, writeConfig } from './fixtures.js';

const BIN = fileURLToPath(new URL('../../../bin/resonance-sync.mjs', import.meta.url));
const EARLY = fileURLToPath(new URL('../../../dist/resonance-sync-early.mjs', import.meta.url));

let shared: Promise<SshServer> | undefined;
let withPhone: Promise<SshServer> | undefined;
after(async () => {
  await (await shared)?.stop();
  await (await withPhone)?.stop();
});

function built(t: TestContext): boolean {
  if (existsSync(EARLY)) return true;
  if (process.env.CI) throw new Error(`${EARLY} is missing; npm test builds it (npm run build:dist)`);
  t.skip('the single files are not built (npm run build:dist)');
  return false;
}

/** The file's sshd; with `phone`, another one that also lets in the phone-like account. */
async function server(t: TestContext, phone?: PhoneAccount): Promise<SshServer | undefined> {
  if (!requireSshdOrSkip(t)) return undefined;
  if (!phone) {
    shared ??= startSshd();
    return shared;
  }
  withPhone ??= startSshd({ extraUsers: [{ name: phone.user, path: phone.bin }] }).then((started) => {
    authorizeOnPhone(phone, started);
    return started;
  });
  return withPhone;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** This process's own trace labels, in order (the far side's are not passed through ssh here). */
  marks: string[];
}

/** The installed command, traced, as a user runs it. */
function runInstalled(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...env, RESONANCE_SYNC_TRACE: '1', RESONANCE_SYNC_CONFIG: '/nonexistent/resonance-sync/config.toml' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      const marks = stderr
        .split('\n')
        .filter((line) => line.startsWith('resonance-sync trace ') && line.split(' ')[4] === String(child.pid))
        .map((line) => line.split(' ').slice(5).join(' '));
      resolve({ code, stdout, stderr, marks });
    });
  });
}

const sshMarks = (run: Run) => run.marks.filter((mark) => /ssh/.test(mark) && mark !== 'ssh exited');

test('sync and verify arguments are read as commander reads them, and anything else starts nothing ahead', () => {
  assert.deepEqual(readCommandArguments(['--config', 'c.toml', 'sync', 'phone', '--json']), {
    command: 'sync',
    peer: 'phone',
    options: new Map([['--config', 'c.toml']]),
    flags: new Set(['--json']),
  });
  assert.deepEqual(readCommandArguments(['sync', '--mode=sqlite3', '--dry-run', '-q']), {
    command: 'sync',
    peer: undefined,
    options: new Map([['--mode', 'sqlite3']]),
    flags: new Set(['--dry-run', '-q']),
  });
  assert.deepEqual(readCommandArguments(['verify', '--db=main.sqlite3', 'phone', '--repair']), {
    command: 'verify',
    peer: 'phone',
    options: new Map([['--db', 'main.sqlite3']]),
    flags: new Set(['--repair']),
  });
  // A peer named like a command is still a peer.
  assert.equal(readCommandArguments(['verify', 'sync'])?.peer, 'sync');
  for (const argv of [
    [],
    ['status'],
    ['sync', '--help'],
    ['sync', 'a', 'b'],
    ['sync', '--bogus'],
    ['-vq', 'sync'],
    ['sync', '--db'],
    ['sync', '--mode', 'agent', '--mode', 'sqlite3'],
    ['verify'],
    ['verify', 'a', 'b'],
    ['verify', 'phone', '--mode', 'agent'],
    ['verify', 'phone', '--dry-run'],
    ['sync', '--repair'],
  ]) {
    assert.equal(readCommandArguments(argv), undefined, argv.join(' '));
  }
});

/** Waits up to 5 s for no process whose command line contains `text`; what still runs then. */
async function waitGone(text: string): Promise<string> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const running = spawnSync('pgrep', ['-f', '--', text], { encoding: 'utf8' }).stdout.trim();
    if (running === '' || Date.now() > deadline) return running;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('an ssh started ahead is handed over only for the same command line and environment; any other is ended', async () => {
  // Stand-ins for ssh, each marked by a word of its own: `sh -c 'sleep 30; :' MARK`.
  const marked = (mark: string) => ['sh', '-c', 'sleep 30; :', `early-ssh-test-${process.pid}-${mark}`];
  startSshEarly(marked('taken'), process.env);
  const early = startSsh(marked('taken'), process.env);
  assert.equal(early.running, true);
  // Asked again: nothing waits any more, so this is a new process.
  const fresh = startSsh(marked('taken'), process.env);
  assert.notEqual(fresh.child.pid, early.child.pid);
  await Promise.all([early.kill(), fresh.kill()]);

  startSshEarly(marked('other-argv'), process.env);
  const asked = startSsh(marked('asked'), process.env);
  startSshEarly(marked('other-env'), process.env);
  const askedWithOwnEnv = startSsh(marked('other-env'), { ...process.env });
  startSshEarly(marked('never-asked'), process.env);
  discardEarlySsh();
  assert.equal(asked.running && askedWithOwnEnv.running, true);
  // The three not handed over are ended (SIGTERM to their groups), the two asked for are not.
  for (const mark of ['other-argv', 'never-asked']) assert.equal(await waitGone(marked(mark).at(-1) as string), '', mark);
  assert.equal(
    spawnSync('pgrep', ['-f', '--', marked('other-env').at(-1) as string], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n').length,
    1,
  );
  await Promise.all([asked.kill(), askedWithOwnEnv.kill()]);
  assert.equal(await waitGone(`early-ssh-test-${process.pid}-`), '');
});

/** The early ssh's marks when the command took it over. */
const TAKEN = ['ssh spawned early', 'early ssh taken'];

/** A main and a phone database, one entry each, and a config naming the phone as `phone`, reached in `mode`. */
async function configuredPair(t: TestContext, mode: 'sqlite3' | 'agent') {
  if (!built(t)) return undefined;
  const sshd = await server(t);
  if (!sshd) return undefined;
  const dir = tempDir(t);
  const { main, phone } = notesPair(dir);
  const peer = mode === 'agent' ? { remoteCommand: agentCommand() } : { extra: 'mode = "sqlite3"' };
  const config = writeConfig(dir, main, 'main_device', [{ name: 'phone', url: sshUrl(sshd, phone), ...peer }], { syncNote: false });
  return { sshd, main, phone, config };
}

for (const mode of ['sqlite3', 'agent'] as const) {
  test(`the installed command's ${mode} sync uses the ssh it started ahead, and only that one`, async (t) => {
    const pair = await configuredPair(t, mode);
    if (!pair) return;
    const { sshd, main, phone, config } = pair;
    const run = await runInstalled(['--config', config, 'sync', '--json'], sshd.env);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(sshMarks(run), TAKEN, run.stderr);
    assert.deepEqual(
      directionCounts(run.stdout).map((d) => [d.direction, d.received]),
      [
        ['pull', 1],
        ['push', 1],
      ],
    );
    // A dry run's agent is told to write nothing (its HELLO differs): the early ssh says so too.
    const dry = await runInstalled(['sync', 'phone', '--dry-run', '--config', config], sshd.env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(sshMarks(dry), TAKEN, dry.stderr);
    // --mode on the command line is the peer's mode for this run, ahead as well.
    const other = mode === 'agent' ? 'sqlite3' : 'agent';
    const switched = await runInstalled(
      ['sync', 'phone', `--mode=${other}`, '--config', config, ...(other === 'agent' ? ['--remote-command', agentCommand()] : [])],
      sshd.env,
    );
    assert.equal(switched.code, 0, switched.stderr);
    assert.deepEqual(sshMarks(switched), TAKEN, switched.stderr);
    assert.equal(identityCounts(main).size, 2);
    assert.equal(identityCounts(phone).size, 2);
  });
}

for (const mode of ['sqlite3', 'agent'] as const) {
  test(`the installed command's ${mode} verify uses the ssh it started ahead, with --repair too`, async (t) => {
    const pair = await configuredPair(t, mode);
    if (!pair) return;
    const { sshd, main, phone, config } = pair;
    const synced = await runInstalled(['sync', '--config', config], sshd.env);
    assert.equal(synced.code, 0, synced.stderr);
    // Then each gets an entry the other lacks: verify says so (exit 1), then --repair sends them.
    insertNotes(main, [{ timestamp: '2025-12-01 08:00:00', content: 'main, later', context: 'c', source: 'main' }]);
    insertNotes(phone, [{ timestamp: '2025-12-01 08:00:01', content: 'phone, later', context: 'c', source: 'termux' }]);
    const differ = await runInstalled(['verify', 'phone', '--config', config, '--json'], sshd.env);
    assert.equal(differ.code, 1, differ.stderr);
    assert.deepEqual(sshMarks(differ), TAKEN, differ.stderr);
    // A repair prepares the peer (an agent is told so in its HELLO): the ssh started ahead says so too.
    const repair = await runInstalled(['--config', config, 'verify', 'phone', '--repair'], sshd.env);
    assert.equal(repair.code, 0, repair.stderr);
    assert.deepEqual(sshMarks(repair), TAKEN, repair.stderr);
    assert.equal(identityCounts(main).size, 4);
    assert.equal(identityCounts(phone).size, 4);
  });
}

test('the launcher (no remote_command) is started ahead too: the agent uploaded to a phone, then found there', async (t) => {
  if (!built(t)) return;
  const phone = requirePhoneAccount(t);
  if (!phone) return;
  const sshd = await server(t, phone);
  if (!sshd) return;
  rmSync(join(phone.home, '.cache'), { recursive: true, force: true });
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main.sqlite3');
  const phoneDb = createNotesDb(phoneDir(t, phone, 'notes'), 'phone.sqlite3');
  giveToPhone(phone, phoneDb);
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'c', source: 's' }]);
  const url = formatPeerUrl({ kind: 'ssh', user: phone.user, host: sshd.host, port: sshd.port, path: phoneDb, homeRelative: false });
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    `[node]\nname = "main"\ndb = ${JSON.stringify(main)}\nsync_note = false\n\n[peers.phone]\nurl = ${JSON.stringify(url)}\n`,
  );
  for (const time of ['first', 'second']) {
    const run = await runInstalled(['sync', '--config', config, '--json'], sshd.env);
    assert.equal(run.code, 0, `${time}: ${run.stderr}`);
    assert.deepEqual(sshMarks(run), TAKEN, `${time}: ${run.stderr}`);
    const report = JSON.parse(run.stdout) as { peers: Array<{ transport: string; agent: { source: string; uploadedBytes: number } }> };
    assert.equal(report.peers[0]?.transport, 'ssh agent');
    assert.equal(report.peers[0]?.agent.source, 'uploaded');
    assert.equal(report.peers[0]?.agent.uploadedBytes > 0, time === 'first');
  }
  assert.equal(identityCounts(phoneDb).size, 1);
});

test('a sync that fails before reaching the peer ends the ssh it started ahead, and exits at once', async (t) => {
  if (!built(t)) return;
  const sshd = await server(t);
  if (!sshd) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone-never-reached');
  const config = writeConfig(dir, main, 'main_device', [{ name: 'phone', url: sshUrl(sshd, phone), extra: 'mode = "sqlite3"' }]);
  const started = performance.now();
  // A batch size of 0 is refused before the command opens anything.
  const run = await runInstalled(['sync', '--config', config, '--batch-rows', '0'], sshd.env);
  const seconds = (performance.now() - started) / 1000;
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, /--batch-rows must be a positive integer \[USAGE\]/);
  assert.deepEqual(sshMarks(run), ['ssh spawned early', 'early ssh discarded'], run.stderr);
  // Well under ssh's own timeouts (ConnectTimeout 15 s, ServerAlive 60 s): nothing waited on it.
  assert.ok(seconds < 10, `${seconds} s`);
  // The remote side ends with it: no sqlite3 is left holding the phone's database.
  assert.equal(await waitGone(phone), '', "still running on the phone's database");
});
