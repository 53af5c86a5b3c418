/**
 * A peer's database found replaced, seen from this node. This node remembers, per peer, the node id
 * it last pushed to and how far that node had committed this node's feed (resonance_sync_peer_state).
 * A peer that now answers with another id AND has received nothing from this node was replaced by a
 * new file (their rotation script on the phone, a wipe, a re-created database): opening it prepared
 * it afresh, and a plain sync would push it everything again. So, like this node's own replaced
 * database (store/replacement.ts), it is synced only by a rule: `on_replaced`, or `adopt PEER`.
 *
 * - continue: the new file gets back the cursor it had into this node's feed (an empty batch carries
 *   it, through the same Replica seam as every batch), so only new entries go to it; its own new feed
 *   is read from its start (it is a new node id to us), which is only what it holds now.
 * - refill: the next push sends it everything its route allows (dedupe keeps each entry once).
 */
import { SyncError } from '../core/errors.js';
import type { Replica, ReplicaInfo } from '../core/replica.js';
import { routeKey } from '../core/route.js';
import type { PeerConfig } from '../config/schema.js';
import { readPeerState } from '../store/tracking.js';
import type { LocalReplica } from '../transport/local/local-replica.js';

export interface PeerReplacement {
  peer: string;
  url: string;
  previousId: string;
  currentId: string;
  currentName: string;
  /** How far the replaced database had committed this node's feed. */
  throughRowid: number;
}

/** `info` is the remote's, read for this sync (the engine is handed the same one: one round trip). */
export async function findPeerReplacement(
  local: LocalReplica,
  remote: Replica,
  info: ReplicaInfo,
  peer: PeerConfig,
): Promise<PeerReplacement | undefined> {
  const state = readPeerState(local.db, peer.name, 'push');
  if (!state || state.throughRowid <= 0 || state.routeKey !== routeKey(peer.push)) return undefined;
  if (info.node.id === state.peerNodeId || info.node.id === local.node.id) return undefined;
  if ((await remote.cursor(local.node.id, state.routeKey)) > 0) return undefined;
  return {
    peer: peer.name,
    url: peer.url,
    previousId: state.peerNodeId,
    currentId: info.node.id,
    currentName: info.node.name,
    throughRowid: state.throughRowid,
  };
}

export function peerReplacementError(found: PeerReplacement, localName: string): SyncError {
  return new SyncError(
    'DATABASE_REPLACED',
    `${found.peer}'s database (${found.url}) was replaced by a new file (a rotation script, a wipe or a restore): it had received ${localName}'s feed through rowid ${found.throughRowid} and now holds nothing from it; nothing was synced with ${found.peer}. Choose: resonance-sync adopt ${found.peer} --continue (only new entries flow) or resonance-sync adopt ${found.peer} --refill (send it again everything its route allows); on_replaced in the config can make the choice for unattended runs`,
  );
}

/** Applies the choice; returns a line saying what was done. */
export async function adoptPeerReplacement(
  local: LocalReplica,
  remote: Replica,
  peer: PeerConfig,
  found: PeerReplacement,
  choice: 'continue' | 'refill',
): Promise<string> {
  if (choice === 'continue') {
    const info = await local.info();
    await remote.apply({
      sender: local.node,
      routeKey: routeKey(peer.push),
      columns: info.columns,
      rows: [],
      throughRowid: found.throughRowid,
      rewound: false,
      knownNodes: info.knownNodes,
      dryRun: false,
    });
    // A batch without entries may be confirmed only here (Replica.apply): before this node records it.
    await remote.settle?.();
  }
  local.syncLog.peerState(peer.name, 'push', {
    peerNodeId: found.currentId,
    routeKey: routeKey(peer.push),
    throughRowid: choice === 'continue' ? found.throughRowid : 0,
  });
  return choice === 'continue'
    ? `${found.peer}: the new database continues from ${local.node.name}'s rowid ${found.throughRowid}; only new entries flow`
    : `${found.peer}: the new database will be sent again everything its route allows`;
}
