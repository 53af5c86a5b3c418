/**
 * The tools over the library API (src/api): `status` reads, `sync_now` runs a sync exactly as
 * `resonance-sync sync` does, with its progress as MCP progress notifications and the request's
 * cancellation as the sync's AbortSignal (it stops at the next batch; committed batches stay).
 *
 * An agent syncs only with configured peers, by name: a path or an ssh URL chosen by a model could
 * send this node's notes anywhere, so those stay with the CLI and the person at it.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { loadConfig } from '../config/config-file.js';
import { configPathFrom } from '../config/locate.js';
import { SyncError } from '../core/errors.js';
import { status, syncPeers, type Target } from '../api/index.js';
import { progressNotifier } from './progress.js';
import { jsonResult, toolCall } from './tool-result.js';

/** Refuses a name that is not a configured peer, listing those that are. */
function requireConfiguredPeers(target: Target, names: readonly string[]): void {
  const configPath = configPathFrom(target.config);
  const config = loadConfig(configPath, { mustExist: target.config !== undefined });
  const known = config.peers.map((peer) => peer.name);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length === 0) return;
  throw new SyncError(
    'PEER_UNKNOWN',
    `no peer named ${unknown.join(', ')} in ${configPath} (configured: ${known.length > 0 ? known.join(', ') : 'none'}); add one with resonance-sync peer add NAME URL`,
  );
}

export function registerSyncTools(server: McpServer, target: Target, options: { readOnly: boolean }): void {
  server.registerTool(
    'status',
    {
      title: 'Sync status',
      description:
        "This node (name, id, entries, entries received from other nodes) and, per configured peer, the last sync, totals, and entries pending each way; reads the database only, connects to no peer. The StatusReport of the README's JSON contract.",
      inputSchema: {},
      annotations: { title: 'Sync status', readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    () => toolCall(async () => jsonResult(await status(target))),
  );
  if (options.readOnly) return;
  server.registerTool(
    'sync_now',
    {
      title: 'Sync now',
      description:
        "Syncs this node's notes with configured peers now (pull then push, within each peer's routes): only new entries travel, only inserts, never a duplicate. Sends progress notifications when the request has a progressToken; cancelling stops at the next batch and keeps what was committed. Returns the SyncReport of the README's JSON contract; isError when a peer failed (its error has the code).",
      inputSchema: {
        peers: z.array(z.string().min(1)).max(50).optional().describe('Configured peer names (see status); default: every enabled peer'),
        direction: z.enum(['both', 'pull', 'push']).default('both').describe('pull: only receive; push: only send'),
        dryRun: z.boolean().default(false).describe('Only count what would flow each way; write nothing'),
        batchRows: z.number().int().min(1).max(10_000).optional().describe('Entries per committed batch (default 2000)'),
      },
      annotations: { title: 'Sync now', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (args, extra) =>
      toolCall(async () => {
        if (args.peers !== undefined) requireConfiguredPeers(target, args.peers);
        const onProgress = progressNotifier(extra);
        const report = await syncPeers({
          ...target,
          direction: args.direction,
          dryRun: args.dryRun,
          signal: extra.signal,
          ...(args.peers === undefined ? {} : { peers: args.peers }),
          ...(args.batchRows === undefined ? {} : { batchRows: args.batchRows }),
          ...(onProgress === undefined ? {} : { onProgress }),
        });
        return jsonResult(report, !report.ok);
      }),
  );
}
