/** `resonance-sync init`: prepare a database for sync and record it as this node in the config. */
import { NODE_NAME_RULE, isNodeName } from '../../core/node-name.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { saveConfig, withNode } from '../../config/config-file.js';
import { SyncError } from '../../core/errors.js';
import { databasePathState } from '../../store/database-path.js';
import { acquireSyncLock } from '../../store/lock.js';
import { countDuplicates, type DuplicateReport } from '../../store/duplicates.js';
import { rememberDatabase } from '../../store/node-memory.js';
import { prepareDatabase, SYNC_INDEX_BUILD_LIMIT_BYTES, type DedupeMode, type PrepareResult } from '../../store/prepare.js';
import { databaseError, openDatabase } from '../../store/sqlite/open-database.js';
import { CliContext, type GlobalOptions } from '../context.js';
import type { InitReport } from '../../api/contract.js';

interface InitOptions extends GlobalOptions {
  db?: string;
  node?: string;
  create?: boolean;
  dedupe?: DedupeMode;
  newIdentity?: boolean;
  buildIndex?: boolean;
  json?: boolean;
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('prepare a database for sync (additive, idempotent) and record it as this node in the config')
    .option('--db <path>', 'the database (default: node.db from the config)')
    .option('--node <name>', "this node's name, e.g. main_device (kept if already set and not given)")
    .option('--create', 'create the database file with an empty resonance_notes table if it does not exist')
    .option('--dedupe <mode>', 'timestamp-index (default) or unique-index (the original idx_unique_entry)')
    .option('--new-identity', "give this database a new node id (for a copy of another node's database)")
    .option(
      '--build-index',
      'build the dedupe index even in a database over 128 MB, where it keeps your agents from writing while it reads the whole table: at a quiet moment',
    )
    .option('--json', 'print a machine-readable result')
    .action((_args: unknown, command: Command) => {
      runInit(command.optsWithGlobals<InitOptions>());
    });
}

function runInit(options: InitOptions): void {
  const context = new CliContext(options);
  const config = context.config({ creating: true });
  const dbPath = context.databasePath(config, options.db);
  if (options.dedupe && options.dedupe !== 'timestamp-index' && options.dedupe !== 'unique-index') {
    throw new SyncError('USAGE', `--dedupe must be timestamp-index or unique-index, not ${options.dedupe}`);
  }
  if (options.node !== undefined && !isNodeName(options.node)) {
    throw new SyncError('USAGE', `--node ${NODE_NAME_RULE}, not ${JSON.stringify(options.node)}`);
  }
  // A directory or a symlink loop is no missing file: opening it below says what it is instead.
  const creating = databasePathState(dbPath) === 'missing';
  if (creating && !options.create) {
    throw new SyncError('DB_NOT_FOUND', `database not found: ${dbPath} (check the path, or add --create to make a new one)`);
  }
  if (creating) mkdirSync(dirname(dbPath), { recursive: true });
  const db = openDatabase(dbPath, { create: creating });
  let result: PrepareResult;
  let duplicates: DuplicateReport;
  try {
    const lock = acquireSyncLock(dbPath);
    try {
      result = prepareDatabase(db, dbPath, {
        // The configured name belongs to the configured database only.
        nodeName: options.node ?? (config.node.db === dbPath ? config.node.name : undefined),
        dedupe: options.dedupe ?? config.node.dedupe,
        createNotesTable: creating,
        newIdentity: options.newIdentity ?? false,
        // SQLite builds an index in one transaction: past the limit only when the user says so (prepare.ts).
        indexBuildLimitBytes: options.buildIndex ? undefined : SYNC_INDEX_BUILD_LIMIT_BYTES,
      });
      // After the write transaction, in short reads: agents keep writing meanwhile (store/duplicates.ts).
      duplicates = countDuplicates(db);
      rememberDatabase(db, dbPath);
    } finally {
      lock.release();
    }
  } catch (error) {
    throw databaseError(error, dbPath, 'preparing it');
  } finally {
    db.close();
  }
  saveConfig(context.configPath, withNode(config, { name: result.nodeName, db: dbPath }));
  if (options.json) {
    const report: InitReport = { db: dbPath, config: context.configPath, ...result, duplicates };
    context.printJson(report);
    return;
  }
  context.print(`${dbPath}: node ${result.nodeName} (${result.nodeId}), dedupe ${result.dedupe}`);
  for (const change of result.changes) context.print(`  + ${change}`);
  if (result.changes.length === 0) context.print('  already prepared; nothing changed');
  if (duplicates.extraRows > 0) {
    context.print(
      `  ! ${duplicates.extraRows} duplicate entries in ${duplicates.groups} groups were already here; they are kept, and sync works with them`,
    );
  }
  context.print(`  recorded in ${context.configPath}`);
}
