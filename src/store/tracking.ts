/**
 * The history of this node's syncs: sync_log (one row per direction per run), and what this node
 * last knew of each peer's cursor, so `status` can tell pending entries without connecting. (What a
 * receiver records when a direction ends, sync_tracking and the sync note, is store/receive-sql.ts.)
 */
import type { Database } from './sqlite/driver.js';
import { LOG_TABLE, PEER_STATE_TABLE } from '../core/notes-table.js';
import { inTransaction } from './sqlite/transaction.js';
import type { Direction, LogDirection, LogOutcome, PeerState } from '../core/sync-log.js';
import { mergeRefusals, type Refusal } from '../core/refusals.js';
import type { ExchangeRecord } from '../core/replica.js';
import type { BoundSql } from './sql.js';
import type { SqlValue } from '../core/sql-value.js';

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

/** An outcome's sync_log columns (status … refusals), in the order OUTCOME_COLUMNS names them. */
const OUTCOME_COLUMNS = ['status', 'received', 'sent', 'duplicates', 'batches', 'error_code', 'message', 'rejected', 'refusals'];

function outcomeValues(outcome: LogOutcome): SqlValue[] {
  return [
    outcome.status,
    outcome.received,
    outcome.sent,
    outcome.duplicates,
    outcome.batches,
    outcome.errorCode ?? null,
    outcome.message ?? null,
    outcome.rejected ?? 0,
    outcome.refusals?.length ? JSON.stringify(outcome.refusals) : null,
  ];
}

export function finishLogEntry(db: Database, id: number, outcome: LogOutcome): void {
  db.prepare(
    `UPDATE ${LOG_TABLE} SET finished_at = strftime('%Y-%m-%dT%H:%M:%fZ'), ${OUTCOME_COLUMNS.map((column) => `${column} = ?`).join(', ')} WHERE id = ?`,
  ).run(...outcomeValues(outcome), id);
}

/**
 * The passive end's sync_log row for a direction the other end ran (core/replica.ts ExchangeRecord),
 * written whole at its end: one statement, bound here or inlined for a remote sqlite3.
 */
export function exchangeLogSql(record: ExchangeRecord): BoundSql {
  return {
    sql: `INSERT INTO main.${LOG_TABLE} (started_at, finished_at, peer, direction, ${OUTCOME_COLUMNS.join(', ')})
      VALUES (strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ'), ?, ?, ${OUTCOME_COLUMNS.map(() => '?').join(', ')})`,
    params: [record.peer, record.direction, ...outcomeValues(record.outcome)],
  };
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

/**
 * The peer state row kept per peer under direction 'address': the URL that answered last (in
 * route_key) and when. Kept beside the cursors' rows so no schema change is needed for it.
 */
const ADDRESS_ROW = 'address';

export function recordReachedAddress(db: Database, peer: string, url: string): void {
  inTransaction(db, 'IMMEDIATE', () => {
    db.prepare(
      `INSERT INTO ${PEER_STATE_TABLE} (peer, direction, route_key, updated_at) VALUES (?, '${ADDRESS_ROW}', ?, strftime('%Y-%m-%dT%H:%M:%fZ'))
       ON CONFLICT (peer, direction) DO UPDATE SET route_key = excluded.route_key, updated_at = excluded.updated_at`,
    ).run(peer, url);
  });
}

/** The address that answered the last sync with this peer, and when; undefined before the first. */
export function readReachedAddress(db: Database, peer: string): { url: string; at: string } | undefined {
  const row = db.prepare(`SELECT route_key, updated_at FROM ${PEER_STATE_TABLE} WHERE peer = ? AND direction = '${ADDRESS_ROW}'`).get(peer);
  return row ? { url: String(row.route_key), at: String(row.updated_at) } : undefined;
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

/** What a peer's table (push) or this node's (pull) has refused so far, from sync_log. */
export interface RefusedSoFar {
  entries: number;
  /** By reason, over every run that had refusals. */
  refusals: Refusal[];
  /** When the last run with refusals finished, or null if none had. */
  lastAt: string | null;
}

/** Refusals recorded for one peer and direction (none where sync_log predates schema 3). */
export function readRefusals(db: Database, peer: string, direction: Direction): RefusedSoFar {
  const none: RefusedSoFar = { entries: 0, refusals: [], lastAt: null };
  const columns = db.prepare(`SELECT name FROM pragma_table_info('${LOG_TABLE}')`).all();
  if (!columns.some((column) => column.name === 'refusals')) return none;
  const rows = db
    .prepare(`SELECT rejected, refusals, finished_at FROM ${LOG_TABLE} WHERE peer = ? AND direction = ? AND rejected > 0 ORDER BY id`)
    .all(peer, direction);
  return rows.reduce<RefusedSoFar>((sum, row) => {
    const rejected = Number(row.rejected);
    return {
      entries: sum.entries + rejected,
      refusals: mergeRefusals(sum.refusals, parseRefusals(row.refusals, rejected)),
      lastAt: row.finished_at === null ? sum.lastAt : String(row.finished_at),
    };
  }, none);
}

/** sync_log.refusals as written by finishLogEntry; anything else counts as "another constraint". */
export function parseRefusals(text: unknown, rejected: number): Refusal[] {
  try {
    const parsed: unknown = typeof text === 'string' ? JSON.parse(text) : [];
    if (Array.isArray(parsed)) {
      const refusals = parsed.flatMap((item: unknown): Refusal[] => {
        if (typeof item !== 'object' || item === null) return [];
        const { column, count } = item as { column?: unknown; count?: unknown };
        return typeof count === 'number' && (column === null || typeof column === 'string') ? [{ column, count }] : [];
      });
      if (refusals.reduce((sum, r) => sum + r.count, 0) === rejected) return refusals;
    }
  } catch {
    // Not ours: fall through.
  }
  return rejected > 0 ? [{ column: null, count: rejected }] : [];
}
