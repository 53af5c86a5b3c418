/**
 * The history of this node's syncs: sync_log (one row per direction per run), and what this node
 * last knew of each peer's cursor, so `status` can tell pending entries without connecting. (What a
 * receiver records when a direction ends, sync_tracking and the sync note, is store/receive-sql.ts.)
 */
import type { Database } from './sqlite/driver.js';
import { LOG_TABLE, PEER_STATE_TABLE } from '../core/notes-table.js';
import { inTransaction } from './sqlite/transaction.js';
import type { Direction, LogDirection, LogOutcome, PeerState } from '../core/sync-log.js';

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
       duplicates = ?, batches = ?, error_code = ?, message = ?, rejected = ?, refusals = ? WHERE id = ?`,
  ).run(
    outcome.status,
    outcome.received,
    outcome.sent,
    outcome.duplicates,
    outcome.batches,
    outcome.errorCode ?? null,
    outcome.message ?? null,
    outcome.rejected ?? 0,
    outcome.refusals?.length ? JSON.stringify(outcome.refusals) : null,
    id,
  );
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
    .prepare(`SELECT peer_node_id, route_key, through_rowid FROM ${PEER_STATE_TABLE} WHERE peer = ? AND direction = ?`, {
      exactIntegers: true,
    })
    .get(peer, direction);
  if (!row) return undefined;
  return { peerNodeId: String(row.peer_node_id), routeKey: String(row.route_key), throughRowid: Number(row.through_rowid) };
}
