/**
 * What this machine remembers about each database it syncs, kept OUTSIDE the database: a file that
 * replaces the database (a rotation script, a wipe, a restore, a copier such as rsync or adb pull)
 * takes the identity stored inside it along, so only memory kept elsewhere can tell that it happened.
 *
 * One small JSON file per database path under `$XDG_STATE_HOME/resonance-sync/databases/` (else
 * `~/.local/state/...`): the node id and name last seen in the file, the highest rowid it held (its
 * feed's high-water mark), and the cursors and known nodes it had, so that `adopt --continue` can give
 * a replacement back what it had received. Written after every sync, init, rotate and adopt; a lagging
 * record is safe (cursors that lag only make dedupe drop what comes again), a missing one detects nothing.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { CURSORS_TABLE, NODES_TABLE, NOTES_TABLE, PEER_STATE_TABLE } from '../core/notes-table.js';
import type { Database } from './sqlite/driver.js';
import { openDatabase } from './sqlite/open-database.js';
import { readMeta } from './meta.js';
import { tableExists } from './schema.js';

export interface RememberedCursor {
  senderId: string;
  routeKey: string;
  senderName: string;
  throughRowid: number;
}

export interface NodeMemory {
  path: string;
  nodeId: string;
  nodeName: string;
  /** The highest rowid the file held: its feed's high-water mark. */
  maxRowid: number;
  cursors: RememberedCursor[];
  knownNodes: Array<{ id: string; name: string }>;
  /** For each peer: how far into this node's feed it had committed at the last push. */
  pushedThrough: Array<{ peer: string; throughRowid: number }>;
  /** For each peer reached from this machine: how, and which agent answered (status, doctor). */
  contacts?: PeerContact[];
  updatedAt: string;
}

/**
 * How a peer was last reached from this machine: the transport and, over ssh with an agent, which
 * agent answered (the user's install, the uploaded single file, a forced command) with its path and
 * version. Machine-local knowledge, so it lives here rather than in the database.
 */
export interface PeerContact {
  peer: string;
  transport: string;
  agent: { source: string; path: string | null; version: string | null } | null;
  at: string;
}

/** `$XDG_STATE_HOME/resonance-sync`, else `~/.local/state/resonance-sync` (the sync log lives there too). */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME;
  const base = state && isAbsolute(state) ? state : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'resonance-sync');
}

export function memoryFileFor(databasePath: string, env: NodeJS.ProcessEnv = process.env): string {
  const key = createHash('sha256').update(databasePath).digest('hex').slice(0, 32);
  return join(stateDir(env), 'databases', `${key}.json`);
}

export function readNodeMemory(databasePath: string, env: NodeJS.ProcessEnv = process.env): NodeMemory | undefined {
  let text: string;
  try {
    text = readFileSync(memoryFileFor(databasePath, env), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const memory = JSON.parse(text) as NodeMemory;
    // A record for another path under the same hash, or a damaged one, is no memory of this file.
    return memory.path === databasePath && typeof memory.nodeId === 'string' && Array.isArray(memory.cursors)
      ? { ...memory, pushedThrough: memory.pushedThrough ?? [] }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Reads what the database holds now; undefined when it has no identity yet. */
export function memoryOf(db: Database, databasePath: string): NodeMemory | undefined {
  const meta = readMeta(db);
  if (meta.node_id === undefined) return undefined;
  const cursors = tableExists(db, CURSORS_TABLE)
    ? db
        .prepare(`SELECT sender_id, route_key, sender_name, through_rowid FROM ${CURSORS_TABLE}`)
        .all()
        .map((row) => ({
          senderId: String(row.sender_id),
          routeKey: String(row.route_key),
          senderName: String(row.sender_name),
          throughRowid: Number(row.through_rowid),
        }))
    : [];
  const knownNodes = tableExists(db, NODES_TABLE)
    ? db
        .prepare(`SELECT node_id, name FROM ${NODES_TABLE}`)
        .all()
        .map((row) => ({ id: String(row.node_id), name: String(row.name) }))
    : [];
  const pushedThrough = tableExists(db, PEER_STATE_TABLE)
    ? db
        .prepare(`SELECT peer, through_rowid FROM ${PEER_STATE_TABLE} WHERE direction = 'push' AND through_rowid IS NOT NULL`)
        .all()
        .map((row) => ({ peer: String(row.peer), throughRowid: Number(row.through_rowid) }))
    : [];
  return {
    path: databasePath,
    nodeId: meta.node_id,
    nodeName: meta.node_name ?? '',
    maxRowid: notesMaxRowid(db),
    cursors,
    knownNodes,
    pushedThrough,
    updatedAt: new Date().toISOString(),
  };
}

export function notesMaxRowid(db: Database): number {
  const row = db.prepare(`SELECT coalesce(max(rowid), 0) AS m FROM ${NOTES_TABLE}`).get();
  return Number(row?.m ?? 0);
}

/**
 * Records what the database holds now (atomically: a crash leaves the old record or the new one),
 * with this run's peer contacts over those remembered (a peer not reached this run keeps its last).
 */
export function rememberDatabase(
  db: Database,
  databasePath: string,
  env: NodeJS.ProcessEnv = process.env,
  contacts: PeerContact[] = [],
): NodeMemory | undefined {
  const memory = memoryOf(db, databasePath);
  if (!memory) return undefined;
  const reached = new Set(contacts.map((contact) => contact.peer));
  const kept = (readNodeMemory(databasePath, env)?.contacts ?? []).filter((contact) => !reached.has(contact.peer));
  const remembered = { ...memory, contacts: [...kept, ...contacts] };
  writeNodeMemory(remembered, env);
  return remembered;
}

/** rememberDatabase for a command that holds no connection: opens the file, records it, closes it. */
export function rememberDatabaseFile(databasePath: string): void {
  const db = openDatabase(databasePath);
  try {
    rememberDatabase(db, databasePath);
  } finally {
    db.close();
  }
}

/** How each peer was last reached from this machine, for `status` (empty before the first sync). */
export function peerContacts(databasePath: string, env: NodeJS.ProcessEnv = process.env): PeerContact[] {
  const contacts = readNodeMemory(databasePath, env)?.contacts;
  return Array.isArray(contacts) ? contacts : [];
}

export function writeNodeMemory(memory: NodeMemory, env: NodeJS.ProcessEnv = process.env): void {
  const file = memoryFileFor(memory.path, env);
  try {
    mkdirSync(join(stateDir(env), 'databases'), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(memory, null, 2)}\n`);
    renameSync(temporary, file);
  } catch {
    // Memory is a safety net, never a reason to fail a sync: an unwritable state folder only means a
    // later replacement of this file goes undetected here (its peers still see it).
  }
}
