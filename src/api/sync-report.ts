/** A sync run's outcomes as the JSON contract's SyncReport: what `sync --json` prints and `syncPeers()` returns. */
import type { PeerOutcome } from '../sync/sync-peers.js';
import type { SyncReport } from './contract.js';

export function syncReport(outcomes: PeerOutcome[], dryRun: boolean): SyncReport {
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
      agent: outcome.agent
        ? {
            source: outcome.agent.kind,
            path: outcome.agent.path ?? null,
            version: outcome.agent.version ?? null,
            uploadedBytes: outcome.agent.uploadedBytes,
          }
        : null,
      notice: outcome.notice ?? null,
    })),
  };
}
