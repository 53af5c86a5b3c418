/**
 * A database found replaced, told from the memory kept outside it (store/node-memory.ts), and what
 * `adopt` does about it. Three kinds:
 *
 * - `fresh`: a file with no sync identity where this node's database was (a rotation script that
 *   deleted the file and re-created it from a schema file, a wipe, a restore from a schema).
 * - `older`: this node's own identity, but its feed ends below the high-water mark this machine saw
 *   (restored from an older copy or backup).
 * - `copy`: another node's identity (a file copier such as rsync, adb pull or cp wrote another node's
 *   database over this one).
 *
 * Nothing is synced into a replaced file unattended unless `on_replaced` says so, because the two
 * possible answers differ by gigabytes: `continue` (keep the file as this node's next cycle: only new
 * entries flow, both ways) and `refill` (receive again everything the peers hold).
 */
import { renameSync } from 'node:fs';
import { SyncError } from '../core/errors.js';
import { CURSORS_TABLE, META_TABLE, NODES_TABLE, NOTES_TABLE } from '../core/notes-table.js';
import { writeMeta, readMeta } from './meta.js';
import { notesMaxRowid, type NodeMemory } from './node-memory.js';
import { prepareDatabase } from './prepare.js';
import { tableExists } from './schema.js';
import type { Database } from './sqlite/driver.js';
import { openDatabase } from './sqlite/open-database.js';
import { inTransaction } from './sqlite/transaction.js';

export type ReplacementKind = 'fresh' | 'older' | 'copy';
export type ReplacedChoice = 'continue' | 'refill';

export interface Replacement {
  kind: ReplacementKind;
  path: string;
  memory: NodeMemory;
  /** What the file holds now. */
  found: { nodeId: string | undefined; nodeName: string | undefined; maxRowid: number };
}

/** Compares the file with what this machine remembers of it; undefined when it is the same database (or nothing is remembered). */
export function findReplacement(db: Database, path: string, memory: NodeMemory | undefined): Replacement | undefined {
  if (!memory) return undefined;
  const meta = tableExists(db, META_TABLE) ? readMeta(db) : {};
  const found = {
    nodeId: meta.node_id,
    nodeName: meta.node_name,
    maxRowid: tableExists(db, NOTES_TABLE) ? notesMaxRowid(db) : 0,
  };
  const kind: ReplacementKind | undefined =
    found.nodeId === undefined ? 'fresh' : found.nodeId !== memory.nodeId ? 'copy' : found.maxRowid < memory.maxRowid ? 'older' : undefined;
  return kind ? { kind, path, memory, found } : undefined;
}

/** The one line a sync or a cron run stops with: what happened, and the commands to choose. */
export function replacementError(replacement: Replacement): SyncError {
  const { path, memory, found } = replacement;
  const name = memory.nodeName;
  const had = `it held node ${name}'s feed up to rowid ${memory.maxRowid}`;
  if (replacement.kind === 'copy') {
    const other = found.nodeName ?? found.nodeId ?? 'another node';
    return new SyncError(
      'DATABASE_OVERWRITTEN',
      `${path} was overwritten by a copy of ${other}'s database — a file copier such as rsync, adb pull or cp is running; stop it. ${lostLine(memory)}; nothing was synced. Once the copier is stopped, get ${name}'s entries back from the peers with: resonance-sync adopt --refill (the copy is moved aside, not deleted)`,
    );
  }
  const what =
    replacement.kind === 'fresh'
      ? `was replaced by a new file with ${found.maxRowid} entries and no sync identity (a rotation script, a wipe, or a restore from a schema file)`
      : `was restored from an older copy: it ends at rowid ${found.maxRowid}`;
  return new SyncError(
    'DATABASE_REPLACED',
    `${path} ${what}; ${had}; nothing was synced. Choose: resonance-sync adopt --continue (keep this file as ${name}'s next cycle: only new entries flow) or resonance-sync adopt --refill (receive again everything the peers hold); on_replaced in the config can make the choice for unattended runs`,
  );
}

/** What a copy lost: the node's feed high-water mark, and how much of it reached which peer. */
function lostLine(memory: NodeMemory): string {
  const reached = memory.pushedThrough.map((p) => `${p.peer} through ${p.throughRowid}`).join(', ');
  return `Lost here: node ${memory.nodeName}'s database, whose feed reached rowid ${memory.maxRowid}${reached ? ` (its peers had received it: ${reached}; later entries exist only in a backup)` : ''}`;
}

