/**
 * The pairing token: what the phone prints decodes to exactly what it meant; any change to the text
 * is caught by the checksum; and a token with a valid checksum but a hostile field (an ssh option, a
 * shell word, a newline for authorized_keys) is refused with PAIR_TOKEN_INVALID before anything uses it.
 * Also the per-peer ssh settings `pair` writes: read from the config, refused when ssh would expand
 * them, and turned into ssh options.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/config-file.js';
import { SyncError } from '../../src/core/errors.js';
import { decodePairToken, encodePairToken, hostKeyFromPublicKeyFile, type PairToken } from '../../src/core/pair-token.js';
import { parsePeerUrl } from '../../src/core/peer-url.js';
import { sshArgv, type SshLocation } from '../../src/transport/ssh/ssh-command.js';
import { tempDir } from '../support/temp.js';
import { ed25519Key, encodeForTest, GOOD_WIRE, rawToken } from './pair-token-fixtures.js';

const GOOD: PairToken = {
  user: 'u0_a311',
  hosts: ['192.168.1.20', 'fd00::1', 'phone.lan'],
  port: 8022,
  db: '~/selesta/r.sqlite3',
  name: 'selesta',
  hostKeys: [ed25519Key()],
};

function refused(text: string, pattern: RegExp): void {
  assert.throws(
    () => decodePairToken(text),
    (error: unknown) =>
      error instanceof SyncError && error.code === 'PAIR_TOKEN_INVALID' && pattern.test(error.message) && !error.message.includes('\n'),
  );
}

test('a token round-trips, survives surrounding whitespace, and is short enough for a QR code', () => {
  const token = encodePairToken(GOOD);
  assert.match(token, /^rspair1:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{8}$/);
  assert.deepEqual(decodePairToken(`  ${token}\n`), GOOD);
  assert.ok(token.length < 400, `${token.length}`);
});

test('every single-character change, cut or addition is caught', () => {
  const token = encodePairToken(GOOD);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:';
  fc.assert(
    fc.property(
      fc.nat({ max: token.length - 1 }),
      fc.constantFrom(...alphabet),
      fc.constantFrom('replace', 'insert', 'delete'),
      (at, char, how) => {
        const changed =
          how === 'replace'
            ? token.slice(0, at) + char + token.slice(at + 1)
            : how === 'insert'
              ? token.slice(0, at) + char + token.slice(at)
              : token.slice(0, at) + token.slice(at + 1);
        if (changed === token) return;
        assert.throws(
          () => decodePairToken(changed),
          (error: unknown) => error instanceof SyncError && error.code === 'PAIR_TOKEN_INVALID',
        );
      },
    ),
    { numRuns: 400 },
  );
});

test('another version, junk and wrong types are refused by name', () => {
  refused('rspair2:abc.12345678', /version 2/);
  refused('hello', /does not start with "rspair1:"/);
  refused(rawToken([1, 2]), /not an object/);
  refused(rawToken({ ...GOOD_WIRE, p: '8022' }), /port is missing/);
  refused(rawToken({ ...GOOD_WIRE, p: 0 }), /port must be/);
  refused(rawToken({ ...GOOD_WIRE, h: [] }), /1 to 8 hosts/);
  refused(rawToken({ ...GOOD_WIRE, k: [] }), /1 to 4 host keys/);
  refused(`rspair1:${'A'.repeat(9000)}.AAAAAAAA`, /longer than/);
});

test('hostile fields with a valid checksum: ssh options, shell words, newlines, forged keys', () => {
  refused(encodeForTest({ u: '-oProxyCommand=sh' }), /must not start with "-"/);
  refused(encodeForTest({ u: 'u0 -F/x' }), /user name may only contain/);
  refused(encodeForTest({ h: ['-oProxyCommand=sh'] }), /host must not start with "-"/);
  refused(encodeForTest({ h: ['a;b'] }), /host may only contain/);
  refused(encodeForTest({ h: ['u@h'] }), /host may only contain/);
  refused(encodeForTest({ d: '/x\n' }), /control character/);
  refused(encodeForTest({ d: 'x.sqlite3' }), /absolute or start with/);
  refused(encodeForTest({ n: '-x' }), /node name/);
  refused(encodeForTest({ k: ['ssh-ed25519 AAAA', 'x'] }), /host key/);
  refused(encodeForTest({ k: ['ssh-dss AAAAB3NzaC1kc3M='] }), /not one sshd uses/);
  // A well-formed key whose blob names another type.
  const blob = Buffer.from(ed25519Key().split(' ')[1] as string, 'base64');
  refused(encodeForTest({ k: [`ssh-rsa ${blob.toString('base64')}`] }), /does not match its type/);
});

test('a phone never prints a token its desktop would refuse', () => {
  assert.throws(() => encodePairToken({ ...GOOD, user: '-o' }), /PAIR|user name/);
  assert.throws(
    () => encodePairToken({ ...GOOD, db: 'relative' }),
    (error: unknown) => error instanceof SyncError && error.code === 'PAIR_TOKEN_INVALID',
  );
});

test('hostKeyFromPublicKeyFile keeps type and key, drops the comment, refuses anything else', () => {
  assert.equal(hostKeyFromPublicKeyFile(`${ed25519Key()} root@phone\n`), ed25519Key());
  assert.equal(hostKeyFromPublicKeyFile('-----BEGIN OPENSSH PRIVATE KEY-----'), undefined);
});

test("identity_file, known_hosts_file and host_key_alias: read, expanded, turned into ssh options after the user's own", (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'config.toml');
  const peer = (extra: string) => writeFileSync(config, `[peers.phone]\nurl = "ssh://u@10.0.0.2:8022/~/r.sqlite3"\n${extra}\n`);
  peer('identity_file = "~/.ssh/resonance-sync_ed25519"\nknown_hosts_file = "/k/known hosts"\nhost_key_alias = "resonance-sync.phone"');
  const loaded = loadConfig(config, { mustExist: true }).peers[0];
  assert.ok(loaded && loaded.location.kind === 'ssh');
  assert.equal(loaded.identityFile, '~/.ssh/resonance-sync_ed25519');
  const argv = sshArgv(loaded.location as SshLocation, { remoteCommand: undefined, env: { RESONANCE_SYNC_SSH: 'ssh -F /dev/null' } });
  const at = (option: string) => argv[argv.indexOf(option) + 1];
  assert.match(at('-i') ?? '', /^\/.*\/\.ssh\/resonance-sync_ed25519$/, 'expanded here: ssh would use the passwd home, not $HOME');
  assert.ok(argv.includes('IdentitiesOnly=yes'));
  assert.ok(argv.includes('UserKnownHostsFile="/k/known hosts"'));
  assert.ok(argv.includes('StrictHostKeyChecking=yes'));
  assert.ok(argv.includes('HostKeyAlias=resonance-sync.phone'));
  assert.ok(argv.indexOf('-i') > argv.indexOf('/dev/null') && argv.indexOf('-i') < argv.indexOf('10.0.0.2'));

  for (const [line, pattern] of [
    ['identity_file = "~/%d/key"', /identity_file: must not contain %/],
    ['known_hosts_file = "/x/$HOME"', /known_hosts_file: must not contain %, \$/],
    ['identity_file = "relative"', /identity_file: must be an absolute path/],
    ['host_key_alias = "-oProxyCommand=x"', /host_key_alias: must be a host name/],
  ] as const) {
    peer(line);
    assert.throws(() => loadConfig(config, { mustExist: true }), pattern);
  }
  writeFileSync(config, '[peers.local]\nurl = "/x.sqlite3"\nidentity_file = "~/k"\n');
  assert.throws(() => loadConfig(config, { mustExist: true }), /for ssh peers only/);
  // A URL alone never carries them.
  assert.equal((parsePeerUrl('ssh://u@h/x') as SshLocation).ssh, undefined);
});
