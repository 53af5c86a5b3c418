/**
 * The node:sqlite binding (Node ≥ 22.16, for StatementSync.columns() and setReturnArrays()): no
 * native build, so it is what runs on a Termux phone.
 *
 * node:sqlite (at least up to Node 24.9) builds every TEXT value it reads with a C-string
 * conversion (`String::NewFromUtf8` without the byte length), so a value that contains U+0000 comes
 * back cut at the first NUL. Binding is exact (the full string is stored), so on its own this would
 * silently shorten notes whenever a phone reads and forwards them. This adapter therefore reads
 * through a wrapped query that finds such values in SQL and sends them a second time, JSON-escaped,
 * in one extra column that is NULL for every other row. See exactReadSql().
 */
import { createRequire } from 'node:module';
import { SyncError } from '../../core/errors.js';
import type { Database, Driver, OpenOptions, PrepareOptions, SqlRow, Statement } from './driver.js';
import type { SqlValue } from '../../core/sql-value.js';

const require = createRequire(import.meta.url);

/** The part of node:sqlite we use; declared here because Node 20's type definitions lack it. */
interface NodeStatementSync {
  run(...params: SqlValue[]): { changes: number | bigint };
  get(...params: SqlValue[]): unknown;
  all(...params: SqlValue[]): unknown[];
  iterate(...params: SqlValue[]): IterableIterator<unknown>;
  setReadBigInts(enabled: boolean): void;
  /** Node ≥ 22.16. */
  setReturnArrays?(enabled: boolean): void;
  /** Node ≥ 22.16. */
  columns?(): Array<{ name: string }>;
}
interface NodeDatabaseSync {
  exec(sql: string): void;
  prepare(sql: string): NodeStatementSync;
  /** Node ≥ 22.13. */
  function(name: string, options: { deterministic: boolean; useBigIntArguments: boolean }, fn: (...args: SqlValue[]) => SqlValue): void;
  close(): void;
}
interface NodeSqliteModule {
  DatabaseSync: new (path: string, options?: { open?: boolean; readOnly?: boolean }) => NodeDatabaseSync;
}

/** Name of the CTE the wrapped query reads from; nothing in a real query is called that. */
const EXACT_CTE = '__resonance_exact';

/**
 * The query that returns exactly the rows of `sql`, plus one last column: NULL, or, when a TEXT value
 * of the row contains U+0000, a JSON array holding every TEXT value of the row (others as null).
 * JSON escapes NUL as \u0000, so that text crosses node:sqlite's C-string conversion intact.
 *
 * Why it keeps the query's meaning:
 * - The original text is the body of a subquery, unchanged: same parameters in the same order,
 *   same WHERE, same ORDER BY (SQLite only drops a subquery's ORDER BY when the outer query sorts
 *   or joins, and this one does neither), same values (nothing applies an affinity on the way out).
 * - `LIMIT -1 OFFSET 0` limits nothing, but a subquery with an OFFSET is never flattened into the
 *   outer query, so it runs as a co-routine and every expression of `sql` is evaluated once per row:
 *   the value returned and the value checked are the same even for random() or a volatile function.
 * - Columns get positional names c0…, so duplicate or odd column names of `sql` do not matter.
 *
 * The check, one per row: printf('%s…') copies every value of the row up to its first NUL (strlen,
 * the very cut node:sqlite makes), length(CAST(… AS BLOB)) counts all bytes of each value. For TEXT
 * without NUL, numbers and NULL both sides agree; a value with a NUL makes the left side strictly
 * shorter, and no value can make it longer (a BLOB is also cut at a 0 byte, or converted between
 * UTF-16 and UTF-8 and back, which never adds code units), so a shorter left side is exactly "some
 * value of this row was cut". Both sides are in the database encoding (SQLite converts a function's
 * text result to it), so this holds for UTF-16 files too. A BLOB with a 0 byte only makes the row
 * carry the JSON array needlessly: BLOBs are not in it and read exactly anyway.
 * Measured on Node 24 (100k rows of 500-character notes) this was the cheapest exact check:
 * instr(value, char(0)) per column scans bytewise and cost about twice as much.
 * A row whose text adds up to more than SQLite's length limit (1 GB) fails loudly (SQLITE_TOOBIG).
 *
 * `|| ''` drops a JSON subtype, so json_array() quotes such a value as a string instead of
 * embedding it as JSON.
 */
