/** What every command gets: where the config is, how loud to be, and where output goes. */
import { loadConfig } from '../config/config-file.js';
import { configPathFrom, databasePathFrom } from '../config/locate.js';
import type { Config } from '../config/schema.js';

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
    this.configPath = configPathFrom(options.config);
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
    return databasePathFrom(config, dbOption, this.configPath);
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
