/**
 * What `status` reports, gathered without connecting to remote peers and without writing anything:
 * this node, and per configured peer its sync_tracking row, last runs, totals and what is pending.
 */
import { peerAddresses, type Config, type PeerConfig } from '../config/schema.js';
import { readCursor } from '../transport/local/apply.js';
import { countFeed } from '../transport/local/feed.js';
import { readMeta } from '../store/meta.js';
import { peerContacts, type PeerContact } from '../store/node-memory.js';
import { isPrepared } from '../store/prepare.js';
import { probeNotesTable } from '../store/schema.js';
import { LOG_TABLE, NODES_TABLE, NOTES_TABLE, ORIGIN_COLUMN, TRACKING_TABLE } from '../core/notes-table.js';
import type { Database, SqlRow } from '../store/sqlite/driver.js';
import { openDatabase } from '../store/sqlite/open-database.js';
import { readPeerState, readReachedAddress, readRefusals, type RefusedSoFar } from '../store/tracking.js';
import { refusalFix } from '../core/refusals.js';
import { SyncError } from '../core/errors.js';
import { keptHomePatterns, keptHomeRoute, routeKey, type Route } from '../core/route.js';
import type { Direction } from '../core/sync-log.js';

export interface NodeStatus {
  db: string;
  node: { id: string; name: string };
  entries: number;
  receivedEntries: number;
  dedupe: string;
  peers: PeerStatus[];
}

export interface PeerStatus {
  name: string;
  url: string;
  /** Every address the peer is tried at, in order (just `url` for one). */
  urls: string[];
  /** The address that answered the last sync, and when (null before the first). */
  reached: { url: string; at: string } | null;
  /** How the last sync from this machine reached the peer, and which agent answered (null before the first). */
  contact: PeerContact | null;
  enabled: boolean;
  tracking: { lastSyncTimestamp: string; lastSyncSuccess: boolean | null; syncCount: number } | null;
  lastRuns: Array<{
    direction: string;
    status: string;
    startedAt: string;
    finishedAt: string | null;
    received: number;
    sent: number;
    duplicates: number;
    error: string | null;
  }>;
  totals: { received: number; sent: number };
  /** Entries waiting to flow; null where it cannot be known without connecting. */
  pending: { push: number | null; pull: number | null };
  /** Per direction: entries the receiving table refused so far, why, and what to do (core/refusals.ts). */
  refused: { push: RefusedStatus; pull: RefusedStatus };
  /** Per direction: the device-local patterns kept home, and how many entries they keep (null: not known without connecting). */
  deviceLocal: { push: KeptHome; pull: KeptHome };
}

export interface RefusedStatus extends RefusedSoFar {
  /** One fix per reason, in the order of `refusals`. */
  fixes: string[];
}

export interface KeptHome {
  patterns: string[];
  /** Entries in the sender's whole table that the route would let through but keeps home as device-local. */
  entries: number | null;
}

export function gatherStatus(dbPath: string, config: Config): NodeStatus {
  const db = openDatabase(dbPath, { readOnly: true });
  try {
    if (!isPrepared(db))
      throw new SyncError('DB_NOT_INITIALIZED', `${dbPath} has not been prepared for sync yet; run: resonance-sync init --db ${dbPath}`);
    const meta = readMeta(db);
    const self = { id: String(meta.node_id), name: String(meta.node_name) };
    const contacts = peerContacts(dbPath);
    const counts = db.prepare(`SELECT count(*) AS total, count(${ORIGIN_COLUMN}) AS received FROM ${NOTES_TABLE}`).get();
    return {
      db: dbPath,
      node: self,
      entries: Number(counts?.total ?? 0),
      receivedEntries: Number(counts?.received ?? 0),
      dedupe: meta.dedupe ?? 'timestamp-index',
      peers: config.peers.map((peer) => peerStatus(db, self.id, peer, contacts)),
    };
  } finally {
    db.close();
  }
}

/**
 * The names a peer's syncs are filed under here: its configured name (syncs started on this machine),
 * and its node's own name (syncs it started with this node: store/tracking.ts exchangeLogSql), known
 * from the node id it had at the last push.
 */
function peerNames(db: Database, peer: PeerConfig): string[] {
  const id = readPeerState(db, peer.name, 'push')?.peerNodeId;
  const node = id === undefined ? undefined : db.prepare(`SELECT name FROM ${NODES_TABLE} WHERE node_id = ?`).get(id);
  const nodeName = node === undefined ? undefined : String(node.name);
  return nodeName === undefined || nodeName === peer.name ? [peer.name] : [peer.name, nodeName];
}

