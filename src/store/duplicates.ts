/**
 * Counts the entries a database held more than once before we came (reported by `init` and
 * `doctor`, never deleted), without keeping its writers out for long.
 *
 * Counting means grouping every note by (timestamp, content, source): on a large table one statement
 * doing that sorts every note's content for seconds (5 s for 500k notes here), and for all that time
 * it holds a lock. In the default rollback journal even a read lock stops every other writer from
 * committing, so the count walks the timestamp index in steps instead: each step is one short
 * statement (its own read transaction) over a range of whole timestamps. Identical entries share a
 * timestamp, so a group never straddles two steps, and the sum of the steps is exactly the one-statement
 * count (when nobody writes meanwhile; while agents write it is a report, not a rule).
 */
import { NOTES_TABLE } from '../core/notes-table.js';
import type { SqlValue } from '../core/sql-value.js';
import { probeNotesTable, timestampIndexes } from './schema.js';
import type { Database } from './sqlite/driver.js';

export interface DuplicateReport {
  groups: number;
  extraRows: number;
}

/** Notes per step: a few milliseconds of reading each, so a writer waiting to commit is kept no longer. */
const STEP_ROWS = 500;

export function countDuplicates(db: Database): DuplicateReport {
  const source = probeNotesTable(db, '').hasSource ? 'source' : 'NULL';
  // GROUP BY puts NULLs together, which is the identity we want (NULL equal to NULL).
  const count = (where: string, params: SqlValue[]): DuplicateReport => {
    const row = db
      .prepare(
        `SELECT count(*) AS groups, coalesce(sum(n - 1), 0) AS extra FROM (
           SELECT count(*) AS n FROM ${NOTES_TABLE} WHERE ${where} GROUP BY timestamp, content, ${source} HAVING count(*) > 1)`,
      )
      .get(...params);
    return { groups: Number(row?.groups ?? 0), extraRows: Number(row?.extra ?? 0) };
  };
  // Without an index on timestamp (a database not prepared yet, seen by doctor) there is nothing to step along.
  if (timestampIndexes(db).length === 0) return count('1', []);

  const total = count('timestamp IS NULL', []);
  const add = (part: DuplicateReport) => {
    total.groups += part.groups;
    total.extraRows += part.extraRows;
  };
  // The timestamp STEP_ROWS further on: a step takes every note up to and including it. Values are
  // bound back exactly as read (exact integers, the stored type), so the ranges meet without a gap.
  const nextBound = db.prepare(
    `SELECT timestamp FROM ${NOTES_TABLE} WHERE timestamp > ? ORDER BY timestamp LIMIT 1 OFFSET ${STEP_ROWS - 1}`,
    {
      exactIntegers: true,
    },
  );
  const firstBound = db.prepare(
    `SELECT timestamp FROM ${NOTES_TABLE} WHERE timestamp IS NOT NULL ORDER BY timestamp LIMIT 1 OFFSET ${STEP_ROWS - 1}`,
    { exactIntegers: true },
  );
  let low: SqlValue | undefined;
  for (;;) {
    const row = low === undefined ? firstBound.get() : nextBound.get(low);
    const lowWhere = low === undefined ? 'timestamp IS NOT NULL' : 'timestamp > ?';
    const lowParams = low === undefined ? [] : [low];
    if (row === undefined) {
      add(count(lowWhere, lowParams));
      return total;
    }
    const high = row.timestamp as SqlValue;
    add(count(`${lowWhere} AND timestamp <= ?`, [...lowParams, high]));
    low = high;
  }
}