/**
 * Makes the replaced file this node's database again, as chosen. The caller holds the sync lock.
 * Returns lines saying what was done.
 */
export function adoptReplacement(path: string, replacement: Replacement, choice: ReplacedChoice): string[] {
  const { memory } = replacement;
  if (replacement.kind === 'copy') {
    if (choice === 'continue') {
      throw new SyncError(
        'USAGE',
        `${path} is a copy of ${replacement.found.nodeName ?? 'another node'}'s database, which cannot continue as ${memory.nodeName}: stop the copier, then run resonance-sync adopt --refill`,
      );
    }
    return refillOverCopy(path, replacement);
  }
  const db = openDatabase(path);
  try {
    const changes = prepareDatabase(db, path, { nodeName: memory.nodeName, nodeId: memory.nodeId }).changes;
    inTransaction(db, 'IMMEDIATE', () => {
      if (choice === 'continue') {
        // What this node had received stays received: its cursors come back, so only new entries arrive.
        const restore = db.prepare(
          `INSERT INTO ${CURSORS_TABLE} (sender_id, route_key, sender_name, through_rowid, updated_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT(sender_id, route_key) DO UPDATE SET through_rowid = max(through_rowid, excluded.through_rowid)`,
        );
        const now = new Date().toISOString();
        for (const cursor of memory.cursors) restore.run(cursor.senderId, cursor.routeKey, cursor.senderName, cursor.throughRowid, now);
        const node = db.prepare(
          `INSERT INTO ${NODES_TABLE} (node_id, name, first_seen, last_seen) VALUES (?, ?, ?, ?) ON CONFLICT(node_id) DO NOTHING`,
        );
        for (const known of memory.knownNodes) node.run(known.id, known.name, now, now);
        writeMeta(db, 'continued_below', String(memory.maxRowid));
        changes.push(
          `continued as ${memory.nodeName} (${memory.nodeId}): ${memory.cursors.length} cursors restored, so only new entries arrive; peers read this file's own entries from its start once`,
        );
      } else {
        db.prepare(`DELETE FROM ${META_TABLE} WHERE key = 'continued_below'`).run();
        changes.push(
          `kept ${memory.nodeName}'s identity (${memory.nodeId}); the next sync receives again everything the peers hold (dedupe keeps each entry once)`,
        );
      }
    });
    return changes;
  } finally {
    db.close();
  }
}

/** A copy holds another node's entries under its identity: it is moved aside and the node starts an empty file, refilled by its peers. */
function refillOverCopy(path: string, replacement: Replacement): string[] {
  const { memory } = replacement;
  const db = openDatabase(path);
  let tableSql: string;
  try {
    tableSql = String(db.prepare(`SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?`).get(NOTES_TABLE)?.sql ?? '');
    // Fold a WAL into the file, so the file moved aside is whole on its own.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  if (!tableSql) throw new SyncError('DB_NO_NOTES_TABLE', `${path} has no ${NOTES_TABLE} table`);
  const aside = `${path}.copy-of-${replacement.found.nodeName ?? 'another-node'}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  renameSync(path, aside);
  const fresh = openDatabase(path, { create: true });
  try {
    fresh.exec(tableSql.replace(/^CREATE TABLE\s+(IF NOT EXISTS\s+)?/i, 'CREATE TABLE IF NOT EXISTS '));
    prepareDatabase(fresh, path, { nodeName: memory.nodeName, nodeId: memory.nodeId });
  } finally {
    fresh.close();
  }
  return [
    `moved the copy of ${replacement.found.nodeName ?? 'another node'}'s database aside to ${aside}`,
    `new empty database for ${memory.nodeName} (${memory.nodeId}); the next sync receives again everything the peers hold`,
  ];
}

/** Reads the file as it is, without preparing or writing anything. */
export function inspectDatabase(path: string, memory: NodeMemory | undefined): Replacement | undefined {
  if (!memory) return undefined;
  const db = openDatabase(path, { readOnly: true });
  try {
    return findReplacement(db, path, memory);
  } finally {
    db.close();
  }
}
