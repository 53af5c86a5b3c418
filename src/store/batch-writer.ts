/**
 * Applies a received batch: each entry is inserted unless an identical one (timestamp, content,
 * source, byte-for-byte, NULL equal to NULL) is already there, and the cursor covering the batch is
 * written in the same transaction. A crash at any instant therefore leaves either the whole batch
 * with its cursor, or neither: the next run resumes exactly after the last committed batch.
 */
import type { ApplyRequest, ApplyResult, NodeIdentity } from '../replica/replica.js';
import { isSyncNote } from '../sync/sync-note.js';
import { parseTimestamp, type NaiveTimestamps } from '../sync/timestamps.js';
import { CURSORS_TABLE, NODES_TABLE, NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from './schema.js';
import { placeholders, quoteIdentifier } from './sql.js';
import type { Database, SqlValue, Statement } from './sqlite/driver.js';
import { inTransaction } from './sqlite/transaction.js';

class DryRunRollback extends Error {
  constructor(readonly result: ApplyResult) {
    super('dry run');
  }
}

export class BatchWriter {
  private readonly findEntry: Statement;
  private readonly insertStatements = new Map<string, Statement>();
  private readonly upsertCursor: Statement;
  private readonly upsertNode: Statement;

  constructor(
    private readonly db: Database,
    private readonly shape: NotesTableShape,
    private readonly selfId: string,
    private readonly naive: NaiveTimestamps,
  ) {
    // `IS` makes NULL equal to NULL; SQLite uses the timestamp index for it like for `=`.
    this.findEntry = db.prepare(
      `SELECT 1 AS found FROM ${NOTES_TABLE} WHERE timestamp IS ? AND content IS ? AND source IS ? LIMIT 1`,
    );
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

  apply(request: ApplyRequest): ApplyResult {
    const started = performance.now();
    try {
      return inTransaction(this.db, 'IMMEDIATE', () => {
        const result = this.applyRows(request);
        this.rememberNodes([request.sender, ...request.knownNodes]);
        // A repair batch (from verify) carries entries from anywhere in the feed: no cursor moves.
        if (request.throughRowid >= 0) {
          this.upsertCursor.run(request.sender.id, request.routeKey, request.sender.name, request.throughRowid, request.resetCursor ? 1 : 0);
        }
        if (request.dryRun) throw new DryRunRollback(result);
        return result;
      });
    } catch (error) {
      if (error instanceof DryRunRollback) return error.result;
      throw error;
    } finally {
      yieldWriteLock(performance.now() - started);
    }
  }

  private applyRows(request: ApplyRequest): ApplyResult {
    const columns = request.columns.filter((name) => this.shape.userColumns.includes(name));
    const position = (name: string) => request.columns.indexOf(name);
    const [timestampAt, contentAt, sourceAt, contextAt] = ['timestamp', 'content', 'source', 'context'].map(position) as [number, number, number, number];
    const keep = columns.map(position);
    const insert = this.insertStatement(columns);
    const result: ApplyResult = { inserted: 0, duplicates: 0, rejected: 0, syncNotes: 0, newestTimestamp: undefined };
    let newest = -Infinity;
    for (const row of request.rows) {
      const at = (index: number): SqlValue => (index < 0 ? null : (row.values[index] ?? null));
      if (this.findEntry.get(at(timestampAt), at(contentAt), at(sourceAt)) !== undefined) {
        result.duplicates++;
        continue;
      }
      // An entry of our own coming back means this database lost it (restored from an older copy):
      // it returns as "written here".
      const origin = row.origin === this.selfId ? null : row.origin;
      // OR IGNORE: an entry this database's own constraints refuse (say NULL source into a NOT NULL
      // column) is counted and passed over rather than blocking every later entry forever.
      if (insert.run(...keep.map((index) => at(index)), origin).changes === 0) {
        result.rejected++;
        continue;
      }
      result.inserted++;
      if (isSyncNote(at(contextAt), at(sourceAt), at(contentAt))) result.syncNotes++;
      const millis = parseTimestamp(at(timestampAt), this.naive);
      if (millis !== undefined && millis > newest) newest = millis;
    }
    // Normalized once per batch, not per row: this is the hot path.
    if (newest > -Infinity) result.newestTimestamp = new Date(newest).toISOString();
    return result;
  }

  private insertStatement(columns: string[]): Statement {
    const key = columns.join('\u0000');
    let statement = this.insertStatements.get(key);
    if (!statement) {
      const names = [...columns.map(quoteIdentifier), ORIGIN_COLUMN].join(', ');
      statement = this.db.prepare(`INSERT OR IGNORE INTO ${NOTES_TABLE} (${names}) VALUES (${placeholders(columns.length + 1)})`);
      this.insertStatements.set(key, statement);
    }
    return statement;
  }

  private rememberNodes(nodes: NodeIdentity[]): void {
    for (const node of nodes) if (node.id !== this.selfId) this.upsertNode.run(node.id, node.name);
  }
}

/**
 * Agents waiting for the write lock poll it (SQLite's busy handler sleeps up to 100 ms between
 * tries). Taking the lock again the instant it was released would starve them for a whole sync, so
 * after each batch the writer stays off the lock for a fifth of the time it held it: agents wait at
 * most about one batch, and a sync slows down by at most a fifth.
 */
const pause = new Int32Array(new SharedArrayBuffer(4));
function yieldWriteLock(heldMs: number): void {
  Atomics.wait(pause, 0, 0, Math.min(50, Math.max(1, heldMs / 5)));
}

export function readCursor(db: Database, senderId: string, routeKey: string): number {
  const row = db
    .prepare(`SELECT through_rowid AS t FROM ${CURSORS_TABLE} WHERE sender_id = ? AND route_key = ?`, { exactIntegers: true })
    .get(senderId, routeKey);
  return row ? Number(row.t) : 0;
}
