/** Sync outcomes as lines for people and as JSON for scripts. */
import type { PeerOutcome } from '../sync/sync-peers.js';
import type { DirectionSummary } from '../sync/engine.js';
import { describeRefusal, refusalFix } from '../core/refusals.js';

function directionLine(direction: DirectionSummary, dryRun: boolean): string {
  const arrow = `${direction.from.name} -> ${direction.to.name}`;
  const verb = dryRun ? 'would add' : 'added';
  const parts = [`${direction.direction} ${arrow}: ${verb} ${direction.received}`];
  if (direction.duplicates) parts.push(`${direction.duplicates} already there`);
  if (direction.rejected)
    parts.push(`${direction.rejected} refused by the receiver's table (${direction.refusals.map(describeRefusal).join(', ')})`);
  if (direction.keptHome) parts.push(`${direction.keptHome} device-local kept home`);
  if (direction.rewound) parts.push('sender was replaced or restored: re-read from the start');
  return `  ${parts.join(', ')} (${direction.sent} sent in ${direction.batches} batches; route: ${direction.route})`;
}

export function summaryLines(outcomes: PeerOutcome[], dryRun: boolean): string[] {
  const lines: string[] = [];
  for (const outcome of outcomes) {
    const via = outcome.transport ? ` via ${outcome.transport}` : '';
    if (outcome.summary) {
      lines.push(`${outcome.peer.name}${via}${dryRun ? ' (dry run: nothing written)' : ''}`);
      for (const direction of outcome.summary.directions) {
        lines.push(directionLine(direction, dryRun));
        // Refused entries are passed over and never retried on their own: say what to do, once per reason.
        for (const refusal of direction.refusals)
          lines.push(`    fix: ${refusalFix(refusal, direction.to.name, direction.direction, outcome.peer.name)}`);
      }
    } else {
      lines.push(`${outcome.peer.name}${via}: failed (${outcome.error?.code ?? 'unknown'})`);
    }
  }
  return lines;
}

export function summaryJson(outcomes: PeerOutcome[], dryRun: boolean) {
  return {
    dryRun,
    ok: outcomes.every((outcome) => !outcome.error),
    peers: outcomes.map((outcome) => ({
      peer: outcome.peer.name,
      url: outcome.peer.url,
      transport: outcome.transport ?? null,
      ok: !outcome.error,
      error: outcome.error ? { code: outcome.error.code, message: outcome.error.message } : null,
      local: outcome.summary?.local ?? null,
      remote: outcome.summary?.remote ?? null,
      directions: (outcome.summary?.directions ?? []).map((direction) => ({
        direction: direction.direction,
        from: direction.from,
        to: direction.to,
        route: direction.route,
        sent: direction.sent,
        received: direction.received,
        duplicates: direction.duplicates,
        rejected: direction.rejected,
        refusals: direction.refusals,
        keptHome: direction.keptHome ?? null,
        batches: direction.batches,
        bytes: direction.bytes,
        rewound: direction.rewound,
        newestTimestamp: direction.newestTimestamp ?? null,
      })),
    })),
  };
}
