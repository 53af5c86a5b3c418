/**
 * The users' own bookkeeping tables: sync_tracking (one row per remote, as in their original recipe)
 * and sync_log (one row per direction per run), plus what this node last knew of each peer's cursor,
 * so `status` can tell pending entries without connecting.
 */
import type { Database } from './sqlite/driver.js';
import { LOG_TABLE, NOTES_TABLE, PEER_STATE_TABLE, TRACKING_TABLE } from '../core/notes-table.js';
import { SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE, syncNoteText } from '../core/sync-note.js';
import { sqliteNow } from '../core/timestamps.js';
import { inTransaction } from './sqlite/transaction.js';
import type { Direction, LogDirection, LogOutcome, PeerState } from '../core/sync-log.js';

/** sync_tracking.last_sync_timestamp is NOT NULL; this is its value until an entry has arrived. */
export const NOTHING_RECEIVED_YET = '1970-01-01T00:00:00.000Z';

export interface TrackingUpdate {
  remoteNode: string;
  newestTimestamp: string | undefined;
  success: boolean;
}

export function recordTracking(db: Database, update: TrackingUpdate): void {
  db.prepare(
    `INSERT INTO ${TRACKING_TABLE} (remote_node, last_sync_timestamp, last_sync_success, sync_count) VALUES (?, ?, ?, 1)
     ON CONFLICT (remote_node) DO UPDATE SET
       last_sync_timestamp = max(last_sync_timestamp, excluded.last_sync_timestamp),
       last_sync_success = excluded.last_sync_success,
       sync_count = coalesce(sync_count, 0) + 1`,
  ).run(update.remoteNode, update.newestTimestamp ?? NOTHING_RECEIVED_YET, update.success ? 1 : 0);
}

export interface SyncNote {
  count: number;
  senderName: string;
  hasContext: boolean;
}

export function writeSyncNote(db: Database, note: SyncNote): void {
  const columns = note.hasContext ? 'timestamp, content, context, source' : 'timestamp, content, source';
  const values = note.hasContext
    ? [sqliteNow(), syncNoteText(note.count, note.senderName), SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE]
    : [sqliteNow(), syncNoteText(note.count, note.senderName), SYNC_NOTE_SOURCE];
  db.prepare(`INSERT INTO ${NOTES_TABLE} (${columns}) VALUES (${values.map(() => '?').join(', ')})`).run(...values);
}

/** A row written when a direction starts; one left at 'running' tells `status` a run was cut off. */
export function startLogEntry(db: Database, peer: string, direction: LogDirection): number {
  const row = db
    .prepare(
      `INSERT INTO ${LOG_TABLE} (started_at, peer, direction, status) VALUES (strftime('%Y-%m-%dT%H:%M:%fZ'), ?, ?, 'running') RETURNING id`,
      { exactIntegers: true },
    )
    .get(peer, direction);
  return Number(row?.id);
}

export function finishLogEntry(db: Database, id: number, outcome: LogOutcome): void {
  db.prepare(
    `UPDATE ${LOG_TABLE} SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ'), status = ?, received = ?, sent = ?,
       duplicates = ?, batches = ?, error_code = ?, message = ? WHERE id = ?`,
  ).run(outcome.status, outcome.received, outcome.sent, outcome.duplicates, outcome.batches, outcome.errorCode ?? null, outcome.message ?? null, id);
}

/** What the peer had committed of this node's feed after the last push (for `status`). */
export function recordPeerState(db: Database, peer: string, direction: Direction, state: PeerState): void {
  inTransaction(db, 'IMMEDIATE', () => {
    db.prepare(
      `INSERT INTO ${PEER_STATE_TABLE} (peer, direction, peer_node_id, route_key, through_rowid, updated_at)
       VALUES (?, ?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))
       ON CONFLICT (peer, direction) DO UPDATE SET peer_node_id = excluded.peer_node_id, route_key = excluded.route_key,
         through_rowid = excluded.through_rowid, updated_at = excluded.updated_at`,
    ).run(peer, direction, state.peerNodeId, state.routeKey, state.throughRowid);
  });
}

export function readPeerState(db: Database, peer: string, direction: Direction): PeerState | undefined {
  const row = db
    .prepare(`SELECT peer_node_id, route_key, through_rowid FROM ${PEER_STATE_TABLE} WHERE peer = ? AND direction = ?`, { exactIntegers: true })
    .get(peer, direction);
  if (!row) return undefined;
  return { peerNodeId: String(row.peer_node_id), routeKey: String(row.route_key), throughRowid: Number(row.through_rowid) };
}