export function exactReadSql(sql: string, columnCount: number): string {
  const names = Array.from({ length: columnCount }, (_, i) => `c${i}`);
  const list = names.join(', ');
  const cut = `length(CAST(printf('${'%s'.repeat(columnCount)}', ${list}) AS BLOB))`;
  const whole = names.map((name) => `coalesce(length(CAST(${name} AS BLOB)), 0)`).join(' + ');
  const texts = names.map((name) => `CASE WHEN typeof(${name}) = 'text' THEN ${name} || '' END`).join(', ');
  // A trailing ';' is legal in a statement but not inside parentheses; newlines end a trailing -- comment.
  const body = sql.replace(/[\s;]+$/, '');
  return (
    `WITH ${EXACT_CTE}(${list}) AS (SELECT * FROM (\n${body}\n) LIMIT -1 OFFSET 0)\n` +
    `SELECT ${list}, CASE WHEN ${cut} < ${whole} THEN json_array(${texts}) END FROM ${EXACT_CTE}`
  );
}

/** Removes the extra column of an exactReadSql() row and puts back the full text of any value it covers. */
function exactValues(row: SqlValue[]): SqlValue[] {
  const texts = row.pop();
  if (texts === null || texts === undefined) return row;
  const parsed: unknown = typeof texts === 'string' ? JSON.parse(texts) : undefined;
  if (!Array.isArray(parsed) || parsed.length !== row.length) {
    throw new SyncError('INTERNAL', 'node:sqlite returned a malformed text repair column; nothing was synced from this read');
  }
  for (let i = 0; i < row.length; i++) {
    const text: unknown = parsed[i];
    if (typeof text === 'string') row[i] = text;
    else if (typeof row[i] === 'string') {
      throw new SyncError('INTERNAL', `node:sqlite could not restore the full text of column ${i}; nothing was synced from this read`);
    }
  }
  return row;
}

/** Like node:sqlite's own rows: no prototype, so a column called __proto__ or toString is just a key. */
function toRow(names: readonly string[], values: readonly SqlValue[]): SqlRow {
  const row = Object.create(null) as SqlRow;
  for (let i = 0; i < names.length; i++) row[names[i] as string] = values[i] as SqlValue;
  return row;
}

/**
 * Statements that cannot be wrapped in a subquery and still return rows. PRAGMA and EXPLAIN output is
 * made by SQLite from C strings (names, messages, SQL text), so it never holds a NUL and reads exactly.
 * Anything else (INSERT … RETURNING) is read natively but throws on the first string it returns,
 * after the write itself has run: resonance-sync only ever returns integers that way, so this can
 * only surface while developing, never as a silently shortened value.
 */
const SQLITE_MADE_TEXT = /^\s*(?:PRAGMA|EXPLAIN)\b/i;
/** SQLite's generic error code, what a statement that is not valid SQL in a subquery fails with. */
const SQLITE_ERROR = 1;

/**
 * How a statement's rows are read:
 * - native: as node:sqlite returns them (no result columns, a Node that reads NUL exactly, or PRAGMA);
 * - exact: through exactReadSql();
 * - guarded: natively, but a row holding a string throws instead of returning text that may be cut.
 */
type ReadMode = { kind: 'native' } | { kind: 'guarded' } | { kind: 'exact'; sql: string; names: string[] };

class NodeStatement implements Statement {
  private objects: NodeStatementSync | undefined;
  private arrays: NodeStatementSync | undefined;

  constructor(
    private readonly inner: NodeStatementSync,
    private readonly mode: ReadMode,
    private readonly prepare: (sql: string) => NodeStatementSync,
    private readonly sql: string,
    /** The wrapped statement prepared to test that wrapping works; the first reader takes it over. */
    private spare?: NodeStatementSync,
  ) {}

