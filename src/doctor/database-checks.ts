/**
 * Doctor checks on a database file on this machine: this node's own, or a local peer's. Everything
 * is read-only (the file is opened read-only; nothing is prepared or locked), so the doctor can run
 * next to the agents and next to a sync.
 */
import { existsSync, realpathSync } from 'node:fs';
import { readMeta } from '../store/meta.js';
import { countDuplicates } from '../store/duplicates.js';
import { isPrepared } from '../store/prepare.js';
import { readNodeMemory } from '../store/node-memory.js';
import { findReplacement, replacementError } from '../store/replacement.js';
import { indexExists, probeNotesTable, timestampIndexes } from '../store/schema.js';
import { NOTES_TABLE, TIMESTAMP_INDEX, UNIQUE_INDEX } from '../core/notes-table.js';
import type { Database } from '../store/sqlite/driver.js';
import { databaseError, openDatabase } from '../store/sqlite/open-database.js';
import { fail, failFrom, ok, skip, warn, type CheckResult } from './check.js';

/** Opens, checks integrity and the notes table; undefined (with a failure recorded) if unusable. */
function openChecked(path: string, results: CheckResult[], peer: string | undefined): Database | undefined {
  let db: Database;
  try {
    db = openDatabase(path, { readOnly: true });
  } catch (error) {
    results.push(failFrom('database', error, peer));
    return undefined;
  }
  try {
    probeNotesTable(db, path);
    const entries = Number(db.prepare(`SELECT count(*) AS n FROM ${NOTES_TABLE}`).get()?.n ?? 0);
    // quick_check: the structural half of integrity_check, in O(N) rather than O(N log N).
    const problems = db
      .prepare('PRAGMA quick_check(3)')
      .all()
      .map((row) => String(Object.values(row)[0]));
    if (problems.length === 1 && problems[0] === 'ok') {
      results.push(ok('database', `${path}: ${entries} entries, quick_check ok`, peer));
      return db;
    }
    results.push(
      fail(
        'database',
        `${path} fails quick_check: ${problems.join('; ')}`,
        `stop its writers and restore a copy, or salvage it with: sqlite3 ${path} .recover | sqlite3 recovered.sqlite3`,
        'DB_CORRUPT',
        peer,
      ),
    );
  } catch (error) {
    results.push(failFrom('database', databaseError(error, path, 'checking it'), peer));
  }
  db.close();
  return undefined;
}

/** This node's database: integrity, journal mode, identity, dedupe index, duplicates already there. */
export function checkLocalDatabase(path: string): CheckResult[] {
  const results: CheckResult[] = [];
  const db = openChecked(path, results, undefined);
  if (!db) return [...results, skip('database details', 'skipped: the database cannot be used')];
  try {
    const mode = String(db.prepare('PRAGMA journal_mode').get()?.journal_mode ?? '?').toLowerCase();
    results.push(
      mode === 'wal'
        ? ok('journal mode', 'wal (agents can write while a sync reads)')
        : warn(
            'journal mode',
            `${mode}: agents and syncs wait on each other's writes more than they need to`,
            `sqlite3 ${path} 'PRAGMA journal_mode=WAL' once (not on network or Android shared storage, where WAL cannot work)`,
          ),
    );
    const replaced = findReplacement(db, path, readNodeMemory(path));
    if (replaced) {
      // Not healthy, whatever its integrity: it is not the database this node synced (a rotation
      // script, a wipe, a restore, or a file copier writing another node's database over it).
      results.push(failFrom('identity', replacementError(replaced)));
      results.push(skip('dedupe', 'skipped until the replaced database is adopted'));
    } else if (!isPrepared(db)) {
      results.push(
        fail(
          'identity',
          `${path} has not been prepared for sync`,
          `resonance-sync init --db ${path} --node NAME`,
          'DB_NOT_INITIALIZED',
          undefined,
        ),
      );
      results.push(skip('dedupe', 'skipped until the database is prepared'));
    } else {
      const meta = readMeta(db);
      results.push(ok('identity', `node ${meta.node_name ?? '?'} (${meta.node_id ?? '?'})`));
      results.push(dedupeCheck(db, path, meta.dedupe ?? 'timestamp-index'));
    }
    const duplicates = countDuplicates(db);
    results.push(
      duplicates.extraRows === 0
        ? ok('duplicates', 'none')
        : warn(
            'duplicates',
            `${duplicates.extraRows} extra copies in ${duplicates.groups} groups were already there (kept; a sync never adds more)`,
            'none needed; they only rule out dedupe = "unique-index"',
          ),
    );
  } catch (error) {
    results.push(failFrom('database details', databaseError(error, path, 'checking it')));
  } finally {
    db.close();
  }
  return results;
}

function dedupeCheck(db: Database, path: string, mode: string): CheckResult {
  // Any index whose first key is the timestamp serves the lookup (the users' own idx_timestamp too);
  // the unique mode wants the unique index itself.
  const found = mode === 'unique-index' ? (indexExists(db, UNIQUE_INDEX) ? [UNIQUE_INDEX] : []) : timestampIndexes(db);
  if (found.length > 0) return ok('dedupe', `${mode} (index ${found.join(', ')})`);
  const index = mode === 'unique-index' ? UNIQUE_INDEX : TIMESTAMP_INDEX;
  return fail(
    'dedupe',
    `the index ${index} is missing: every arriving entry would scan the whole table to find duplicates`,
    `resonance-sync init --db ${path} (recreates it; nothing else changes)`,
    'DB_NOT_INITIALIZED',
    undefined,
  );
}

/** A peer that is a file on this machine (a second database, a USB disk). */
export function checkLocalPeer(name: string, path: string, localDbPath: string): CheckResult[] {
  if (existsSync(path) && existsSync(localDbPath) && realpathSync(path) === realpathSync(localDbPath)) {
    return [fail('database', `${path} is this node's own database`, 'point the peer at the other database', 'SAME_DATABASE', name)];
  }
  const results: CheckResult[] = [];
  const db = openChecked(path, results, name);
  if (db) {
    const prepared = isPrepared(db);
    db.close();
    if (!prepared) results.push(ok('identity', 'not prepared yet: the first sync prepares it', name));
  }
  return results;
}
