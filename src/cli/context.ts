/** What every command gets: where the config is, how loud to be, and where output goes. */
import { defaultConfigPath, loadConfig } from '../config/config-file.js';
import type { Config } from '../config/schema.js';
import { expandHome } from '../core/peer-url.js';
import { SyncError } from '../core/errors.js';
import { resolve } from 'node:path';

export interface GlobalOptions {
  config?: string;
  verbose?: boolean;
  quiet?: boolean;
}

export class CliContext {
  readonly configPath: string;
  readonly verbose: boolean;
  readonly quiet: boolean;
  private readonly explicitConfig: boolean;

  constructor(options: GlobalOptions) {
    this.configPath = options.config ? resolve(expandHome(options.config)) : defaultConfigPath();
    this.verbose = options.verbose ?? false;
    this.quiet = options.quiet ?? false;
    this.explicitConfig = options.config !== undefined;
  }

  /** The config. A file named with --config must exist (a typo must not mean "no peers"), unless the command creates it. */
  config(options: { creating?: boolean } = {}): Config {
    return loadConfig(this.configPath, { mustExist: this.explicitConfig && !options.creating });
  }

  /** The database to work on: --db, else the config's node.db. */
  databasePath(config: Config, dbOption: string | undefined): string {
    const path = dbOption ?? config.node.db;
    if (!path) {
      throw new SyncError(
        'NO_DATABASE',
        `no database given: pass --db PATH, or run resonance-sync init --db PATH --node NAME to record one in ${this.configPath}`,
      );
    }
    return resolve(expandHome(path));
  }

  print(line = ''): void {
    if (!this.quiet) process.stdout.write(`${line}\n`);
  }

  /** Machine-readable output is printed even with --quiet. */
  printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  detail(line: string): void {
    if (this.verbose) process.stderr.write(`${line}\n`);
  }
}
