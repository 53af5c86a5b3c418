/**
 * One `sync` run: lock this node's database, then sync each chosen peer in turn. A peer that fails
 * is recorded in sync_log and the next peer still runs; the caller turns the outcomes into an exit code.
 */
import type { TransportKind } from '../core/replica.js';
import { hostname } from 'node:os';
import { asSyncError, type SyncError } from '../core/errors.js';
import { toNodeName } from '../core/node-name.js';
import type { NodeConfig, PeerConfig } from '../config/schema.js';
import { LocalReplica } from '../transport/local/local-replica.js';
import { openPeer, type OpenedPeer } from '../transport/open-peer.js';
import type { AgentSource } from '../transport/agent/agent-source.js';
import { acquireSyncLock } from '../store/lock.js';
import { syncReplicas, type BatchLimits, type ProgressEvent, type SyncSummary } from './engine.js';

export interface SyncPeersRequest {
  dbPath: string;
  node: NodeConfig;
  peers: PeerConfig[];
  pull: boolean;
  push: boolean;
  dryRun: boolean;
  limits?: BatchLimits;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** Called as each peer starts, with how it is reached. */
  onPeerStart?: (peer: PeerConfig, transport: TransportKind) => void;
}

export interface PeerOutcome {
  peer: PeerConfig;
  transport: TransportKind | undefined;
  /** Which agent answered (ssh agent), and the bytes of it uploaded in this run. */
  agent?: (AgentSource & { uploadedBytes: number }) | undefined;
  /** One line worth telling the user about how the peer was reached (e.g. the auto mode's fallback). */
  notice?: string | undefined;
  summary: SyncSummary | undefined;
  error: SyncError | undefined;
}

export async function syncPeers(request: SyncPeersRequest): Promise<PeerOutcome[]> {
  // A dry run writes nothing, not even the lock file.
  const lock = request.dryRun ? undefined : acquireSyncLock(request.dbPath);
  try {
    const local = LocalReplica.open(request.dbPath, {
      prepareAs: request.dryRun ? undefined : { nodeName: request.node.name ?? toNodeName(hostname()), dedupe: request.node.dedupe },
      naiveTimestamps: request.node.naiveTimestamps,
    });
    try {
      const outcomes: PeerOutcome[] = [];
      for (const peer of request.peers) {
        request.signal?.throwIfAborted();
        outcomes.push(await syncOnePeer(local, peer, request));
      }
      return outcomes;
    } finally {
      await local.close();
    }
  } finally {
    lock?.release();
  }
}

async function syncOnePeer(local: LocalReplica, peer: PeerConfig, request: SyncPeersRequest): Promise<PeerOutcome> {
  let transport: TransportKind | undefined;
  let opened: OpenedPeer;
  try {
    opened = await openPeer(peer, {
      localDbPath: request.dbPath,
      prepare: !request.dryRun,
      naiveTimestamps: request.node.naiveTimestamps,
      signal: request.signal,
      stallTimeoutMs: request.node.stallTimeoutMs,
      agentUpload: request.node.agentUpload,
    });
  } catch (thrown) {
    const error = asSyncError(thrown);
    if (!request.dryRun) {
      const id = local.syncLog.start(peer.name, 'connect');
      local.syncLog.finish(id, {
        status: error.code === 'PEER_UNREACHABLE' ? 'skipped' : 'failed',
        received: 0,
        sent: 0,
        duplicates: 0,
        batches: 0,
        errorCode: error.code,
        message: error.message,
      });
    }
    return { peer, transport, summary: undefined, error };
  }
  transport = opened.transport;
  const reached = {
    agent: opened.agent === undefined ? undefined : { ...opened.agent, uploadedBytes: opened.uploadedBytes ?? 0 },
    notice: opened.notice,
  };
  request.onPeerStart?.(peer, transport);
  try {
    const summary = await syncReplicas(local, opened.replica, {
      peerName: peer.name,
      pull: request.pull ? peer.pull : undefined,
      push: request.push ? peer.push : undefined,
      dryRun: request.dryRun,
      writeSyncNote: request.node.syncNote,
      ...(request.limits ? { limits: request.limits } : {}),
      ...(request.signal ? { signal: request.signal } : {}),
      ...(request.onProgress ? { onProgress: request.onProgress } : {}),
    });
    return { peer, transport, ...reached, summary, error: undefined };
  } catch (thrown) {
    return { peer, transport, ...reached, summary: undefined, error: asSyncError(thrown) };
  } finally {
    await opened.close();
  }
}
