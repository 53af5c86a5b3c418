/**
 * The CLI against misbehaving "ssh" programs (fixture executables first on PATH or named by
 * RESONANCE_SYNC_SSH): one that hangs, one that fails with 255, one that prints junk, plus a
 * read-only agent. Each failure is one line with its documented exit code, and nothing is left running.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { runCli, spawnCli, type CliResult } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, directionCounts, localSsh, writeScript } from './fixtures.js';

function setup(t: TestContext) {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'c', source: 's' }]);
  insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'from phone', context: 'c', source: 's' }]);
  return { dir, main, phone };
}

function sync(main: string, url: string, env: NodeJS.ProcessEnv, ...extra: string[]): Promise<CliResult> {
  return runCli(['sync', url, '--db', main, '--remote-command', agentCommand(), ...extra], { env });
}

function assertOneLineError(result: CliResult, exitCode: number, code: string, message: RegExp): void {
  assert.equal(result.code, exitCode, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0] ?? '', new RegExp(`\\[${code}\\]$`));
  assert.match(lines[0] ?? '', message);
}

test('an ssh that hangs is cut off by our own deadline: unreachable, exit 6, no process left', async (t) => {
  const { dir, main } = setup(t);
  const bin = join(dir, 'bin');
  const pidFile = join(dir, 'ssh.pid');
  writeScript(dir, 'bin/ssh', `echo $$ > '${pidFile}'\nexec sleep 600`);
  const started = Date.now();
  const result = await sync(main, 'ssh://phone.invalid/data/phone.sqlite3', {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    RESONANCE_SYNC_SSH: '',
    RESONANCE_SYNC_CONNECT_TIMEOUT: '1',
  });
  assertOneLineError(result, 6, 'PEER_UNREACHABLE', /no answer from the agent on phone\.invalid within 3 s/);
  assert.ok(Date.now() - started < 15_000, 'did not wait for the hang');
  assert.throws(() => process.kill(Number(readFileSync(pidFile, 'utf8')), 0), { code: 'ESRCH' }, 'the hung ssh was killed');
});

test('an ssh that exits 255 is an unreachable peer (exit 6), logged as skipped', async (t) => {
  const { dir, main } = setup(t);
  const ssh = writeScript(dir, 'ssh-255', 'echo "ssh: connect to host phone port 22: Network is unreachable" >&2\nexit 255');
  const result = await sync(main, 'ssh://phone/data/phone.sqlite3', { RESONANCE_SYNC_SSH: ssh });
  assertOneLineError(
    result,
    6,
    'PEER_UNREACHABLE',
    /phone is unreachable \(ssh: connect to host phone port 22: Network is unreachable\); skipped/,
  );
  const silent = await sync(main, 'ssh://phone/data/phone.sqlite3', { RESONANCE_SYNC_SSH: writeScript(dir, 'ssh-255-silent', 'exit 255') });
  assertOneLineError(silent, 6, 'PEER_UNREACHABLE', /exit code 255/);
});

test('an ssh that prints junk instead of the agent fails as a protocol error naming the banner', async (t) => {
  const { dir, main } = setup(t);
  const ssh = writeScript(dir, 'ssh-junk', 'echo "Welcome to Termux!"\necho "motd line two"');
  assertOneLineError(
    await sync(main, 'ssh://phone/p.sqlite3', { RESONANCE_SYNC_SSH: ssh }),
    7,
    'PROTOCOL_ERROR',
    /"Welcome to Termux!".*bashrc/,
  );
  // Endless junk: bounded at 64 KiB, then refused (and the junk source is stopped).
  const flood = writeScript(dir, 'ssh-flood', 'yes "Welcome to Termux!"');
  assertOneLineError(
    await sync(main, 'ssh://phone/p.sqlite3', { RESONANCE_SYNC_SSH: flood }),
    7,
    'PROTOCOL_ERROR',
    // auto mode tries the agentless mode after the agent's refusal: either one names the bound and the banner.
    /(more than 64 KiB.*shell banner|more than 65536 bytes \(starting "Welcome to Termux!"\).*make shell startup files quiet)/,
  );
});

test('a read-only agent serves pulls and refuses pushes with a clear error', async (t) => {
  const { dir, main, phone } = setup(t);
  const env = { RESONANCE_SYNC_SSH: localSsh(dir) };
  const readOnly = writeScript(dir, 'ro-agent', `exec ${agentCommand()} "$@" --read-only`);
  // The agent serves only prepared databases read-only (preparing would write).
  assert.equal((await sync(main, `ssh://phone${phone}`, env, '--pull-only')).code, 0);
  const pull = await runCli(['sync', `ssh://phone${phone}`, '--db', main, '--remote-command', readOnly, '--pull-only', '--json'], { env });
  assert.equal(pull.code, 0, pull.stderr);
  const both = await runCli(['sync', `ssh://phone${phone}`, '--db', main, '--remote-command', readOnly], { env });
  assertOneLineError(both, 7, 'REMOTE_READ_ONLY', /read-only.*--pull-only/);
  assert.equal(allRows(phone).length, 1, 'nothing was written to the read-only database');
  assert.deepEqual(
    directionCounts(pull.stdout).map((d) => d.direction),
    ['pull'],
  );
});

test('SIGTERM while connecting: exit 130 at once, and the ssh child is gone too', async (t) => {
  const { dir, main } = setup(t);
  const pidFile = join(dir, 'ssh.pid');
  const hanging = writeScript(dir, 'hanging-ssh', `echo $$ > '${pidFile}'\nexec sleep 600`);
  const child = spawnCli(['sync', 'ssh://phone/p.sqlite3', '--db', main], { env: { RESONANCE_SYNC_SSH: hanging } });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8') === '') await sleep(20);
  child.kill('SIGTERM');
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /interrupted while connecting to phone \[INTERRUPTED\]/);
  assert.throws(() => process.kill(Number(readFileSync(pidFile, 'utf8')), 0), { code: 'ESRCH' });
});
