/**
 * `authorize` through a real sshd: the printed authorized_keys line (forced `serve --allow-db`,
 * `restrict`) lets the key sync its one database, even at a path full of quotes and shell syntax,
 * and refuses any other database the client asks for, touching nothing there.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { directionCounts, sshdFor, sshUrl } from './fixtures.js';

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
  const ok = await runCli(['sync', sshUrl(server, allowed), '--db', main, '--remote-command', '/nonexistent/ignored', '--json'], { env: server.env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(directionCounts(ok.stdout).map((d) => d.received), [1, 2]);

  const refused = await runCli(['sync', sshUrl(server, other), '--db', main], { env: server.env });
  assert.equal(refused.code, 7, refused.stderr);
  assert.match(refused.stderr.trim(), /this ssh login may only sync .*phone\.sqlite3 \(forced command in authorized_keys .*\), not .*other\.sqlite3; fix the peer URL \[DB_NOT_ALLOWED\]$/);
  assert.equal(refused.stderr.trim().split('\n').length, 1);
  assert.equal(allRows(other).length, 1);
  assert.equal(withDb(other, (db) => db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = 'resonance_sync_meta'`).get()?.n), 0, 'the other database was not even prepared');
  assert.equal(existsSync(marker), false, 'nothing in the path ran');
});
