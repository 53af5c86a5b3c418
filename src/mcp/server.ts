/**
 * `resonance-sync mcp`: a Model Context Protocol server on stdin/stdout (the official TypeScript SDK),
 * so an agent host can read this node's notes and sync status, add a note, and sync with the other
 * devices without shelling out to the CLI. Tools that read are marked readOnlyHint; with `readOnly`
 * only those are offered. stdout carries the protocol alone: nothing else may be printed there.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { packageVersion } from '../core/version.js';
import type { Target } from '../api/index.js';
import { registerNoteTools } from './notes-tools.js';
import { registerSyncTools } from './sync-tools.js';

export interface McpOptions extends Target {
  /** Offer only the tools that read (status, recent_notes, search_notes). */
  readOnly?: boolean;
}

export function createMcpServer(options: McpOptions = {}): McpServer {
  const server = new McpServer(
    { name: 'resonance-sync', version: packageVersion() },
    {
      instructions:
        "resonance-sync keeps the table resonance_notes in step between the user's devices. recent_notes and search_notes read this node's notes, including those other devices wrote (origin names the node); status shows the peers; add_note writes a note; sync_now exchanges new notes with the peers.",
    },
  );
  const target: Target = {
    ...(options.config === undefined ? {} : { config: options.config }),
    ...(options.db === undefined ? {} : { db: options.db }),
  };
  const readOnly = options.readOnly ?? false;
  registerSyncTools(server, target, { readOnly });
  registerNoteTools(server, target, { readOnly });
  return server;
}

/** Serves on stdin/stdout until the client closes stdin; resolves then. */
export async function serveMcpOnStdio(options: McpOptions = {}): Promise<void> {
  const server = createMcpServer(options);
  const closed = new Promise<void>((resolve) => {
    server.server.onclose = resolve;
  });
  await server.connect(new StdioServerTransport());
  // The SDK's stdio transport does not notice the end of stdin by itself.
  process.stdin.once('end', () => void server.close());
  await closed;
}
