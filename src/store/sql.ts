/** Helpers for the few places where an identifier (never a value) must go into SQL text. */

/** Quotes an identifier for SQLite. Column names come from PRAGMA table_info, never from user input. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}
