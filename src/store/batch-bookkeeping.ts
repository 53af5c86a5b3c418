/**
 * Commits, inside a received batch's write transaction, what store/receive-sql.ts says every batch
 * commits besides its rows (the cursor, the known nodes), on a connection of this process.
 */
import type { Database, Statement } from './sqlite/driver.js';
import { batchBookkeepingSql, type BatchReceipt } from './receive-sql.js';

export class BatchBookkeeping {
  private readonly statements = new Map<string, Statement>();

  constructor(
    private readonly db: Database,
    private readonly selfId: string,
  ) {}

  /** Call inside the batch's write transaction. */
  record(receipt: BatchReceipt): void {
    for (const { sql, params } of batchBookkeepingSql(this.selfId, receipt)) this.statement(sql).run(...params);
  }

  private statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) this.statements.set(sql, (statement = this.db.prepare(sql)));
    return statement;
  }
}
