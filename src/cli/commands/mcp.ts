/** `resonance-sync mcp`: the Model Context Protocol server on stdio, for agent hosts (src/mcp/). */
import type { Command } from 'commander';
import type { GlobalOptions } from '../context.js';

interface McpCommandOptions extends GlobalOptions {
  db?: string;
  readOnly?: boolean;
}

export function registerMcp(program: Command): void {
  program
    .command('mcp')
    .description('serve the notes and syncs to an agent host as a Model Context Protocol server on stdin/stdout')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--read-only', 'offer only the tools that read: status, recent_notes, search_notes')
    .action(async (_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<McpCommandOptions>();
      // Loaded here, not with the other commands: the SDK is needed only by this one.
      const { serveMcpOnStdio } = await import('../../mcp/server.js');
      await serveMcpOnStdio({
        ...(options.config === undefined ? {} : { config: options.config }),
        ...(options.db === undefined ? {} : { db: options.db }),
        readOnly: options.readOnly ?? false,
      });
    });
}
