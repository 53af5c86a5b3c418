/**
 * Proves the sshd harness with real OpenSSH processes: logins work, host keys are really verified
 * (mismatched or unknown keys are refused, never silently accepted), and forced commands apply.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { requireSshdOrSkip, startSshd, type SshServer, type StartSshdOptions } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Result> {
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('empty command');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function serverFor(t: TestContext, options: StartSshdOptions = {}): Promise<SshServer | undefined> {
  if (!requireSshdOrSkip(t)) return undefined;
  const server = await startSshd(options);
  t.after(() => server.stop());
  return server;
}

test('ssh through the harness config runs a remote command', async (t) => {
  const server = await serverFor(t);
  if (!server) return;
  const result = await run([...server.sshCommand, 'any-alias', 'printf', 'ok']);
  assert.deepEqual(result, { code: 0, stdout: 'ok', stderr: '' });

  // The product's override, split on whitespace like GIT_SSH_COMMAND.
  const fromEnv = server.env.RESONANCE_SYNC_SSH?.split(/\s+/) ?? [];
  assert.deepEqual(fromEnv, server.sshCommand);
  assert.equal((await run([...fromEnv, '127.0.0.1', 'printf', 'ok'], server.env)).stdout, 'ok');
});

test('a changed host key is refused', async (t) => {
  const server = await serverFor(t);
  if (!server) return;
  const other = join(tempDir(t), 'other_host_key');
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', other]);
  const otherPub = readFileSync(`${other}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
  writeFileSync(server.knownHostsPath, `[127.0.0.1]:${server.port} ${otherPub}\n`);

  const result = await run([...server.sshCommand, 'h', 'echo', 'should-not-run']);
  assert.equal(result.code, 255);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
});

test('an unknown host key is refused in batch mode, not silently accepted', async (t) => {
  const server = await serverFor(t);
  if (!server) return;
  writeFileSync(server.knownHostsPath, '');

  const result = await run([...server.sshCommand, 'h', 'echo', 'should-not-run']);
  assert.equal(result.code, 255);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /Host key verification failed/);
  assert.equal(readFileSync(server.knownHostsPath, 'utf8'), '', 'ssh must not have learned the key');
});

test('a forced command in authorized_keys overrides the requested command', async (t) => {
  const server = await serverFor(t);
  if (!server) return;
  const pubkey = readFileSync(`${server.identityPath}.pub`, 'utf8').trim();
  server.setAuthorizedKeys([`command="echo forced",restrict ${pubkey}`]);

  const result = await run([...server.sshCommand, 'h', 'anything', 'else']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, 'forced\n');
});

test('authorizedKeysOptions prefixes the default key line', async (t) => {
  const server = await serverFor(t, { authorizedKeysOptions: 'command="echo from-options",restrict' });
  if (!server) return;
  const result = await run([...server.sshCommand, 'h', 'anything']);
  assert.equal(result.stdout, 'from-options\n');
});

test('an sshd that exits early is reported with its stderr and an install hint', async (t) => {
  if (!requireSshdOrSkip(t)) return;
  // A fake sshd first on PATH: real keygen and ssh, but a server that dies at once.
  const bin = tempDir(t);
  writeFileSync(join(bin, 'sshd'), '#!/bin/sh\necho "fake sshd: cannot start" >&2\nexit 1\n', { mode: 0o755 });
  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath ?? ''}`;
  t.after(() => {
    if (savedPath === undefined) delete process.env.PATH;
    else process.env.PATH = savedPath;
  });
  await assert.rejects(startSshd(), (error: Error) => {
    assert.match(error.message, /fake sshd: cannot start/);
    assert.match(error.message, /apt-get install openssh-server/);
    assert.match(error.message, /exited early/);
    return true;
  });
});
