import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

const WRITER = fileURLToPath(new URL('../fixtures/agent-writer.js', import.meta.url));

function runWriter(db: string, count: number, style: 'immediate' | 'autocommit'): Promise<{ inserted: number; failures: number; maxWaitMs: number }> {
  const child = spawn(process.execPath, [WRITER, db, String(count), '5000', style], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`writer exited ${code}`)))));
}

for (const journal of ['delete', 'wal'] as const) {
  // A rollback journal needs agents that write with BEGIN IMMEDIATE (two bare INSERTs can fail each
  // other at once, sync or not); in WAL mode even bare INSERTs are safe.
  const style = journal === 'wal' ? 'autocommit' : 'immediate';
  test(`agents (${style} writes, ${journal} journal) keep writing during a long sync; every note survives and syncs next time`, async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  withDb(main, (db) => db.exec(`PRAGMA journal_mode = ${journal}`));
  const phone = createNotesDb(dir, 'phone');
  insertNotes(phone, Array.from({ length: 25_000 }, (_, i) => ({ timestamp: `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`, content: `phone ${i} ${'z'.repeat(i % 300)}`, context: 'c', source: 's' })));
  const config = join(dir, 'c.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main', '--config', config])).code, 0);
  const [sync, writerA, writerB] = await Promise.all([
    runCli(['sync', phone, '--batch-rows', '500', '--config', config]),
    runWriter(main, 400, style),
    runWriter(main, 400, style),
  ]);
  assert.equal(sync.code, 0, sync.stderr);
  for (const writer of [writerA, writerB]) {
    assert.equal(writer.failures, 0, 'no agent insert failed with "database is locked"');
    assert.equal(writer.inserted, 400);
  }
  const agentNotes = withDb(main, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'agent'`).get()?.n));
  assert.equal(agentNotes, 800);
  // Notes written during the run travel in that run's push or, if written after it read its feed, the next.
  const next = await runCli(['sync', phone, '--config', config]);
  assert.equal(next.code, 0, next.stderr);
  const inPhone = withDb(phone, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'agent'`).get()?.n));
  assert.equal(inPhone, 800);
});
}
