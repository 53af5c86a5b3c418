/**
 * Writing one note into this node's own table, as one of the user's agents would (the MCP server's
 * add tool): a plain INSERT of timestamp, content, context and source, origin left NULL (written
 * here), in one short IMMEDIATE transaction that waits for other writers within the busy timeout.
 * An identical entry (timestamp, content and source, NULL equal to NULL: the dedupe identity) already
 * stored is not written twice; the caller is told which row holds it.
 */
import { SyncError } from '../core/errors.js';
import { NOTES_TABLE } from '../core/notes-table.js';
import type { SqlValue } from '../core/sql-value.js';
import { sameEntry } from './receive-sql.js';
import { probeNotesTable } from './schema.js';
import { quoteIdentifier } from './sql.js';
import type { Database } from './sqlite/driver.js';
import { sqliteCodeOf } from './sqlite/open-database.js';
import { inTransaction } from './sqlite/transaction.js';

export interface NewNote {
  timestamp: string;
  content: string;
  context?: string | undefined;
  source?: string | undefined;
}

export interface AddedNote {
  /** The rowid of the new entry, or of the identical one already stored. */
  id: number;
  timestamp: string;
  /** False: an identical entry was already stored, and nothing was written. */
  added: boolean;
}

export function addNote(db: Database, path: string, note: NewNote): AddedNote {
  try {
    return inTransaction(db, 'IMMEDIATE', () => {
      const shape = probeNotesTable(db, path);
      const values: Array<[string, SqlValue]> = [
        ['timestamp', note.timestamp],
        ['content', note.content],
      ];
      for (const [column, value] of [
        ['context', note.context],
        ['source', note.source],
      ] as const) {
        if (value === undefined) continue;
        if (!shape.allColumns.includes(column)) {
          throw new SyncError('USAGE', `${path}: ${NOTES_TABLE} has no ${column} column; leave ${column} out`);
        }
        values.push([column, value]);
      }
      const given = values.map(([column]) => column);
      const missing = shape.requiredColumns.filter((column) => !column.hasDefault && !given.includes(column.name)).map((c) => c.name);
      if (missing.length > 0) {
        throw new SyncError('USAGE', `${path}: ${NOTES_TABLE} needs a value for ${missing.join(', ')}; give it with the note`);
      }
      let id: number;
      try {
        db.prepare(`INSERT INTO ${NOTES_TABLE} (${given.join(', ')}) VALUES (${given.map(() => '?').join(', ')})`).run(
          ...values.map(([, value]) => value),
        );
        id = Number(db.prepare('SELECT last_insert_rowid() AS id').get()?.id);
      } catch (error) {
        if (sqliteCodeOf(error) !== 'SQLITE_CONSTRAINT') throw error;
        const detail = error instanceof Error ? error.message : String(error);
        throw new SyncError('USAGE', `${path}: ${NOTES_TABLE} refused the note (${detail}); an identical note may be stored already`);
      }
      // Checked after the INSERT, so a source left out is compared as the column's DEFAULT filled it in.
      const existing = sameStoredAs(db, shape.hasSource, id);
      if (existing !== undefined) throw new AlreadyStored(existing);
      return { id, timestamp: note.timestamp, added: true };
    });
  } catch (error) {
    if (error instanceof AlreadyStored) return { id: error.id, timestamp: note.timestamp, added: false };
    throw error;
  }
}

/** Thrown inside the transaction to roll the duplicate back; not an error for the caller. */
class AlreadyStored extends Error {
  constructor(readonly id: number) {
    super('already stored');
  }
}

/** The rowid of another entry with the same identity as entry `id`, if one is stored. */
function sameStoredAs(db: Database, hasSource: boolean, id: number): number | undefined {
  const identity = hasSource
    ? sameEntry('m', (column) => `n.${quoteIdentifier(column)}`)
    : 'm.timestamp IS n.timestamp AND m.content IS n.content';
  const row = db
    .prepare(
      `SELECT m.rowid AS id FROM main.${NOTES_TABLE} n JOIN main.${NOTES_TABLE} m ON ${identity} AND m.rowid <> n.rowid WHERE n.rowid = ? LIMIT 1`,
    )
    .get(id);
  return row === undefined ? undefined : Number(row.id);
}
