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
  const lines = [`peer ${peer.name}${peer.enabled ? '' : ' (disabled)'}  ${peer.urls.join(', ')}`];
  if (peer.reached && peer.urls.length > 1) lines.push(`  reached at ${peer.reached.url} (last ${peer.reached.at})`);
  if (peer.contact) {
    const agent = peer.contact.agent;
    const which = agent
      ? ` (${agent.source} agent${agent.version ? ` ${agent.version}` : ''}${agent.path ? ` at ${agent.path}` : ''})`
      : '';
    lines.push(`  last reached from here by ${peer.contact.transport}${which}, ${peer.contact.at}`);
  }
  const headline = lastRunHeadline(peer);
  if (headline === undefined && !peer.tracking) lines.push('  never synced');
  else {
    const received = peer.tracking
      ? `; ${peer.tracking.syncCount} runs received into this node, newest entry received ${peer.tracking.lastSyncTimestamp}`
      : '';
    lines.push(`  ${headline ?? `last sync ${peer.tracking?.lastSyncSuccess ? 'ok' : 'FAILED'}`}${received}`);
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

const HEADLINES: Record<string, string> = {
  ok: 'ok',
  failed: 'FAILED',
  skipped: 'skipped (peer not reachable)',
  running: 'did not finish (interrupted)',
};

/** "last sync skipped (peer not reachable) at …": the newest run, whatever it was, so a skipped or failed run is never shown as ok. */
function lastRunHeadline(peer: PeerStatus): string | undefined {
  const newest = peer.lastRuns.reduce<PeerStatus['lastRuns'][number] | undefined>(
    (latest, run) => (latest === undefined || run.startedAt > latest.startedAt ? run : latest),
    undefined,
  );
  if (newest === undefined) return undefined;
  return `last sync ${HEADLINES[newest.status] ?? newest.status} at ${newest.finishedAt ?? newest.startedAt}`;
}
