/**
 * `resonance-sync log [--peer P] [--limit N] [--json]`: the sync history from sync_log, newest first
 * (like git log), one row per direction per run: what flowed, what was skipped as already there, how
 * long it took, and for failures and skips the error code and message. Read-only: it never prepares
 * or locks the database, so it can run while a sync is going on.
 */
import type { Command } from 'commander';
import { SyncError } from '../../core/errors.js';
import { tableExists } from '../../store/schema.js';
import { LOG_TABLE } from '../../core/notes-table.js';
import type { SqlValue } from '../../core/sql-value.js';
import { openDatabase } from '../../store/sqlite/open-database.js';
import { CliContext, type GlobalOptions } from '../context.js';
import { parseRefusals } from '../../store/tracking.js';
import type { Refusal } from '../../core/refusals.js';

interface LogOptions extends GlobalOptions {
  db?: string;
  peer?: string;
  limit?: string;
  json?: boolean;
}

export interface LogRow {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  peer: string;
  direction: string;
  status: string;
  received: number;
  sent: number;
  duplicates: number;
  batches: number;
  errorCode: string | null;
  message: string | null;
  /** Entries the receiving table refused in this run, and why (the message says the fix). */
  rejected: number;
  refusals: Refusal[];
}

export function registerLog(program: Command): void {
  program
    .command('log')
    .description('show the sync history (sync_log), newest first')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--peer <name>', 'only this peer')
    .option('--limit <n>', 'at most this many rows', '20')
    .option('--json', 'print machine-readable rows')
    .action((_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<LogOptions>();
      const context = new CliContext(options);
      const limit = Number(options.limit ?? '20');
      if (!Number.isInteger(limit) || limit < 1)
        throw new SyncError('USAGE', `--limit must be a positive integer, not ${JSON.stringify(options.limit)}`);
      const rows = readLog(context.databasePath(context.config(), options.db), options.peer, limit);
      if (options.json) return context.printJson(rows);
      if (rows.length === 0)
        return context.print(options.peer === undefined ? 'no syncs recorded yet' : `no syncs with ${options.peer} recorded`);
      for (const line of formatTable(rows)) context.print(line);
    });
}

export function readLog(dbPath: string, peer: string | undefined, limit: number): LogRow[] {
  const db = openDatabase(dbPath, { readOnly: true });
  try {
    if (!tableExists(db, LOG_TABLE)) {
      throw new SyncError(
        'DB_NOT_INITIALIZED',
        `${dbPath} has no sync history yet (no ${LOG_TABLE} table); run: resonance-sync init --db ${dbPath}`,
      );
    }
    const where = peer === undefined ? '' : 'WHERE peer = ?';
    const params: SqlValue[] = peer === undefined ? [limit] : [peer, limit];
    return db
      .prepare(`SELECT * FROM ${LOG_TABLE} ${where} ORDER BY id DESC LIMIT ?`)
      .all(...params)
      .map((row) => ({
        id: Number(row.id),
        startedAt: String(row.started_at),
        finishedAt: row.finished_at === null ? null : String(row.finished_at),
        peer: String(row.peer),
        direction: String(row.direction),
        status: String(row.status),
        received: Number(row.received),
        sent: Number(row.sent),
        duplicates: Number(row.duplicates),
        batches: Number(row.batches),
        errorCode: row.error_code === null ? null : String(row.error_code),
        message: row.message === null ? null : String(row.message),
        rejected: Number(row.rejected ?? 0),
        refusals: parseRefusals(row.refusals, Number(row.rejected ?? 0)),
      }));
  } finally {
    db.close();
  }
}

/** `2025-11-30T22:00:05.123Z` -> `2025-11-30 22:00:05Z`: second precision is plenty in a table. */
function shortTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function duration(row: LogRow): string {
  if (row.finishedAt === null) return '-';
  const ms = Date.parse(row.finishedAt) - Date.parse(row.startedAt);
  return Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)}s` : '-';
}

function note(row: LogRow): string {
  if (row.status === 'running') return 'did not finish (interrupted or still running); the next run resumes';
  const code = row.errorCode === null ? '' : ` [${row.errorCode}]`;
  return `${row.message ?? ''}${code}`.trim();
}

export function formatTable(rows: LogRow[]): string[] {
  const header = ['started (UTC)', 'peer', 'dir', 'status', 'sent', 'added', 'dup', 'time', 'note'];
  const cells = rows.map((row) => {
    const counted = row.direction !== 'connect';
    const count = (n: number) => (counted ? String(n) : '-');
    return [
      shortTime(row.startedAt),
      row.peer,
      row.direction,
      row.status,
      count(row.sent),
      count(row.received),
      count(row.duplicates),
      duration(row),
      note(row),
    ];
  });
  const numeric = new Set([4, 5, 6, 7]);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((row) => (row[i] ?? '').length)));
  const render = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : numeric.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [render(header), ...cells.map(render)];
}
