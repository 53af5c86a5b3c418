/**
 * `node dist/bench/sql-child.js DB SCRIPT_FILE`: runs an SQL script on DB through this runtime's
 * SQLite binding, in a process that does nothing else (floors.ts nodeSqlFloor): what any Node
 * program running the same SQL pays.
 */
import { readFileSync } from 'node:fs';
import { openDatabase } from '../src/store/sqlite/open-database.js';

const [db, scriptFile] = process.argv.slice(2);
if (db === undefined || scriptFile === undefined) throw new Error('usage: sql-child.js DB SCRIPT_FILE');
const handle = openDatabase(db, { create: true });
try {
  handle.exec(readFileSync(scriptFile, 'utf8'));
} finally {
  handle.close();
}
