/** A database as an older version (schema 1) prepared it: no relay marks table (2), no refusal columns in sync_log (3). */
import { ARRIVALS_TABLE, LOG_TABLE, META_TABLE } from '../../src/core/notes-table.js';
import { withDb } from './notes-db.js';

export function downgradeToSchemaV1(path: string): void {
  withDb(path, (db) =>
    db.exec(`DROP TABLE ${ARRIVALS_TABLE}; ALTER TABLE ${LOG_TABLE} DROP COLUMN rejected; ALTER TABLE ${LOG_TABLE} DROP COLUMN refusals;
      UPDATE ${META_TABLE} SET value = '1' WHERE key = 'schema_version';`),
  );
}

/** Whether sync_log has schema 3's columns for refused entries. */
export function hasRefusalColumns(path: string): boolean {
  return withDb(
    path,
    (db) => db.prepare(`SELECT count(*) AS n FROM pragma_table_info('${LOG_TABLE}') WHERE name IN ('rejected', 'refusals')`).get()?.n === 2,
  );
}

export function hasArrivalsTable(path: string): boolean {
  return withDb(path, (db) => db.prepare(`SELECT 1 AS x FROM sqlite_schema WHERE name = ?`).get(ARRIVALS_TABLE) !== undefined);
}
