/**
 * The users' writers (test/support/writers.ts: the sqlite3 CLI with and without a busy timeout,
 * Python's sqlite3 with 5 s and 10 s) write a phone's database while an agentless push (a real sshd,
 * the remote sqlite3 receiving) writes 20,000 entries into it: those with a busy timeout lose no
 * write and wait less than the bound of test/cli/concurrency.test.ts; the one without is reported.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { expectNoneLost, WAITING_WRITERS, withWriters } from '../support/writers.js';
import { TEST_SQLITE3, sqliteUrl, sshdFor } from './sqlite-cli-support.js';

test('writers on the remote keep writing while an agentless push stores 20,000 entries there: none with a busy timeout loses a write', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  const start = Date.UTC(2025, 0, 1);
  insertNotes(
    main,
    Array.from({ length: 20_000 }, (_, i) => ({
      timestamp: new Date(start + i * 1000).toISOString(),
      content: `main ${i} ${'y'.repeat(200)}`,
      context: 'main',
      source: 'agent',
    })),
  );
  const config = join(dir, 'config.toml');
  const remote = TEST_SQLITE3 ? `remote_command = ${JSON.stringify(TEST_SQLITE3)}` : '';
  writeFileSync(
    config,
    [
      ...['[node]', 'name = "main"', `db = ${JSON.stringify(main)}`, ''],
      ...['[peers.phone]', `url = ${JSON.stringify(sqliteUrl(server, phone))}`, 'mode = "sqlite3"', remote, ''],
    ].join('\n'),
  );
  const push = () => runCli(['sync', '--push-only', '--config', config], { env: server.env });
  const { result, writers } = await withWriters(dir, phone, ['sqlite3-cli', ...WAITING_WRITERS], push, { sqlite3: TEST_SQLITE3 });
  assert.equal(result.code, 0, result.stderr);
  expectNoneLost(t, writers);
  assert.equal(
    withDb(phone, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'main'`).get()?.n)),
    20_000,
  );
});
