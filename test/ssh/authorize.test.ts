/**
 * `authorize` through a real sshd: the printed authorized_keys line (forced `serve --allow-db`,
 * `restrict`) lets the key sync its one database, even at a path full of quotes and shell syntax,
 * and refuses any other database the client asks for, touching nothing there. The same key used
 * agentless gets one line saying it is restricted to the agent, and the fix that line gives works.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { directionCounts, failedWith, sshdFor, sshUrl, writeConfig } from './fixtures.js';

test('an authorize line confines a key to one database; asking for another is refused', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const marker = join(dir, 'pwned');
  const allowedDir = join(dir, `say "hi" it's $(touch ${marker})`);
  mkdirSync(allowedDir, { recursive: true });
  const main = createNotesDb(dir, 'main');
  const allowed = createNotesDb(allowedDir, 'phone');
  const other = createNotesDb(dir, 'other');
  insertNotes(allowed, [{ timestamp: '2025-11-30 23:00:00', content: 'allowed', context: 'c', source: 's' }]);
  insertNotes(other, [{ timestamp: '2025-11-30 23:00:00', content: 'secret', context: 'c', source: 's' }]);
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'c', source: 's' }]);

  const printed = await runCli(['authorize', '--db', allowed, '--key', `${server.identityPath}.pub`]);
  assert.equal(printed.code, 0, printed.stderr);
  const line = printed.stdout.trim();
  assert.match(line, /^command=".*'serve' '--stdio' '--allow-db' '.*phone\.sqlite3'",restrict ssh-ed25519 \S+ resonance-test-user$/);
  server.setAuthorizedKeys([line]);

  // The remote command the client asks for is replaced by the forced one; the path check still holds.
  const ok = await runCli(['sync', sshUrl(server, allowed), '--db', main, '--remote-command', '/nonexistent/ignored', '--json'], {
    env: server.env,
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(
    directionCounts(ok.stdout).map((d) => d.received),
    [1, 2],
  );

  const refused = await runCli(['sync', sshUrl(server, other), '--db', main], { env: server.env });
  assert.equal(refused.code, 7, refused.stderr);
  assert.match(
    refused.stderr.trim(),
    /this ssh login may only sync .*phone\.sqlite3 \(forced command in authorized_keys .*\), not .*other\.sqlite3; fix the peer URL \[DB_NOT_ALLOWED\]$/,
  );
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  assert.equal(allRows(other).length, 1);
  assert.equal(
    withDb(other, (db) => db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = 'resonance_sync_meta'`).get()?.n),
    0,
    'the other database was not even prepared',
  );
  assert.equal(existsSync(marker), false, 'nothing in the path ran');
});

test('an authorize key used agentless (mode sqlite3) says the key is restricted to the agent; mode auto then syncs', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'from the phone', context: 'c', source: 's' }]);
  const printed = await runCli(['authorize', '--db', phone, '--key', `${server.identityPath}.pub`]);
  assert.equal(printed.code, 0, printed.stderr);
  const original = readFileSync(server.authorizedKeysPath, 'utf8');
  t.after(() => writeFileSync(server.authorizedKeysPath, original, { mode: 0o600 }));
  server.setAuthorizedKeys([printed.stdout.trim()]);
  const config = (mode: string) =>
    writeConfig(dir, main, 'main', [{ name: 'phone', url: sshUrl(server, phone), extra: `mode = "${mode}"` }], { syncNote: false });

  const agentless = await runCli(['sync', '--config', config('sqlite3')], { env: server.env });
  failedWith(
    agentless,
    7,
    'KEY_RESTRICTED',
    /^resonance-sync: phone: \S+@127\.0\.0\.1:\d+ started the resonance-sync agent instead of agentless sync: this ssh key is restricted to the agent \(a forced command in ~\/\.ssh\/authorized_keys there\); set mode = "agent" or "auto" for this peer, or use another key for agentless sync/,
  );
  assert.equal(allRows(main).length, 0, 'nothing was synced');
  assert.deepEqual(
    readdirSync(dir).sort(),
    ['config.toml', 'main.sqlite3', 'main.sqlite3-sync.lock', 'phone.sqlite3'],
    'the agent took no lock',
  );

  // The fix the line gives works with the very same key.
  const auto = await runCli(['sync', '--config', config('auto')], { env: server.env });
  assert.equal(auto.code, 0, auto.stderr);
  assert.deepEqual(
    allRows(main).map((row) => row.content),
    ['from the phone'],
  );
});
