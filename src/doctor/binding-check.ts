/** The doctor's "sqlite binding" line: which binding this Node uses and why, or the one fix when none loads. */
import { describeSqliteBinding } from '../store/sqlite/open-database.js';
import { fail, ok, type CheckResult } from './check.js';

export function checkSqliteBinding(): CheckResult {
  const report = describeSqliteBinding();
  if (report.binding !== undefined) return ok('sqlite binding', report.detail);
  return fail('sqlite binding', report.detail, report.fix, 'DB_ERROR');
}