function peerStatus(db: Database, selfId: string, peer: PeerConfig, contacts: PeerContact[]): PeerStatus {
  const names = peerNames(db, peer);
  const among = names.map(() => '?').join(', ');
  // Filed under either name: the newest received time and its outcome, and every sync counted.
  const tracking = db
    .prepare(
      `SELECT last_sync_timestamp, last_sync_success, (SELECT sum(coalesce(sync_count, 0)) FROM ${TRACKING_TABLE} WHERE remote_node IN (${among})) AS sync_count
       FROM ${TRACKING_TABLE} WHERE remote_node IN (${among}) ORDER BY last_sync_timestamp DESC LIMIT 1`,
    )
    .get(...names, ...names);
  const runs = db
    .prepare(
      `SELECT * FROM ${LOG_TABLE} WHERE id IN (SELECT max(id) FROM ${LOG_TABLE} WHERE peer IN (${among}) GROUP BY direction) ORDER BY direction`,
    )
    .all(...names);
  const totalsOf = db.prepare(
    `SELECT coalesce(sum(received), 0) AS received, coalesce(sum(sent), 0) AS sent FROM ${LOG_TABLE} WHERE peer IN (${among}) AND direction = ?`,
  );
  const totals = (direction: Direction) => totalsOf.get(...names, direction);
  return {
    name: peer.name,
    url: peer.url,
    urls: peerAddresses(peer).map((address) => address.url),
    reached: readReachedAddress(db, peer.name) ?? null,
    contact: contacts.find((contact) => contact.peer === peer.name) ?? null,
    enabled: peer.enabled,
    tracking: tracking
      ? {
          lastSyncTimestamp: String(tracking.last_sync_timestamp),
          lastSyncSuccess: tracking.last_sync_success === null ? null : Number(tracking.last_sync_success) === 1,
          syncCount: Number(tracking.sync_count ?? 0),
        }
      : null,
    // A failed connection matters only until a later sync got through.
    lastRuns: runs
      .filter(
        (run) => run.direction !== 'connect' || runs.every((other) => other.direction === 'connect' || Number(other.id) < Number(run.id)),
      )
      .map(runSummary),
    totals: { received: Number(totals('pull')?.received ?? 0), sent: Number(totals('push')?.received ?? 0) },
    pending: { push: pendingPush(db, peer), pull: pendingPull(db, selfId, peer) },
    refused: { push: refusedStatus(db, peer.name, 'push'), pull: refusedStatus(db, peer.name, 'pull') },
    deviceLocal: {
      push: { patterns: keptHomePatterns(peer.push), entries: keptHomePush(db, peer) },
      pull: {
        patterns: keptHomePatterns(peer.pull),
        entries: withPeerFile(peer, (peerDb) => keptHomeIn(peerDb, peer.location.path, selfId, peer.pull)),
      },
    },
  };
}

function refusedStatus(db: Database, peer: string, direction: 'push' | 'pull'): RefusedStatus {
  const refused = readRefusals(db, peer, direction);
  const receiver = direction === 'push' ? peer : 'this node';
  return { ...refused, fixes: refused.refusals.map((refusal) => refusalFix(refusal, receiver, direction, peer)) };
}

/** Entries of this node's table that the push route keeps home as device-local (a scan of the table). */
function keptHomePush(db: Database, peer: PeerConfig): number {
  return keptHomeIn(db, '', readPeerState(db, peer.name, 'push')?.peerNodeId ?? '', peer.push);
}

function keptHomeIn(db: Database, path: string, receiverId: string, route: Route): number {
  if (keptHomePatterns(route).length === 0) return 0;
  return countFeed(db, probeNotesTable(db, path), { afterRowid: 0, receiverId, route: keptHomeRoute(route) });
}

/** Runs `read` on a local peer's file, opened read-only; null for a remote peer or a file not (yet) usable. */
function withPeerFile<T>(peer: PeerConfig, read: (peerDb: Database) => T): T | null {
  if (peer.location.kind !== 'local') return null;
  let peerDb: Database;
  try {
    peerDb = openDatabase(peer.location.path, { readOnly: true });
  } catch {
    return null;
  }
  try {
    return isPrepared(peerDb) ? read(peerDb) : null;
  } finally {
    peerDb.close();
  }
}

function runSummary(row: SqlRow) {
  return {
    direction: String(row.direction),
    status: String(row.status),
    startedAt: String(row.started_at),
    finishedAt: row.finished_at === null ? null : String(row.finished_at),
    received: Number(row.received),
    sent: Number(row.sent),
    duplicates: Number(row.duplicates),
    error: row.message === null || row.status === 'ok' ? null : String(row.message),
  };
}

/** From what the peer had committed of our feed at the last push: known without connecting. */
function pendingPush(db: Database, peer: PeerConfig): number | null {
  const state = readPeerState(db, peer.name, 'push');
  if (!state) return null;
  const after = state.routeKey === routeKey(peer.push) ? state.throughRowid : 0;
  return countFeed(db, probeNotesTable(db, ''), { afterRowid: after, receiverId: state.peerNodeId, route: peer.push });
}

/** Only for a local peer file, opened read-only: counting a remote feed would mean connecting. */
function pendingPull(db: Database, selfId: string, peer: PeerConfig): number | null {
  return withPeerFile(peer, (peerDb) => {
    const peerId = String(readMeta(peerDb).node_id);
    const after = readCursor(db, peerId, routeKey(peer.pull));
    return countFeed(peerDb, probeNotesTable(peerDb, peer.location.path), { afterRowid: after, receiverId: selfId, route: peer.pull });
  });
}
