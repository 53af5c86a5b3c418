/**
 * The ssh command line: arguments we add reach the remote program exactly as given whatever they
 * contain (checked against real POSIX shells), host-key checking is never loosened, and ssh's
 * failures map to the documented error codes.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { exitCodeOf } from '../../src/core/errors.js';
import { parsePeerUrl } from '../../src/core/peer-url.js';
import {
  connectTimeoutSeconds,
  remoteServeCommand,
  shellQuote,
  sshArgv,
  sshFailure,
  type SshLocation,
} from '../../src/transport/ssh/ssh-command.js';

function ssh(url: string): SshLocation {
  const location = parsePeerUrl(url);
  assert.equal(location.kind, 'ssh');
  return location as SshLocation;
}

const HOSTILE = [
  `it's`,
  `"dq"`,
  '$(touch /tmp/x)',
  '`id`',
  'a; rm -rf ~',
  'a && b',
  '$HOME',
  '~',
  '*',
  'a\\b',
  ' lead',
  'tab\tin',
  '-rf',
  "'''",
  'ж 🙂',
];

test('shellQuote: sh and bash hand every word to the program unchanged', () => {
  const printed = (shell: string, word: string) => execFileSync(shell, ['-c', `printf %s ${shellQuote(word)}`]).toString('utf8');
  for (const word of HOSTILE) {
    assert.equal(printed('/bin/sh', word), word);
    assert.equal(printed('bash', word), word);
  }
  fc.assert(
    fc.property(
      fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => !s.includes('\0') && !/\p{Surrogate}/u.test(s)),
      (word) => {
        assert.equal(printed('/bin/sh', word), word);
      },
    ),
    { numRuns: 60 },
  );
});

test('the argv: batch mode, timeouts, port and user as options, host alone, quoted remote command', () => {
  const location = ssh("ssh://me@phone.lan:8022/data/it's $(x).sqlite3");
  const argv = sshArgv(location, { remoteCommand: undefined, env: {} });
  assert.equal(argv[0], 'ssh');
  assert.ok(argv.includes('BatchMode=yes'));
  assert.ok(argv.includes('ConnectTimeout=15'));
  assert.deepEqual(argv.slice(argv.indexOf('-p'), argv.indexOf('-p') + 2), ['-p', '8022']);
  assert.deepEqual(argv.slice(argv.indexOf('-l'), argv.indexOf('-l') + 2), ['-l', 'me']);
  assert.equal(argv.at(-2), 'phone.lan');
  assert.equal(argv.at(-1), `resonance-sync 'serve' '--stdio' '--db' '/data/it'\\''s $(x).sqlite3'`);
  assert.ok(!argv.some((arg) => /StrictHostKeyChecking|UserKnownHostsFile/.test(arg)), 'host key checking is left to ssh and the user');

  const custom = sshArgv(ssh('phone:notes/r.sqlite3'), {
    remoteCommand: '~/bin/resonance-sync',
    env: { RESONANCE_SYNC_SSH: ' ssh  -F /cfg  -i key ', RESONANCE_SYNC_CONNECT_TIMEOUT: '3' },
  });
  assert.deepEqual(custom.slice(0, 5), ['ssh', '-F', '/cfg', '-i', 'key']);
  assert.ok(custom.includes('ConnectTimeout=3'));
  assert.ok(!custom.includes('-p') && !custom.includes('-l'));
  assert.equal(custom.at(-1), `~/bin/resonance-sync 'serve' '--stdio' '--db' '~/notes/r.sqlite3'`, 'home-relative: the agent expands ~/');
  assert.equal(remoteServeCommand(ssh('h:/abs'), 'env X=1 node /opt/rs.js'), `env X=1 node /opt/rs.js 'serve' '--stdio' '--db' '/abs'`);
  assert.throws(() => connectTimeoutSeconds({ RESONANCE_SYNC_CONNECT_TIMEOUT: 'soon' }), /whole number of seconds/);
});

test('ssh failures map to typed errors with their exit code family', () => {
  const location = ssh('ssh://me@phone:8022/x.sqlite3');
  const classify = (code: number | null, stderr: string, started = false, junk = '') =>
    sshFailure({ code, signal: code === null ? 'SIGKILL' : null, stderr }, { location, started, junk, remoteCommand: undefined });
  const cases: Array<[ReturnType<typeof classify>, string, RegExp]> = [
    [classify(255, 'ssh: connect to host phone port 8022: Connection refused'), 'PEER_UNREACHABLE', /Connection refused/],
    [classify(255, 'ssh: Could not resolve hostname phone: Name or service not known'), 'PEER_UNREACHABLE', /resolve/],
    [classify(255, 'ssh: connect to host phone port 8022: Connection timed out'), 'PEER_UNREACHABLE', /timed out/],
    [
      classify(255, '@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@\nHost key verification failed.'),
      'HOST_KEY_CHANGED',
      /ssh-keygen -R '\[phone\]:8022'/,
    ],
    [
      classify(255, 'No ED25519 host key is known for [phone]:8022 and you have requested strict checking.\nHost key verification failed.'),
      'HOST_KEY_UNKNOWN',
      /known_hosts/,
    ],
    [classify(255, 'me@phone: Permission denied (publickey).'), 'AUTH_FAILED', /authorized_keys/],
    [classify(127, 'bash: line 1: resonance-sync: command not found'), 'AGENT_MISSING', /command not found.*remote_command/],
    [classify(2, "error: unknown command 'serve'"), 'PROTOCOL_VERSION', /too old.*upgrade resonance-sync on phone/],
    [classify(0, '', false, '"Welcome to Termux!"'), 'PROTOCOL_ERROR', /printed "Welcome to Termux!" and ended.*bashrc/],
    [classify(1, 'Segmentation fault'), 'REMOTE_ERROR', /Segmentation fault/],
    [classify(255, 'client_loop: send disconnect: Broken pipe', true), 'CONNECTION_LOST', /next sync resumes/],
    [classify(null, '', true), 'CONNECTION_LOST', /killed by SIGKILL/],
  ];
  for (const [error, code, message] of cases) {
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    assert.ok(!error.message.includes('\n'), 'one line');
  }
  assert.equal(exitCodeOf('PEER_UNREACHABLE'), 6);
  assert.equal(exitCodeOf('CONNECTION_LOST'), 6);
  for (const code of ['HOST_KEY_CHANGED', 'HOST_KEY_UNKNOWN', 'AUTH_FAILED', 'AGENT_MISSING', 'PROTOCOL_VERSION'] as const)
    assert.equal(exitCodeOf(code), 7);
});
