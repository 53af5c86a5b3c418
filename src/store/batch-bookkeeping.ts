/**
 * Commits, inside a received batch's write transaction, what store/receive-sql.ts says every batch
 * commits besides its rows (the cursor, the known nodes, the relay mark), on a connection of this
 * process.
 */
import { ARRIVALS_TABLE } from '../core/notes-table.js';
import type { Database, Statement } from './sqlite/driver.js';
import { batchBookkeepingSql, type BatchReceipt } from './receive-sql.js';
import { tableExists } from './schema.js';

export class BatchBookkeeping {
  private readonly statements = new Map<string, Statement>();
  /**
   * A database at an older schema opened without preparing (a dry run, whose rollback drops the mark
   * anyway, or verify's own database) has no relay marks table: its batches go unmarked, so their rows
   * may travel back once, which dedupe absorbs.
   */
  private readonly relayMarks: boolean;

  constructor(
    private readonly db: Database,
    private readonly selfId: string,
  ) {
    this.relayMarks = tableExists(db, ARRIVALS_TABLE);
  }

  /**
   * Call inside the batch's write transaction, after its rows; `before` is the notes table's max
   * rowid as the transaction began, `inserted` how many rows the batch inserted.
   */
  record(receipt: BatchReceipt, before: number, inserted: number): void {
    const arrivedAfter = this.relayMarks && inserted > 0 ? before : undefined;
    for (const { sql, params } of batchBookkeepingSql(this.selfId, receipt, arrivedAfter)) this.statement(sql).run(...params);
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
