/**
 * What a database never prepared for sync would store of a batch, counted without writing anything:
 * the receiving end of a dry run on first contact (`sync PEER --dry-run` before the peer was ever
 * prepared). It has no origin column, cursors or relay marks to write a rolled-back batch into, and
 * a preview must not even take its write lock, so the batch is only read against the table: an entry
 * identical to a stored one, or to one counted earlier in this preview, is a duplicate; one leaving a
 * NOT NULL column without a default NULL is refused. Other constraints the table may have are not
 * tried; the real sync, after preparing, applies them.
 */
import type { ApplyRequest, ApplyResult } from '../../core/replica.js';
import { tallyArrivals, type ArrivedEntry } from '../../core/arrivals.js';
import { attributeRefusals, nullInRequired } from '../../core/refusals.js';
import type { NaiveTimestamps } from '../../core/timestamps.js';
import { IDENTITY_COLUMNS, NOTES_TABLE, type NotesTableShape } from '../../core/notes-table.js';
import type { SqlValue } from '../../core/sql-value.js';
import { columnOrNull } from '../../store/feed-filter.js';
import { receivedColumns } from '../../store/receive-sql.js';
import type { Database, Statement } from '../../store/sqlite/driver.js';

export class PreviewApply {
  private readonly findEntry: Statement;
  /** Identities counted as received so far in this preview: a later equal entry is a duplicate, as if stored. */
  private readonly counted = new Set<string>();

  constructor(
    db: Database,
    private readonly shape: NotesTableShape,
    private readonly naive: NaiveTimestamps,
  ) {
    // FIND_ENTRY_SQL, but an identity column the table lacks (preparing would add it, NULL) reads as NULL.
    const same = IDENTITY_COLUMNS.map((column) => `${columnOrNull(shape, column, 'm.')} IS ?`).join(' AND ');
    this.findEntry = db.prepare(`SELECT 1 AS found FROM main.${NOTES_TABLE} m WHERE ${same} LIMIT 1`);
  }

  apply(request: ApplyRequest): ApplyResult {
    const columns = receivedColumns(this.shape, request.columns);
    const position = (name: string) => request.columns.indexOf(name);
    const identityAt = IDENTITY_COLUMNS.map(position);
    const [timestampAt, contextAt, sourceAt, contentAt] = ['timestamp', 'context', 'source', 'content'].map(position) as [
      number,
      number,
      number,
      number,
    ];
    let received = 0;
    let duplicates = 0;
    const refusedBecause: Array<string | null> = [];
    const arrived: ArrivedEntry[] = [];
    for (const row of request.rows) {
      const at = (index: number): SqlValue => (index < 0 ? null : (row.values[index] ?? null));
      const identity = identityAt.map(at);
      const key = identityKey(identity);
      if (this.counted.has(key) || this.findEntry.get(...identity) !== undefined) {
        duplicates++;
        continue;
      }
      // null: no NOT NULL column left NULL, so the entry fits (other constraints are not tried).
      const refusal = nullInRequired(this.shape, columns, (column) => at(position(column)) === null);
      if (refusal !== null) {
        refusedBecause.push(refusal);
        continue;
      }
      this.counted.add(key);
      received++;
      arrived.push([at(timestampAt), at(contextAt), at(sourceAt), at(contentAt)]);
    }
    const rejected = refusedBecause.length;
    return { received, duplicates, rejected, refusals: attributeRefusals(rejected, refusedBecause), ...tallyArrivals(arrived, this.naive) };
  }
}

/** An entry's identity as a string, byte for byte and by type (SQLite's IS compares both). */
function identityKey(values: SqlValue[]): string {
  return values
    .map((value) => {
      if (value === null) return 'n';
      if (value instanceof Uint8Array) return `b${Buffer.from(value).toString('hex')}`;
      return `${typeof value === 'string' ? 's' : 'r'}${String(value)}`;
    })
    .join('\u0000');
}
