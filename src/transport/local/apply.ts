/**
 * Applies a received batch row by row: each entry is inserted unless an identical one (timestamp,
 * content, source, byte-for-byte, NULL equal to NULL) is already there, and the cursor covering the
 * batch is written in the same transaction. A crash at any instant therefore leaves either the whole
 * batch with its cursor, or neither: the next run resumes exactly after the last committed batch.
 * The rules themselves (dedupe, origin, insert, bookkeeping) are store/receive-sql.ts's.
 */
import type { ApplyRequest, ApplyResult } from '../../core/replica.js';
import { tallyArrivals, type ArrivedEntry } from '../../core/arrivals.js';
import { attributeRefusals, nullInRequired } from '../../core/refusals.js';
import type { NaiveTimestamps } from '../../core/timestamps.js';
import { IDENTITY_COLUMNS, type NotesTableShape } from '../../core/notes-table.js';
import { BatchBookkeeping } from '../../store/batch-bookkeeping.js';
import { batchTransaction } from '../../store/batch-transaction.js';
import { cursorSql, FIND_ENTRY_SQL, insertEntriesInto, receivedColumns, receivedOrigin, TABLE_END_SQL } from '../../store/receive-sql.js';
import type { Database, Statement } from '../../store/sqlite/driver.js';
import type { SqlValue } from '../../core/sql-value.js';
import type { WriteLockYielder } from '../../store/write-lock-yield.js';

export class BatchWriter {
  private readonly findEntry: Statement;
  private readonly tableEnd: Statement;
  private readonly insertStatements = new Map<string, Statement>();
  private readonly bookkeeping: BatchBookkeeping;

  constructor(
    private readonly db: Database,
    private readonly shape: NotesTableShape,
    private readonly selfId: string,
    private readonly naive: NaiveTimestamps,
    /** The connection's one yielder: the lock and its other writers are the same for every batch. */
    private readonly yielder: WriteLockYielder,
  ) {
    this.findEntry = db.prepare(FIND_ENTRY_SQL);
    this.tableEnd = db.prepare(TABLE_END_SQL);
    this.bookkeeping = new BatchBookkeeping(db, selfId);
  }

  apply(request: ApplyRequest): ApplyResult {
    return batchTransaction(this.db, this.yielder, request.dryRun, () => {
      const before = Number(this.tableEnd.get()?.m ?? 0);
      const result = this.applyRows(request);
      this.bookkeeping.record(request, before, result.received);
      return result;
    });
  }

  private applyRows(request: ApplyRequest): ApplyResult {
    const columns = receivedColumns(this.shape, request.columns);
    const position = (name: string) => request.columns.indexOf(name);
    const [timestampAt, contextAt, sourceAt, contentAt] = ['timestamp', 'context', 'source', 'content'].map(position) as [
      number,
      number,
      number,
      number,
    ];
    const identityAt = IDENTITY_COLUMNS.map(position);
    const keep = columns.map(position);
    const insert = this.insertStatement(columns);
    let inserted = 0;
    let duplicates = 0;
    const refusedBecause: Array<string | null> = [];
    const arrived: ArrivedEntry[] = [];
    for (const row of request.rows) {
      const at = (index: number): SqlValue => (index < 0 ? null : (row.values[index] ?? null));
      if (this.findEntry.get(...identityAt.map(at)) !== undefined) {
        duplicates++;
        continue;
      }
      if (insert.run(...keep.map(at), row.origin, this.selfId).changes === 0) {
        refusedBecause.push(nullInRequired(this.shape, columns, (column) => at(position(column)) === null));
        continue;
      }
      inserted++;
      arrived.push([at(timestampAt), at(contextAt), at(sourceAt), at(contentAt)]);
    }
    const rejected = refusedBecause.length;
    return {
      received: inserted,
      duplicates,
      rejected,
      refusals: attributeRefusals(rejected, refusedBecause),
      ...tallyArrivals(arrived, this.naive),
    };
  }

  private insertStatement(columns: string[]): Statement {
    const key = columns.join('\u0000');
    let statement = this.insertStatements.get(key);
    if (!statement) {
      statement = this.db.prepare(`${insertEntriesInto(columns)} VALUES (${[...columns.map(() => '?'), receivedOrigin('?')].join(', ')})`);
      this.insertStatements.set(key, statement);
    }
    return statement;
  }
}

export function readCursor(db: Database, senderId: string, routeKey: string): number {
  const { sql, params } = cursorSql(senderId, routeKey);
  const row = db.prepare(sql, { exactIntegers: true }).get(...params);
  return row ? Number(row.t) : 0;
}
