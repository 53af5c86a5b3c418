/**
 * `resonance-sync adopt --continue | --refill`: the choice a replaced database waits for (see
 * store/replacement.ts). `sync` and `doctor` name it when they find this node's file replaced.
 */
import type { Command } from 'commander';
import { SyncError } from '../../core/errors.js';
import { acquireSyncLock } from '../../store/lock.js';
import { readNodeMemory, rememberDatabaseFile } from '../../store/node-memory.js';
import { adoptReplacement, inspectDatabase } from '../../store/replacement.js';
import { findPeer } from '../../config/config-file.js';
import { adoptReplacedPeer } from '../../sync/sync-peers.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface AdoptOptions extends GlobalOptions {
  db?: string;
  continue?: boolean;
  refill?: boolean;
}

export function registerAdopt(program: Command): void {
  program
    .command('adopt')
    .argument('[peer]', "a configured peer whose database was replaced (default: this node's own database)")
    .description('make a replaced database (rotation script, wipe, restore, file copy) this node again: --continue or --refill')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--continue', "keep the file as this node's next cycle: its identity and cursors come back, only new entries flow")
    .option('--refill', 'receive again everything the peers hold (dedupe keeps each entry once)')
    .action((peer: string | undefined, _options: unknown, command: Command) => runAdopt(peer, command.optsWithGlobals<AdoptOptions>()));
}

async function runAdopt(peerName: string | undefined, options: AdoptOptions): Promise<void> {
  if (Boolean(options.continue) === Boolean(options.refill))
    throw new SyncError('USAGE', 'adopt needs exactly one of --continue and --refill');
  const context = new CliContext(options);
  const config = context.config();
  const dbPath = context.databasePath(config, options.db);
  if (peerName !== undefined) {
    context.print(await adoptReplacedPeer(dbPath, config.node, findPeer(config, peerName), options.continue ? 'continue' : 'refill'));
    return;
  }
  const lock = acquireSyncLock(dbPath);
  try {
    const replacement = inspectDatabase(dbPath, readNodeMemory(dbPath));
    if (!replacement) {
      context.print(`${dbPath} is the database this machine last synced; nothing to adopt`);
      return;
    }
    for (const line of adoptReplacement(dbPath, replacement, options.continue ? 'continue' : 'refill')) context.print(line);
    rememberDatabaseFile(dbPath);
  } finally {
    lock.release();
  }
}
