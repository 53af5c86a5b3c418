/**
 * Agents writing a database while a sync runs: the fixture writer (test/fixtures/agent-writer.ts) as
 * child processes, and the wait the README promises them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sqliteNow } from '../../src/core/timestamps.js';
import type { Database } from '../../src/store/sqlite/driver.js';
import { withDb, type Note } from './notes-db.js';

const WRITER = fileURLToPath(new URL('../fixtures/agent-writer.js', import.meta.url));

/**
 * README, "Agents writing at the same time": an agent that finds the lock taken by a sync waits
 * under two seconds for it (the policy is store/write-lock-yield.ts).
 */
export const DOCUMENTED_AGENT_WAIT_MS = 2_000;

/**
 * Between two notes. Agents writing back to back starve each other in a rollback-journal database
 * with no sync at all (measured: up to 2.6 s here), which would say nothing about the sync; at this
 * pace two of them alone wait about a tenth of a second for each other.
 */
export const AGENT_PAUSE_MS = 50;

/** Agents writing at once, and the notes each writes. */
export const AGENTS = 3;
export const AGENT_NOTES = 100;

/** Distinct timestamps among crowdedNotes(): a few dozen, so each is shared by hundreds of notes. */
const SHARED_TIMESTAMPS = 40;

/**
 * Notes that make a receiver hold its write lock for a good part of a second per batch of a few
 * hundred, as a slow phone does: every arriving entry's dedupe lookup finds hundreds of stored notes
 * with its timestamp and compares each.
 */
export function crowdedNotes(who: string, count: number): Note[] {
  const start = Date.UTC(2025, 10, 30, 22);
  return Array.from({ length: count }, (_, i) => ({
    timestamp: sqliteNow(new Date(start + (i % SHARED_TIMESTAMPS) * 1000)),
    content: `${who} ${i} ${'z'.repeat(i % 300)}`,
    context: who,
    source: 's',
  }));
}

export interface WriterReport {
  inserted: number;
  failures: number;
  maxWaitMs: number;
}

export type WriteStyle = 'immediate' | 'autocommit';

/** One agent writing `count` notes (context 'agent') into `db` with a 5 s busy timeout, as Python's sqlite3 has. */
export function runWriter(db: string, count: number, style: WriteStyle, pauseMs = AGENT_PAUSE_MS): Promise<WriterReport> {
  const child = spawn(process.execPath, [WRITER, db, String(count), '5000', style, String(pauseMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as WriterReport) : reject(new Error(`writer exited ${code}`)))),
  );
}

const count = (db: Database, where: string): number =>
  Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE ${where}`).get()?.n);

/**
 * Agents' notes in `path`, and how many of them lie between the first and the last note of context
 * `synced` there (the notes a sync wrote): proof that the agents wrote while the sync did.
 */
export function agentNotes(path: string, synced: string): { total: number; amidSynced: number } {
  const range = (end: string) => `(SELECT ${end}(rowid) FROM resonance_notes WHERE context = '${synced}')`;
  return withDb(path, (db) => ({
    total: count(db, `context = 'agent'`),
    amidSynced: count(db, `context = 'agent' AND rowid > ${range('min')} AND rowid < ${range('max')}`),
  }));
}
