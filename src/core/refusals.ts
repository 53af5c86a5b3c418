/**
 * Why a receiver's table refused entries, and what the user can do about it. A receiver inserts with
 * OR IGNORE (store/receive-sql.ts), so a refused entry is passed over and its batch's cursor still
 * moves past it: nothing loops and nothing stalls. What is kept is the reason, per batch, so `sync`,
 * `status`, `log` and `doctor` can say it. The users' tables differ per device: the phone's has
 * `source TEXT NOT NULL`, the desktop's old rows have a NULL source, a plain agent table has no source
 * at all (prepare adds it, NULL). Such entries are refused by the phone, and nothing of ours may
 * rewrite a stored field to fit (source is part of an entry's identity), so the fix is the user's.
 */
import type { NotesTableShape } from './notes-table.js';
import type { SqlValue } from './sql-value.js';

/** Entries refused for one reason: NULL into the NOT NULL `column`, or (null) another constraint of the table. */
export interface Refusal {
  column: string | null;
  count: number;
}

/**
 * The NOT NULL column an entry would leave NULL in the receiver's table (`sent`: the columns it
 * receives, `valueOf`: the entry's value of one of them), or null when none would. A NOT NULL
 * column the entry does not carry is NULL unless it has a default.
 */
export function nullInRequired(
  shape: Pick<NotesTableShape, 'requiredColumns'>,
  sent: readonly string[],
  isNull: (column: string) => boolean,
): string | null {
  for (const required of shape.requiredColumns) {
    if (sent.includes(required.name) ? isNull(required.name) : !required.hasDefault) return required.name;
  }
  return null;
}

/** nullInRequired for a row of values in `sent` order. */
export function refusedColumnOf(
  shape: Pick<NotesTableShape, 'requiredColumns'>,
  sent: readonly string[],
  values: readonly SqlValue[],
): string | null {
  return nullInRequired(shape, sent, (column) => (values[sent.indexOf(column)] ?? null) === null);
}

/**
 * Exactly `rejected` refusals, from the reasons of candidate entries: those that were refused (a
 * writer that saw each one) or may have been (an entry with a NULL in a NOT NULL column can never be a
 * duplicate of a stored one, so it was refused). What the candidates do not explain is "another constraint".
 */
export function attributeRefusals(rejected: number, reasons: Iterable<string | null>): Refusal[] {
  const counts = new Map<string | null, number>();
  let explained = 0;
  for (const reason of reasons) {
    if (reason === null || explained >= rejected) continue;
    counts.set(reason, (counts.get(reason) ?? 0) + 1);
    explained++;
  }
  if (rejected > explained) counts.set(null, rejected - explained);
  return [...counts].map(([column, count]) => ({ column, count }));
}

/** Adds refusals up by reason. */
export function mergeRefusals(into: Refusal[], more: readonly Refusal[]): Refusal[] {
  const merged = new Map(into.map((r) => [r.column, r.count]));
  for (const r of more) merged.set(r.column, (merged.get(r.column) ?? 0) + r.count);
  return [...merged].map(([column, count]) => ({ column, count }));
}

/** "3 with NULL source (NOT NULL there)", "1 refused by another constraint". */
export function describeRefusal(refusal: Refusal): string {
  return refusal.column === null
    ? `${refusal.count} refused by another constraint (CHECK or UNIQUE)`
    : `${refusal.count} with NULL ${refusal.column} (NOT NULL there)`;
}

/**
 * What the user can do, in one line. Nothing is rewritten for them: `source` is part of an entry's
 * identity, so filling it in on the way would make the entry another one on the receiver.
 */
export function refusalFix(refusal: Refusal, receiver: string, direction: 'pull' | 'push', peer: string): string {
  const side = direction;
  if (refusal.column === 'source')
    return `keep them home with include_source = ["*"] in [peers.${peer}.${side}] (a NULL source matches no pattern), or give ${receiver}'s table a nullable source (its agents write one anyway); then resonance-sync verify ${peer} --repair sends what was refused`;
  if (refusal.column !== null)
    return `${receiver}'s table requires ${refusal.column}, which these entries lack; make that column nullable or give it a DEFAULT there (a new table copied over), or keep them home with a route; then resonance-sync verify ${peer} --repair sends what was refused`;
  return `look at ${receiver}'s CHECK/UNIQUE constraints on resonance_notes (sqlite3 <db> .schema resonance_notes)`;
}
