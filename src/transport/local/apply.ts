/**
 * Applies a received batch: each entry is inserted unless an identical one (timestamp, content,
 * source, byte-for-byte, NULL equal to NULL) is already there, and the cursor covering the batch is
 * written in the same transaction. A crash at any instant therefore leaves either the whole batch
 * with its cursor, or neither: the next run resumes exactly after the last committed batch.
 */
import type { ApplyRequest, ApplyResult } from '../../core/replica.js';
import { BatchBookkeeping } from '../../store/batch-bookkeeping.js';
import { isSyncNote } from '../../core/sync-note.js';
import { parseTimestamp, type NaiveTimestamps } from '../../core/timestamps.js';
import { CURSORS_TABLE, NOTES_TABLE, ORIGIN_COLUMN, type NotesTableShape } from '../../core/notes-table.js';
import { placeholders, quoteIdentifier } from '../../store/sql.js';
import type { Database, Statement } from '../../store/sqlite/driver.js';
import type { SqlValue } from '../../core/sql-value.js';
import { inTransaction } from '../../store/sqlite/transaction.js';
import { WriteLockYielder } from '../../store/write-lock-yield.js';

class DryRunRollback extends Error {
  constructor(readonly result: ApplyResult) {
    super('dry run');
  }
}

export class BatchWriter {
  private readonly findEntry: Statement;
  private readonly insertStatements = new Map<string, Statement>();
  private readonly bookkeeping: BatchBookkeeping;
  private readonly yielder: WriteLockYielder;

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
    this.bookkeeping = new BatchBookkeeping(db, selfId);
    this.yielder = new WriteLockYielder(db);
  }

  apply(request: ApplyRequest): ApplyResult {
    const started = performance.now();
    try {
      return inTransaction(this.db, 'IMMEDIATE', () => {
        const result = this.applyRows(request);
        this.bookkeeping.record(request);
        if (request.dryRun) throw new DryRunRollback(result);
        return result;
      });
    } catch (error) {
      if (error instanceof DryRunRollback) return error.result;
      throw error;
    } finally {
      this.yielder.released(performance.now() - started);
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

}

export function readCursor(db: Database, senderId: string, routeKey: string): number {
  const row = db
    .prepare(`SELECT through_rowid AS t FROM ${CURSORS_TABLE} WHERE sender_id = ? AND route_key = ?`, { exactIntegers: true })
    .get(senderId, routeKey);
  return row ? Number(row.t) : 0;
}
