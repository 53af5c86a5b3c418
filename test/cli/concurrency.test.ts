/**
 * Agents keep writing a database while a long local sync receives into it: none fails, none waits
 * longer than the README promises, and every note they wrote syncs. The agentless receiver is held to
 * the same bound under a heavier load of the same kind (test/ssh/sqlite-cli-concurrency.test.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { AGENT_NOTES, AGENTS, agentNotes, crowdedNotes, DOCUMENTED_AGENT_WAIT_MS, runWriter } from '../support/agents.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

for (const journal of ['delete', 'wal'] as const) {
  // A rollback journal needs agents that write with BEGIN IMMEDIATE (two bare INSERTs can fail each
  // other at once, sync or not); in WAL mode even bare INSERTs are safe.
  const style = journal === 'wal' ? 'autocommit' : 'immediate';
  const name = `agents (${style} writes, ${journal} journal) keep writing during a long sync, waiting under two seconds; every note survives and syncs`;
  test(name, async (t) => {
    const dir = tempDir(t);
    const main = createNotesDb(dir, 'main');
    withDb(main, (db) => db.exec(`PRAGMA journal_mode = ${journal}`));
    // Notes main already holds, with the timestamps of those arriving: each batch's dedupe takes a while.
    insertNotes(main, crowdedNotes('main', 10_000));
    const phone = createNotesDb(dir, 'phone');
    insertNotes(phone, crowdedNotes('phone', 6_000));
    const config = join(dir, 'c.toml');
    assert.equal((await runCli(['init', '--db', main, '--node', 'main', '--config', config])).code, 0);
    // Only the agents' notes go to the phone: main's own would take long to dedupe there.
    assert.equal((await runCli(['peer', 'add', 'phone', phone, '--push-context', 'agent', '--config', config])).code, 0);
    const [sync, ...writers] = await Promise.all([
      runCli(['sync', 'phone', '--batch-rows', '100', '--config', config]),
      ...Array.from({ length: AGENTS }, () => runWriter(main, AGENT_NOTES, style)),
    ]);
    assert.equal(sync.code, 0, sync.stderr);
    for (const writer of writers) {
      t.diagnostic(`an agent waited at most ${Math.round(writer.maxWaitMs)} ms`);
      assert.equal(writer.failures, 0, 'no agent insert failed with "database is locked"');
      assert.equal(writer.inserted, AGENT_NOTES);
      assert.ok(writer.maxWaitMs < DOCUMENTED_AGENT_WAIT_MS, `an agent waited ${Math.round(writer.maxWaitMs)} ms for the lock`);
    }
    const written = agentNotes(main, 'phone');
    assert.equal(written.total, AGENTS * AGENT_NOTES);
    assert.ok(written.amidSynced > 0, 'the agents wrote while the sync was receiving');
    // Notes written during the run travel in that run's push or, if written after it read its feed, the next.
    const next = await runCli(['sync', 'phone', '--config', config]);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(agentNotes(phone, 'phone').total, AGENTS * AGENT_NOTES);
  });
}
