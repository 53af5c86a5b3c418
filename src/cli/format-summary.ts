/** Sync outcomes as lines for people and as JSON for scripts. */
import type { PeerOutcome } from '../sync/sync-peers.js';
import type { DirectionSummary } from '../sync/engine.js';
import { describeAgentSource } from '../transport/agent/agent-source.js';

function directionLine(direction: DirectionSummary, dryRun: boolean): string {
  const arrow = `${direction.from.name} -> ${direction.to.name}`;
  const verb = dryRun ? 'would add' : 'added';
  const parts = [`${direction.direction} ${arrow}: ${verb} ${direction.received}`];
  if (direction.duplicates) parts.push(`${direction.duplicates} already there`);
  if (direction.rejected) parts.push(`${direction.rejected} refused by the receiver's schema`);
  if (direction.rewound) parts.push('sender was replaced or restored: re-read from the start');
  return `  ${parts.join(', ')} (${direction.sent} sent in ${direction.batches} batches; route: ${direction.route})`;
}

export function summaryLines(outcomes: PeerOutcome[], dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const outcome of outcomes) {
    const sent = outcome.agent?.uploadedBytes ? `; ${outcome.agent.uploadedBytes} bytes sent` : '';
    const agent = outcome.agent ? ` (${describeAgentSource(outcome.agent)}${sent})` : '';
    const via = outcome.transport ? ` via ${outcome.transport}${agent}` : '';
    if (outcome.summary) {
      lines.push(`${outcome.peer.name}${via}${dryRun ? ' (dry run: nothing written)' : ''}`);
      for (const direction of outcome.summary.directions) lines.push(directionLine(direction, dryRun));
    } else {
      lines.push(`${outcome.peer.name}${via}: failed (${outcome.error?.code ?? 'unknown'})`);
    }
  }
  return lines;
}

/** `sync --json`: the contract's SyncReport (src/api/contract.ts), shaped where the library shapes it. */
export { syncReport as summaryJson } from '../api/sync-report.js';