  /** Object rows and array rows use separate prepared statements, so one can be iterated while the other runs. */
  private reader(kind: 'objects' | 'arrays'): NodeStatementSync {
    const existing = kind === 'objects' ? this.objects : this.arrays;
    if (existing) return existing;
    let made: NodeStatementSync;
    if (this.mode.kind === 'exact') {
      made = this.spare ?? this.prepare(this.mode.sql);
      this.spare = undefined;
      made.setReturnArrays?.(true);
    } else if (kind === 'objects') {
      made = this.inner;
    } else {
      made = this.prepare(this.sql);
      made.setReturnArrays?.(true);
    }
    if (kind === 'objects') this.objects = made;
    else this.arrays = made;
    return made;
  }

  private refuse(): never {
    throw new SyncError(
      'DB_ERROR',
      `node:sqlite (Node ${process.version}) cuts text at U+0000 and this statement cannot be read around that: ` +
        `${this.sql.trim().split('\n')[0]}; run with better-sqlite3 (RESONANCE_SYNC_SQLITE=better-sqlite3)`,
    );
  }

  private guard<T extends SqlRow | SqlValue[]>(row: T): T {
    if (this.mode.kind === 'guarded' && Object.values(row).some((value) => typeof value === 'string')) this.refuse();
    return row;
  }

  *iterateArrays(...params: SqlValue[]): IterableIterator<SqlValue[]> {
    const reader = this.reader('arrays');
    if (this.mode.kind === 'exact') {
      for (const row of reader.iterate(...params)) yield exactValues(row as SqlValue[]);
      return;
    }
    for (const row of reader.iterate(...params)) {
      // Before Node 22.16 there are no array rows; column names in our queries are unique, so values keep order.
      yield this.guard(Array.isArray(row) ? (row as SqlValue[]) : Object.values(row as SqlRow));
    }
  }
  run(...params: SqlValue[]) {
    return { changes: Number(this.inner.run(...params).changes) };
  }
  get(...params: SqlValue[]): SqlRow | undefined {
    const row = this.reader('objects').get(...params);
    if (row === undefined) return undefined;
    if (this.mode.kind === 'exact') return toRow(this.mode.names, exactValues(row as SqlValue[]));
    return this.guard(row as SqlRow);
  }
  all(...params: SqlValue[]): SqlRow[] {
    const rows = this.reader('objects').all(...params);
    const mode = this.mode;
    if (mode.kind === 'exact') return rows.map((row) => toRow(mode.names, exactValues(row as SqlValue[])));
    return (rows as SqlRow[]).map((row) => this.guard(row));
  }
  *iterate(...params: SqlValue[]): IterableIterator<SqlRow> {
    const mode = this.mode;
    for (const row of this.reader('objects').iterate(...params)) {
      yield mode.kind === 'exact' ? toRow(mode.names, exactValues(row as SqlValue[])) : this.guard(row as SqlRow);
    }
  }
}

class NodeDatabase implements Database {
  readonly driverName = 'node:sqlite' as const;
  constructor(
    private readonly inner: NodeDatabaseSync,
    /** False when this Node reads TEXT with U+0000 exactly, and the wrapping is not needed. */
    private readonly cutsText: boolean,
  ) {}
  exec(sql: string): void {
    this.inner.exec(sql);
  }
  prepare(sql: string, options?: PrepareOptions): Statement {
    const make = (text: string) => {
      const statement = this.inner.prepare(text);
      if (options?.exactIntegers) statement.setReadBigInts(true);
      return statement;
    };
    const inner = make(sql);
    const { mode, spare } = this.readMode(sql, inner, make);
    return new NodeStatement(inner, mode, make, sql, spare);
  }
  defineFunction(name: string, fn: (...args: SqlValue[]) => SqlValue): void {
    this.inner.function(name, { deterministic: false, useBigIntArguments: false }, fn);
  }
  close(): void {
    this.inner.close();
  }

