/**
 * `resonance-sync rotate`: a drop-in for the users' resonance_rotation.py that sync survives (see
 * store/rotate.ts): archive at the size limit, fresh file from their schema file, keep N backups.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SyncError } from '../../core/errors.js';
import { expandHome } from '../../core/peer-url.js';
import { acquireSyncLock } from '../../store/lock.js';
import { rememberDatabaseFile } from '../../store/node-memory.js';
import { rotateDatabase } from '../../store/rotate.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface RotateOptions extends GlobalOptions {
  db?: string;
  maxSize?: string;
  keep?: string;
  schema?: string;
  force?: boolean;
  json?: boolean;
}

export function registerRotate(program: Command): void {
  program
    .command('rotate')
    .description('archive the database to .resonance_backups/ when it reaches --max-size and start a fresh one that keeps syncing')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--max-size <size>', 'rotate only from this size on, e.g. 200MB, 2GB (default 200MB)', '200MB')
    .option('--force', 'rotate whatever the size')
    .option('--keep <n>', 'backups to keep in .resonance_backups (default 5)', '5')
    .option('--schema <file>', 'SQL for the fresh file, such as your init_resonance.sql (default: the current table and its indexes)')
    .option('--json', 'print a machine-readable result')
    .action((_args: unknown, command: Command) => runRotate(command.optsWithGlobals<RotateOptions>()));
}

function runRotate(options: RotateOptions): void {
  const context = new CliContext(options);
  const dbPath = context.databasePath(context.config(), options.db);
  const keep = Number(options.keep);
  if (!(Number.isInteger(keep) && keep >= 1)) throw new SyncError('USAGE', `--keep must be a positive integer, not ${options.keep}`);
  const maxSizeBytes = parseSize(options.maxSize ?? '200MB');
  const schemaFile = options.schema === undefined ? undefined : resolve(expandHome(options.schema));
  let schemaSql: string | undefined;
  if (schemaFile !== undefined) {
    try {
      schemaSql = readFileSync(schemaFile, 'utf8');
    } catch (error) {
      throw new SyncError('USAGE', `cannot read the schema file ${schemaFile}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  const lock = acquireSyncLock(dbPath);
  let result: ReturnType<typeof rotateDatabase>;
  try {
    result = rotateDatabase(dbPath, { maxSizeBytes, force: options.force ?? false, keep, schemaFile, schemaSql });
    if (result.rotated) rememberDatabaseFile(dbPath);
  } finally {
    lock.release();
  }
  if (options.json) {
    context.printJson({ db: dbPath, ...result });
    return;
  }
  if (!result.rotated) {
    context.print(`${dbPath}: ${result.sizeMb.toFixed(1)}MB, under ${options.maxSize}; not rotated`);
    return;
  }
  context.print(`${dbPath}: ${result.sizeMb.toFixed(1)}MB archived to ${result.backupPath}`);
  context.print(`  fresh database: identity and cursors kept; new entries are numbered after ${result.archivedThrough}`);
  if (result.carried) context.print(`  ${result.carried} entries written during the archive moved into the new cycle`);
  for (const deleted of result.deletedBackups) context.print(`  deleted old backup ${deleted}`);
}

/** "200MB", "2GB", "500K", or bytes; units are powers of 1024, as their script counts MB. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)B?$/i.exec(text.trim());
  if (!match) throw new SyncError('USAGE', `--max-size must be a size such as 200MB or 2GB, not ${JSON.stringify(text)}`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(match[2] ?? '').toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(match[1]) * unit;
}
