/** The better-sqlite3 binding: the default on desktops (Node 20 and later, built from source). */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { Database, Driver, OpenOptions, PrepareOptions, SqlRow, Statement } from './driver.js';
import type { SqlValue } from '../../core/sql-value.js';

const require = createRequire(import.meta.url);

/** better-sqlite3 binds Buffers, not plain Uint8Arrays. */
function toBindable(params: SqlValue[]): unknown[] {
  return params.map((value) =>
    value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value,
  );
}

class BetterStatement implements Statement {
  private arrays: BetterSqlite3.Statement | undefined;
  constructor(
    private readonly inner: BetterSqlite3.Statement,
    private readonly prepareAgain: () => BetterSqlite3.Statement,
  ) {}
  iterateArrays(...params: SqlValue[]) {
    this.arrays ??= this.prepareAgain().raw(true);
    return this.arrays.iterate(...toBindable(params)) as IterableIterator<SqlValue[]>;
  }
  run(...params: SqlValue[]) {
    return { changes: this.inner.run(...toBindable(params)).changes };
  }
  get(...params: SqlValue[]) {
    return this.inner.get(...toBindable(params)) as SqlRow | undefined;
  }
  all(...params: SqlValue[]) {
    return this.inner.all(...toBindable(params)) as SqlRow[];
  }
  iterate(...params: SqlValue[]) {
    return this.inner.iterate(...toBindable(params)) as IterableIterator<SqlRow>;
  }
}

class BetterDatabase implements Database {
  readonly driverName = 'better-sqlite3' as const;
  constructor(private readonly inner: BetterSqlite3.Database) {}
  exec(sql: string): void {
    this.inner.exec(sql);
  }
  prepare(sql: string, options?: PrepareOptions): Statement {
    const make = () => {
      const statement = this.inner.prepare(sql);
      if (options?.exactIntegers && statement.reader) statement.safeIntegers(true);
      return statement;
    };
    return new BetterStatement(make(), make);
  }
  defineFunction(name: string, fn: (...args: SqlValue[]) => SqlValue): void {
    this.inner.function(
      name,
      { deterministic: false, safeIntegers: false, varargs: true },
      (...args: unknown[]) => fn(...(args as SqlValue[])) as never,
    );
  }
  close(): void {
    this.inner.close();
  }
}

/** Why the last load attempt failed (for `--version --verbose` and `doctor`), or undefined. */
let loadFailure: unknown;

export function betterSqlite3LoadFailure(): unknown {
  return loadFailure;
}

/** Loads the binding, or returns undefined when it is not installed or not built for this Node. */
export function loadBetterSqlite3Driver(): Driver | undefined {
  let Constructor: typeof BetterSqlite3;
  try {
    Constructor = require('better-sqlite3') as typeof BetterSqlite3;
    // The native module loads lazily: open a throwaway in-memory database to prove it works here.
    new Constructor(':memory:').close();
  } catch (error) {
    loadFailure = error;
    return undefined;
  }
  return {
    name: 'better-sqlite3',
    open(path: string, options: OpenOptions): Database {
      const inner = new Constructor(path, { readonly: options.readOnly, fileMustExist: !options.create });
      return new BetterDatabase(inner);
    },
  };
}