  private readMode(
    sql: string,
    inner: NodeStatementSync,
    make: (text: string) => NodeStatementSync,
  ): { mode: ReadMode; spare?: NodeStatementSync } {
    if (!this.cutsText) return { mode: { kind: 'native' } };
    // loadNodeSqliteDriver() only accepts a cutting node:sqlite that has columns().
    const names = (inner.columns?.() ?? []).map((column) => column.name);
    if (names.length === 0) return { mode: { kind: 'native' } };
    const wrapped = exactReadSql(sql, names.length);
    let spare: NodeStatementSync;
    try {
      spare = make(wrapped);
    } catch (error) {
      // A plain SQL error: not a SELECT-like statement (PRAGMA, EXPLAIN, INSERT … RETURNING), it cannot
      // be a subquery. Anything else (a locked schema, no memory) is a real failure for the caller.
      const code = (error as { errcode?: unknown } | null)?.errcode;
      if (typeof code !== 'number' || (code & 0xff) !== SQLITE_ERROR) throw error;
      return { mode: SQLITE_MADE_TEXT.test(sql) ? { kind: 'native' } : { kind: 'guarded' } };
    }
    return { mode: { kind: 'exact', sql: wrapped, names }, spare };
  }
}

/** The first value of a one-row query, read natively (with or without array rows). */
function readBack(db: NodeDatabaseSync, sql: string): unknown {
  const statement = db.prepare(sql);
  statement.setReturnArrays?.(true);
  const row = statement.get();
  return Array.isArray(row) ? row[0] : (row as Record<string, unknown> | undefined)?.v;
}

/**
 * Loads node:sqlite without its one-time ExperimentalWarning, or returns undefined on older Node.
 * Throws a SyncError when node:sqlite is there but would cut text and cannot be worked around.
 */
export function loadNodeSqliteDriver(): Driver | undefined {
  let sqlite: NodeSqliteModule;
  let cutsText: boolean;
  const emitWarning = process.emitWarning;
  try {
    process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
      const text = typeof warning === 'string' ? warning : warning.message;
      if (/sqlite/i.test(text)) return;
      (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
    }) as typeof process.emitWarning;
    sqlite = require('node:sqlite') as NodeSqliteModule;
    const probe = new sqlite.DatabaseSync(':memory:');
    try {
      const statement = probe.prepare('SELECT 1');
      if (typeof statement.iterate !== 'function') return undefined;
      const text = "'a' || char(0) || 'b'";
      cutsText = readBack(probe, `SELECT ${text} AS v`) !== 'a\u0000b';
      // Prove the workaround on this very build before trusting it with notes.
      if (
        cutsText &&
        (typeof statement.columns !== 'function' || typeof statement.setReturnArrays !== 'function' || !workaroundWorks(probe, text))
      ) {
        throw new SyncError(
          'DB_ERROR',
          `node:sqlite in Node ${process.version} cuts text at U+0000 and cannot be read around that here; use Node >= 22.16 or install better-sqlite3`,
        );
      }
    } finally {
      probe.close();
    }
  } catch (error) {
    if (error instanceof SyncError) throw error;
    return undefined;
  } finally {
    process.emitWarning = emitWarning;
  }
  return {
    name: 'node:sqlite',
    open(path: string, options: OpenOptions): Database {
      // node:sqlite has no "must exist" flag; the caller checks existence before opening.
      return new NodeDatabase(new sqlite.DatabaseSync(path, { readOnly: options.readOnly }), cutsText);
    },
  };
}

/** Whether exactReadSql() restores a NUL-containing text on this build of node:sqlite. */
function workaroundWorks(db: NodeDatabaseSync, text: string): boolean {
  try {
    const row = db.prepare(exactReadSql(`SELECT ${text} AS v`, 1));
    row.setReturnArrays?.(true);
    const values = row.get();
    return Array.isArray(values) && exactValues(values as SqlValue[])[0] === 'a\u0000b';
  } catch {
    return false;
  }
}
