/**
 * Entries a peer's table (push) or this node's (pull) refused so far, from this node's sync_log:
 * one warning per direction with refusals, saying why and what the user can do. Nothing is retried
 * on its own (the cursor moved past them), so without this line they would only be a count.
 */
import type { Direction } from '../core/sync-log.js';
import { describeRefusal, refusalFix } from '../core/refusals.js';
import { readRefusals } from '../store/tracking.js';
import { openDatabase } from '../store/sqlite/open-database.js';
import { warn, type CheckResult } from './check.js';

export function checkRefusals(localDbPath: string, peer: string): CheckResult[] {
  let db: ReturnType<typeof openDatabase>;
  try {
    db = openDatabase(localDbPath, { readOnly: true });
  } catch {
    return []; // the database check has said why already
  }
  try {
    const results: CheckResult[] = [];
    for (const direction of ['push', 'pull'] as const satisfies readonly Direction[]) {
      const refused = readRefusals(db, peer, direction);
      if (refused.entries === 0) continue;
      const receiver = direction === 'push' ? peer : 'this node';
      const detail = `${direction}: ${refused.entries} entries refused by ${receiver}'s table (last ${refused.lastAt ?? '?'}): ${refused.refusals.map(describeRefusal).join(', ')}; passed over, never retried on their own`;
      const hint = refused.refusals.map((refusal) => refusalFix(refusal, receiver, direction, peer)).join('; ');
      results.push(warn('refused entries', detail, hint, peer));
    }
    // No line when nothing was refused: the report stays one line per thing worth knowing.
    return results;
  } catch {
    return []; // not prepared: the database check has said so
  } finally {
    db.close();
  }
}
