/** Where the config file and this node's database are, from options that may name them: for the CLI and src/api alike. */
import { resolve } from 'node:path';
import { SyncError } from '../core/errors.js';
import { expandHome } from '../core/peer-url.js';
import { defaultConfigPath } from './config-file.js';
import type { Config } from './schema.js';

/** The config file: the one named (~ expanded), else $RESONANCE_SYNC_CONFIG, else ~/.config/resonance-sync/config.toml. */
export function configPathFrom(option: string | undefined): string {
  return option ? resolve(expandHome(option)) : defaultConfigPath();
}

/** The database to work on: the one named, else the config's node.db. */
export function databasePathFrom(config: Config, option: string | undefined, configPath: string): string {
  const path = option ?? config.node.db;
  if (!path) {
    throw new SyncError(
      'NO_DATABASE',
      `no database given: pass --db PATH, or run resonance-sync init --db PATH --node NAME to record one in ${configPath}`,
    );
  }
  return resolve(expandHome(path));
}
