/**
 * What every received batch commits besides its rows, in the same transaction: the receiver-owned
 * cursor into the sender's feed, and the names of the nodes the sender has heard of (so relayed
 * origins keep a human name). Shared by the row-by-row writer and the in-SQLite local transfer.
 */
import type { ApplyRequest } from '../core/replica.js';
import { CURSORS_TABLE, NODES_TABLE } from '../core/notes-table.js';
import type { Database, Statement } from './sqlite/driver.js';

export type BatchReceipt = Pick<ApplyRequest, 'sender' | 'routeKey' | 'throughRowid' | 'resetCursor' | 'knownNodes'>;

export class BatchBookkeeping {
  private readonly upsertCursor: Statement;
  private readonly upsertNode: Statement;

  constructor(
    db: Database,
    private readonly selfId: string,
  ) {
    this.upsertCursor = db.prepare(
      `INSERT INTO ${CURSORS_TABLE} (sender_id, route_key, sender_name, through_rowid, updated_at)
       VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'))
       ON CONFLICT (sender_id, route_key) DO UPDATE SET
         sender_name = excluded.sender_name,
         through_rowid = CASE WHEN ? THEN excluded.through_rowid ELSE max(through_rowid, excluded.through_rowid) END,
         updated_at = excluded.updated_at`,
    );
    this.upsertNode = db.prepare(
      `INSERT INTO ${NODES_TABLE} (node_id, name, first_seen, last_seen)
       VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ'), strftime('%Y-%m-%dT%H:%M:%fZ'))
       ON CONFLICT (node_id) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen`,
    );
  }

  /** Call inside the batch's write transaction. */
  record(receipt: BatchReceipt): void {
    for (const node of [receipt.sender, ...receipt.knownNodes]) if (node.id !== this.selfId) this.upsertNode.run(node.id, node.name);
    // A repair batch (from verify) carries entries from anywhere in the feed: no cursor moves.
    if (receipt.throughRowid >= 0) {
      this.upsertCursor.run(receipt.sender.id, receipt.routeKey, receipt.sender.name, receipt.throughRowid, receipt.resetCursor ? 1 : 0);
    }
  }
}
