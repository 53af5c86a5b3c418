/** `resonance-sync status`: this node and, per peer, last sync, success, totals and pending entries. */
import type { Command } from 'commander';
import { gatherStatus, type PeerStatus } from '../../sync/status.js';
import { describeRefusal } from '../../core/refusals.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface StatusOptions extends GlobalOptions {
  db?: string;
  json?: boolean;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show this node and, per peer, the last sync, entries received/sent and pending each way')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--json', 'print machine-readable status')
    .action((_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<StatusOptions>();
      const context = new CliContext(options);
      const config = context.config();
      const status = gatherStatus(context.databasePath(config, options.db), config);
      if (options.json) {
        context.printJson(status);
        return;
      }
      context.print(`node ${status.node.name} (${status.node.id})`);
      context.print(
        `  ${status.db}: ${status.entries} entries, ${status.receivedEntries} of them received from other nodes; dedupe ${status.dedupe}`,
      );
      if (status.peers.length === 0) context.print('  no peers configured (resonance-sync peer add NAME URL)');
      for (const peer of status.peers) for (const line of peerLines(peer)) context.print(line);
    });
}

function peerLines(peer: PeerStatus): string[] {
  const pending = (value: number | null) => (value === null ? '?' : String(value));
  const lines = [`peer ${peer.name}${peer.enabled ? '' : ' (disabled)'}  ${peer.url}`];
  if (!peer.tracking) {
    lines.push('  never synced');
  } else {
    lines.push(
      `  last sync ${peer.tracking.lastSyncSuccess ? 'ok' : 'FAILED'}, ${peer.tracking.syncCount} runs; newest entry received ${peer.tracking.lastSyncTimestamp}`,
    );
  }
  for (const run of peer.lastRuns) {
    const outcome = run.status === 'running' ? 'did not finish (interrupted; the next run resumes)' : run.status;
    lines.push(
      `  last ${run.direction}: ${outcome} at ${run.finishedAt ?? run.startedAt}, ${run.received} added, ${run.duplicates} already there${run.error ? ` — ${run.error}` : ''}`,
    );
  }
  lines.push(
    `  total received ${peer.totals.received}, sent ${peer.totals.sent}; pending: push ${pending(peer.pending.push)}, pull ${pending(peer.pending.pull)}`,
  );
  for (const direction of ['push', 'pull'] as const) {
    const refused = peer.refused[direction];
    if (refused.entries === 0) continue;
    const receiver = direction === 'push' ? `${peer.name}'s` : "this node's";
    lines.push(
      `  ${direction}: ${refused.entries} entries refused by ${receiver} table (last ${refused.lastAt ?? '?'}): ${refused.refusals.map(describeRefusal).join(', ')}`,
    );
    for (const fix of refused.fixes) lines.push(`    fix: ${fix}`);
  }
  for (const direction of ['push', 'pull'] as const) {
    const kept = peer.deviceLocal[direction];
    if (kept.patterns.length === 0) lines.push(`  ${direction}: no device-local contexts kept home`);
    else lines.push(`  ${direction}: device-local kept home [${kept.patterns.join(', ')}]: ${pending(kept.entries)} entries`);
  }
  return lines;
}
