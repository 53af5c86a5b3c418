/**
 * `resonance-sync agent install|status|remove PEER`: the zero-install agent by hand. A sync in mode
 * auto or agent uploads it on first contact anyway; these let you do it ahead of time (say, before a
 * train ride), see what a phone has, or clean its cache. Only what this program uploaded is touched:
 * a `resonance-sync` of the user's own on the remote PATH is reported and left alone.
 */
import type { Command } from 'commander';
import { peerFromArgument } from '../../config/peer-choice.js';
import { SyncError } from '../../core/errors.js';
import { agentBundle } from '../../transport/agent/agent-bundle.js';
import { runAgentAction, type AgentRemoteResult } from '../../transport/agent/agent-remote.js';
import type { PeerConfig } from '../../config/schema.js';
import type { SshLocation } from '../../transport/ssh/ssh-command.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface AgentOptions extends GlobalOptions {
  json?: boolean;
}

export function registerAgent(program: Command): void {
  const agent = program
    .command('agent')
    .description("the agent this installation uploads to an ssh peer's cache (~/.cache/resonance-sync)");
  for (const [action, description] of [
    ['install', 'upload the agent now, as the first sync would (nothing is sent if the cache holds it)'],
    ['status', "show the peer's Node, its own resonance-sync if any, and the cached agents"],
    ['remove', 'delete the agents this program uploaded there (never your own install)'],
  ] as const) {
    agent
      .command(action)
      .description(description)
      .argument('<peer>', 'a configured ssh peer, or an ssh URL')
      .option('--json', 'print a machine-readable report')
      .action(async (argument: string, _options: unknown, command: Command) => {
        const options = command.optsWithGlobals<AgentOptions>();
        const context = new CliContext(options);
        const peer = peerFromArgument(context.config(), argument);
        const location = sshLocation(peer);
        const agentUpload = peer.agentUpload ?? context.config().node.agentUpload ?? true;
        if (action === 'install' && !agentUpload)
          throw new SyncError('USAGE', `agent_upload = false for ${peer.name}: allow it in the config to install the agent there`);
        const result = await runAgentAction(location, action, { agentUpload, env: process.env });
        const report = agentReport(peer, result);
        if (options.json) context.printJson(report);
        else for (const line of reportLines(report)) context.print(line);
      });
  }
}

function sshLocation(peer: PeerConfig): SshLocation {
  if (peer.location.kind !== 'ssh') throw new SyncError('USAGE', `${peer.name} is a local file: the agent is only for ssh peers`);
  return peer.location;
}

export interface AgentCommandReport {
  peer: string;
  destination: string;
  /** This installation's agent: version and cache name. */
  local: { version: string; file: string; bytes: number };
  /** The remote's Node (`node --version`), or null when it has none usable; then `nodeProblem` says why. */
  node: string | null;
  nodeProblem: string | null;
  /** The user's own resonance-sync on the remote PATH (never touched). */
  installed: string | null;
  /** This installation's agent in the remote's cache, if there. */
  cached: string | null;
  /** Other agents in the cache (other versions). */
  others: string[];
  /** Cached files that failed their hash and were deleted. */
  deletedCorrupt: string[];
  removed: string[];
  uploadedBytes: number;
}

function agentReport(peer: PeerConfig, result: AgentRemoteResult): AgentCommandReport {
  const bundle = agentBundle();
  const all = (name: string) => result.events.filter((e) => e.event === name).map((e) => e.detail);
  const ready = result.events.find((e) => e.event === 'ready')?.detail;
  const unavailable = all('unavailable')[0];
  return {
    peer: peer.name,
    destination: result.destination,
    local: { version: bundle.version, file: bundle.cacheName, bytes: bundle.bytes.length },
    node: all('node')[0] ?? null,
    nodeProblem: unavailable ?? null,
    installed: all('installed')[0] ?? null,
    cached: all('cached')[0] ?? (ready === undefined ? null : ready.slice(ready.indexOf(' ') + 1)),
    others: all('other'),
    deletedCorrupt: all('corrupt'),
    removed: all('removed'),
    uploadedBytes: result.uploadedBytes,
  };
}

function reportLines(r: AgentCommandReport): string[] {
  const lines = [`${r.peer} (${r.destination}); this installation's agent: ${r.local.version} (${r.local.file}, ${r.local.bytes} bytes)`];
  if (r.installed) lines.push(`  your own install on its PATH: ${r.installed} (used first when its protocol matches; never touched)`);
  if (r.node) lines.push(`  node: ${r.node}`);
  if (r.nodeProblem) lines.push(`  no usable Node: ${r.nodeProblem}`);
  for (const path of r.deletedCorrupt) lines.push(`  deleted, failed its sha256 check: ${path}`);
  if (r.cached) lines.push(`  agent: ${r.cached}${r.uploadedBytes ? ` (uploaded now, ${r.uploadedBytes} bytes)` : ''}`);
  else if (r.removed.length === 0 && !r.nodeProblem) lines.push('  agent: not cached (the next sync uploads it)');
  for (const path of r.others) lines.push(`  other version: ${path}`);
  for (const path of r.removed) lines.push(`  removed: ${path}`);
  return lines;
}
