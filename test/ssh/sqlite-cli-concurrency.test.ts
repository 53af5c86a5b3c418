/**
 * Agents keep writing a phone's database while a long agentless push (mode sqlite3, a real sshd)
 * writes into it: the remote's batches yield its write lock as a local receiver's do, so no agent
 * fails or waits longer than the README promises (the bound of test/cli/concurrency.test.ts), and
 * every note they wrote comes back in a pull. Each batch holds the phone's lock for up to about half
 * a second here, as on a slow phone. A receiver that only paused briefly between such batches, as
 * the agentless one did, let one agent in now and then, by luck: three of them waited up to their
 * 5 s busy timeout.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { AGENT_NOTES, AGENTS, agentNotes, crowdedNotes, DOCUMENTED_AGENT_WAIT_MS, runWriter } from '../support/agents.js';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { TEST_SQLITE3, sqliteUrl, sshdFor } from './sqlite-cli-support.js';

test('agents writing the remote database during a long agentless push wait under two seconds; every note survives and comes back', async (t) => {
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(phone, crowdedNotes('phone', 16_000));
  insertNotes(main, crowdedNotes('main', 6_000));
  const config = join(dir, 'config.toml');
  const remote = TEST_SQLITE3 ? `sqlite3_command = ${JSON.stringify(TEST_SQLITE3)}` : '';
  writeFileSync(
    config,
    [
      ...['[node]', 'name = "main"', `db = ${JSON.stringify(main)}`, 'sync_note = false', ''],
      ...['[peers.phone]', `url = ${JSON.stringify(sqliteUrl(server, phone))}`, 'mode = "sqlite3"', remote, ''],
      // Only the agents' notes come back: the phone's own would take long to dedupe against these crowded timestamps.
      ...['[peers.phone.pull]', 'include_context = ["agent"]', ''],
    ].join('\n'),
  );
  const sync = (direction: string) => runCli(['sync', direction, '--batch-rows', '200', '--config', config], { env: server.env });

  // The phone's agents write with BEGIN IMMEDIATE into its rollback-journal database, as careful agents there do.
  const [push, ...writers] = await Promise.all([
    sync('--push-only'),
    ...Array.from({ length: AGENTS }, () => runWriter(phone, AGENT_NOTES, 'immediate')),
  ]);
  assert.equal(push.code, 0, push.stderr);
  for (const writer of writers) {
    t.diagnostic(`an agent waited at most ${Math.round(writer.maxWaitMs)} ms`);
    assert.equal(writer.failures, 0, 'no agent insert failed with "database is locked"');
    assert.equal(writer.inserted, AGENT_NOTES);
    assert.ok(writer.maxWaitMs < DOCUMENTED_AGENT_WAIT_MS, `an agent waited ${Math.round(writer.maxWaitMs)} ms for the lock`);
  }
  const written = agentNotes(phone, 'main');
  assert.equal(written.total, AGENTS * AGENT_NOTES);
  assert.ok(written.amidSynced > 0, 'the agents wrote while the push was writing');
  const pull = await sync('--pull-only');
  assert.equal(pull.code, 0, pull.stderr);
  assert.equal(agentNotes(main, 'main').total, AGENTS * AGENT_NOTES);
});
