/**
 * SQL literals for the agentless transport, whose SQL travels as text to a remote `sqlite3` and so
 * cannot bind parameters. Every value that is not ours (route patterns, node ids and names, paths)
 * becomes a hex blob cast to TEXT: the SQL text then holds only [0-9A-F], so no quote, comment or
 * dot-command can ever be smuggled in, and the bytes arrive exactly (UTF-8, as SQLite stores text).
 */
import { SyncError } from '../../core/errors.js';
import type { SqlValue } from '../../core/sql-value.js';

/** `CAST(X'…' AS TEXT)`: the exact UTF-8 bytes of `value` as a TEXT value. */
export function textLiteral(value: string): string {
  // '' has no blob literal form that casts cleanly everywhere; the empty string literal is safe.
  if (value === '') return `''`;
  return `CAST(X'${Buffer.from(value, 'utf8').toString('hex').toUpperCase()}' AS TEXT)`;
}

/** An integer, written from its exact decimal form (never from a float that could round). */
export function integerLiteral(value: number | bigint): string {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new SyncError('INTERNAL', `not an exact integer for SQL: ${value}`);
  }
  return BigInt(value).toString();
}

/** A value as a literal: TEXT as textLiteral, integers exactly, BLOBs as hex. REALs are never inlined. */
export function valueLiteral(value: SqlValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return textLiteral(value);
  if (typeof value === 'number' || typeof value === 'bigint') return integerLiteral(value);
  return `X'${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex').toUpperCase()}'`;
}

/**
 * Inlines `params` into SQL made with `?` placeholders, so the statements a local connection binds
 * (routePredicate, store/feed-filter.ts, store/receive-sql.ts) keep one definition for every
 * transport. The SQL given must hold `?` only as placeholders, which is true of those: their column
 * expressions are quoted identifiers of fixed names or NULL, and their own literals hold no `?`.
 */
export function inlineParams(sql: string, params: readonly SqlValue[]): string {
  const parts = sql.split('?');
  if (parts.length !== params.length + 1) {
    throw new SyncError('INTERNAL', `SQL has ${parts.length - 1} placeholders for ${params.length} values`);
  }
  return parts.map((part, index) => (index === 0 ? part : `${valueLiteral(params[index - 1] as SqlValue)}${part}`)).join('');
}

/** A hex string from our own code (a digest bucket or entry hash), checked before it becomes SQL. */
export function hexWordLiteral(value: string, length: number): string {
  if (value.length !== length || !/^[0-9a-f]+$/.test(value)) {
    throw new SyncError('USAGE', `not a ${length}-character lowercase hex string: ${JSON.stringify(value)}`);
  }
  return `'${value}'`;
}
