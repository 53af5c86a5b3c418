/**
 * What `pair --show` finds on a Termux-like system: the port from $PREFIX/etc/ssh/sshd_config (else
 * 8022 there, 22 elsewhere), the best host key beside it, and the database as `~/rel` under the home.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { advertisedDbPath, hostKeys, sshdPort } from '../../src/cli/pair/advertise.js';
import { tempDir } from '../support/temp.js';
import { ed25519Key } from '../unit/pair-token-fixtures.js';

test('Termux: the port from sshd_config, else 8022; elsewhere 22; the ed25519 host key first', (t) => {
  const prefix = join(tempDir(t), 'data', 'com.termux', 'files', 'usr');
  const etc = join(prefix, 'etc', 'ssh');
  mkdirSync(etc, { recursive: true });
  const env = { PREFIX: prefix };
  assert.equal(sshdPort(env), 8022);
  assert.equal(sshdPort({}), sshdPort({ PREFIX: '/usr' }), 'not Termux: the system sshd_config or 22');
  writeFileSync(join(etc, 'sshd_config'), '# Port 1\nPasswordAuthentication no\n  Port 9022\n');
  assert.equal(sshdPort(env), 9022);
  assert.throws(() => hostKeys(undefined, env), /no sshd host key found in .*com\.termux.*--host-key/);
  writeFileSync(join(etc, 'ssh_host_rsa_key.pub'), 'ssh-rsa AAAA junk\n');
  writeFileSync(join(etc, 'ssh_host_ed25519_key.pub'), `${ed25519Key(3)} root@localhost\n`);
  assert.deepEqual(hostKeys(undefined, env), [ed25519Key(3)]);
  assert.throws(() => hostKeys([join(etc, 'ssh_host_rsa_key.pub')], env), /not an sshd public host key/);
});

test('the database: ~/rel under the home, absolute elsewhere, and it must exist', (t) => {
  const outside = join(tempDir(t), 'r.sqlite3');
  assert.throws(() => advertisedDbPath(outside), /database not found/);
  writeFileSync(outside, '');
  assert.ok(advertisedDbPath(outside).startsWith('/'));
  // os.homedir() follows $HOME: a temp home, so the real one is never touched.
  const home = tempDir(t);
  const saved = process.env.HOME;
  process.env.HOME = home;
  t.after(() => {
    if (saved === undefined) delete process.env.HOME;
    else process.env.HOME = saved;
  });
  mkdirSync(join(home, 'notes'));
  writeFileSync(join(home, 'notes', 'h.sqlite3'), '');
  assert.equal(advertisedDbPath(join(home, 'notes', 'h.sqlite3')), '~/notes/h.sqlite3');
  assert.equal(advertisedDbPath('~/notes/h.sqlite3'), '~/notes/h.sqlite3');
});
