/**
 * A value exactly as SQLite stores it. Integers are `bigint` when a statement asks for exact integers.
 * TEXT comes back whole, U+0000 included, whichever binding reads it (node:sqlite needs help: see
 * store/sqlite/node-sqlite-driver.ts). The vocabulary every layer speaks, so it lives at the bottom.
 */
export type SqlValue = null | number | bigint | string | Uint8Array;

/** Bytes a value counts for batch limits and progress: a string's length, a BLOB's size, 8 otherwise. */
export function valueBytes(value: SqlValue): number {
  if (typeof value === 'string') return value.length;
  if (value instanceof Uint8Array) return value.byteLength;
  return 8;
}
