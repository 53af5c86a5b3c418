/** A database as the previous version (schema 1) prepared it: everything but the relay marks table. */
import { ARRIVALS_TABLE, META_TABLE } from '../../src/core/notes-table.js';
import { withDb } from './notes-db.js';

export function downgradeToSchemaV1(path: string): void {
  withDb(path, (db) => db.exec(`DROP TABLE ${ARRIVALS_TABLE}; UPDATE ${META_TABLE} SET value = '1' WHERE key = 'schema_version';`));
}

export function hasArrivalsTable(path: string): boolean {
  return withDb(path, (db) => db.prepare(`SELECT 1 AS x FROM sqlite_schema WHERE name = ?`).get(ARRIVALS_TABLE) !== undefined);
}
