/**
 * `resonance-sync ui [--port N] [--db PATH]`: the status page (src/ui/server.ts) on 127.0.0.1, its URL
 * printed with the token every request must carry. Runs until SIGINT/SIGTERM, which stop a sync in
 * flight at its next batch boundary and close the server.
 */
import type { Command } from 'commander';
import { SyncError } from '../../core/errors.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface UiOptions extends GlobalOptions {
  db?: string;
  port?: string;
}

export function registerUi(program: Command): void {
  program
    .command('ui')
    .description('serve a local status page: peers, memory circulation, history chart, received notes, sync now')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--port <n>', 'port on 127.0.0.1 (default: one the system picks)')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<UiOptions>();
      const context = new CliContext(options);
      const port = options.port === undefined ? 0 : Number(options.port);
      if (!/^\d{1,5}$/.test(options.port ?? '0') || port > 65535) {
        throw new SyncError('USAGE', `--port must be a port number from 0 to 65535, not ${JSON.stringify(options.port)}`);
      }
      const config = context.config();
      const target = {
        configPath: context.configPath,
        explicitConfig: options.config !== undefined,
        dbPath: context.databasePath(config, options.db),
      };
      const { gatherSnapshot, startUiServer } = await import('../../ui/entry.js');
      await gatherSnapshot(target); // a wrong database or config fails here, as one line, not on the page
      const server = await startUiServer({ target, port });
      // The URL is the one line a script needs: print it even with --quiet.
      process.stdout.write(`${server.url}\n`);
      context.print(`resonance-sync ui: open the URL above (it holds this run's token); Ctrl-C stops the page`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
