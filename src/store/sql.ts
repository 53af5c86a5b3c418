/** Helpers for the few places where an identifier (never a value) must go into SQL text. */
import type { SqlValue } from '../core/sql-value.js';

/**
 * A statement with `?` placeholders and the values for them, in order. A local connection binds
 * them; the agentless transport inlines them as literals (sqlite-cli/sql-literals.ts inlineParams),
 * so both run the same statement text. The text holds `?` only as placeholders.
 */
export interface BoundSql {
  sql: string;
  params: SqlValue[];
}

/**
 * Quotes an identifier for SQLite. Column names come from PRAGMA table_info (ours, or as a remote
 * sqlite3 reported them), never from user input.
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
