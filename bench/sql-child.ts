/**
 * `node dist/bench/sql-child.js DB < SCRIPT`: runs an SQL script on DB through this runtime's
 * SQLite binding, in a process that does nothing else (floors.ts nodeSqlFloor): what any Node
 * program running the same SQL pays.
 */
import { readFileSync } from 'node:fs';
import { openDatabase } from '../src/store/sqlite/open-database.js';

const db = process.argv[2];
if (db === undefined) throw new Error('usage: sql-child.js DB < SCRIPT');
const script = readFileSync(0, 'utf8');
const handle = openDatabase(db, { create: true });
try {
  handle.exec(script);
} finally {
  handle.close();
}
