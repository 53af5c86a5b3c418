/** The node:sqlite binding (Node ≥ 22.13): no native build, so it is what runs on a Termux phone. */
import { createRequire } from 'node:module';
import type { Database, Driver, OpenOptions, PrepareOptions, SqlRow, SqlValue, Statement } from './driver.js';

const require = createRequire(import.meta.url);

/** The part of node:sqlite we use; declared here because Node 20's type definitions lack it. */
interface NodeStatementSync {
  run(...params: SqlValue[]): { changes: number | bigint };
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
  iterate(...params: SqlValue[]): IterableIterator<unknown>;
  setReadBigInts(enabled: boolean): void;
  setReturnArrays?(enabled: boolean): void;
}
interface NodeDatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): NodeStatementSync;
  close(): void;
}
interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { open?: boolean; readOnly?: boolean }) => NodeDatabaseSync;
}

class NodeStatement implements Statement {
  private arrays: NodeStatementSync | undefined;
  constructor(
    private readonly inner: NodeStatementSync,
    private readonly prepareAgain: () => NodeStatementSync,
  ) {}
  *iterateArrays(...params: SqlValue[]): IterableIterator<SqlValue[]> {
    if (!this.arrays) {
      this.arrays = this.prepareAgain();
      this.arrays.setReturnArrays?.(true);
    }
    for (const row of this.arrays.iterate(...params)) {
      // Before Node 24 there are no array rows; column names in our queries are unique, so values keep order.
      yield Array.isArray(row) ? (row as SqlValue[]) : Object.values(row as SqlRow);
    }
  }
  run(...params: SqlValue[]) {
    return { changes: Number(this.inner.run(...params).changes) };
  }
  get(...params: SqlValue[]) {
    return this.inner.get(...params) as SqlRow | undefined;
  }
  all(...params: SqlValue[]) {
    return this.inner.all(...params) as SqlRow[];
  }
  iterate(...params: SqlValue[]) {
    return this.inner.iterate(...params) as IterableIterator<SqlRow>;
  }
}

class NodeDatabase implements Database {
  readonly driverName = 'node:sqlite' as const;
  constructor(private readonly inner: NodeDatabaseSync) {}
  exec(sql: string): void {
    this.inner.exec(sql);
  }
  prepare(sql: string, options?: PrepareOptions): Statement {
    const make = () => {
      const statement = this.inner.prepare(sql);
      if (options?.exactIntegers) statement.setReadBigInts(true);
      return statement;
    };
    return new NodeStatement(make(), make);
  }
  close(): void {
    this.inner.close();
  }
}

/** Loads node:sqlite without its one-time ExperimentalWarning, or returns undefined on older Node. */
export function loadNodeSqliteDriver(): Driver | undefined {
  let sqlite: NodeSqliteModule;
  const emitWarning = process.emitWarning;
  try {
    process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
      const text = typeof warning === 'string' ? warning : warning.message;
      if (/sqlite/i.test(text)) return;
      (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
    }) as typeof process.emitWarning;
    sqlite = require('node:sqlite') as NodeSqliteModule;
    const probe = new sqlite.DatabaseSync(':memory:');
    if (typeof probe.prepare('SELECT 1').iterate !== 'function') return undefined;
    probe.close();
  } catch {
    return undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
  return {
    name: 'node:sqlite',
    open(path: string, options: OpenOptions): Database {
      // node:sqlite has no "must exist" flag; the caller checks existence before opening.
      return new NodeDatabase(new sqlite.DatabaseSync(path, { readOnly: options.readOnly }));
    },
  };
}
