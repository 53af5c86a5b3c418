/**
 * The narrow seam between resonance-sync and a SQLite binding. Two implementations exist:
 * better-sqlite3 (Node 20+, native build) and node:sqlite (Node ≥ 22.16, no native build — what a
 * Termux phone can run). Everything above this file speaks only these types.
 */

import type { SqlValue } from '../../core/sql-value.js';

export type SqlRow = Record<string, SqlValue>;

export interface RunResult {
  changes: number;
}

export interface Statement {
  run(...params: SqlValue[]): RunResult;
  get(...params: SqlValue[]): SqlRow | undefined;
  all(...params: SqlValue[]): SqlRow[];
  /** Lazily steps the statement; breaking out of the loop resets it. */
  iterate(...params: SqlValue[]): IterableIterator<SqlRow>;
  /** Like iterate, but each row is an array in column order: no object per row on the hot path. */
  iterateArrays(...params: SqlValue[]): IterableIterator<SqlValue[]>;
}

export interface PrepareOptions {
  /** Return every INTEGER as bigint, so values beyond 2^53 survive a round trip byte-exact. */
  exactIntegers?: boolean;
}

export interface Database {
  readonly driverName: DriverName;
  exec(sql: string): void;
  prepare(sql: string, options?: PrepareOptions): Statement;
  /**
   * Registers a scalar SQL function on this connection, not deterministic (called once per row it
   * is evaluated for, in the order SQLite evaluates it), taking `fn.length` arguments. INTEGERs
   * arrive as numbers.
   */
  defineFunction(name: string, fn: (...args: SqlValue[]) => SqlValue): void;
  close(): void;
}

export interface OpenOptions {
  readOnly: boolean;
  /** Create the file when missing (only `init --create` and the demo do). */
  create: boolean;
}

export type DriverName = 'better-sqlite3' | 'node:sqlite';

export interface Driver {
  readonly name: DriverName;
  open(path: string, options: OpenOptions): Database;
}
