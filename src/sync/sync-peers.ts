/**
 * One `sync` run: lock this node's database, then sync each chosen peer in turn. A peer that fails
 * is recorded in sync_log and the next peer still runs; the caller turns the outcomes into an exit code.
 */
import type { ReplicaInfo, TransportKind } from '../core/replica.js';
import { hostname } from 'node:os';
import { SyncError, asSyncError } from '../core/errors.js';
import { toNodeName } from '../core/node-name.js';
import { peerAddresses, type NodeConfig, type PeerConfig } from '../config/schema.js';
import { LocalReplica } from '../transport/local/local-replica.js';
import { openPeer, type OpenPeerOptions, type OpenedPeer } from '../transport/open-peer.js';
import type { CursorKey } from '../transport/agent/connection.js';
import { routeKey } from '../core/route.js';
import type { AgentSource } from '../transport/agent/agent-source.js';
import { acquireSyncLock, type SyncLock } from '../store/lock.js';
import { readNodeMemory, rememberDatabase, type PeerContact } from '../store/node-memory.js';
import { adoptReplacement, inspectDatabase, replacementError } from '../store/replacement.js';
import { adoptPeerReplacement, findPeerReplacement, peerReplacementError } from './peer-replacement.js';
import { trace } from '../core/trace.js';
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
  /** Called with what was done when `on_replaced` adopted a replaced database before syncing. */
  onAdopted?: (lines: string[]) => void;
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
  // The engine's first question to an agent (its push cursor) goes with the handshake; it needs this
  // side's node id, known once the database below is open, which is before anything is sent.
  let localId: string | undefined;
  const firstCursor = (peer: PeerConfig): CursorKey | undefined =>
    localId !== undefined && request.push ? { senderId: localId, routeKey: routeKey(peer.push) } : undefined;
  const early = connectEarly(request, firstCursor);
  let lock: SyncLock | undefined;
  let local: LocalReplica;
  try {
    // A dry run writes nothing, not even the lock file.
    lock = request.dryRun ? undefined : acquireSyncLock(request.dbPath);
    trace('sync: locked');
    adoptIfReplaced(request);
    trace('sync: replacement checked');
    local = LocalReplica.open(request.dbPath, {
      prepareAs: request.dryRun ? undefined : { nodeName: request.node.name ?? toNodeName(hostname()), dedupe: request.node.dedupe },
      naiveTimestamps: request.node.naiveTimestamps,
    });
    trace('sync: local opened');
    localId = local.node.id;
  } catch (error) {
    lock?.release();
    await early?.cancel(error);
    throw error;
  }
  early?.go();
  let handedOver = false;
  const closing: Promise<void>[] = [];
  try {
    const outcomes: PeerOutcome[] = [];
    try {
      for (const peer of request.peers) {
        request.signal?.throwIfAborted();
        const connecting: Promise<OpenedPeer> | undefined = peer === early?.peer && !handedOver ? early.opened : undefined;
        handedOver ||= connecting !== undefined;
        outcomes.push(await syncOnePeer(local, peer, request, connecting, closing, firstCursor));
      }
      return outcomes;
    } finally {
      // Interrupted before the first peer's turn: its connection goes too.
      if (!handedOver) await early?.cancel(new SyncError('INTERRUPTED', 'interrupted before syncing'));
      // One turn of the event loop first, so that the EOF the last peer's close wrote reaches ssh (a
      // pipe is shut down from the loop) and the far side exits while this side does the work below.
      if (closing.length > 0) await new Promise((resolve) => setImmediate(resolve));
      // What this machine remembers of the database, so that a replacement of it is noticed next time.
      trace('sync: peers done');
      if (!request.dryRun) rememberDatabase(local.db, request.dbPath, process.env, outcomes.flatMap(contactOf));
      await local.close();
      trace('sync: local closed');
    }
  } finally {
    try {
      await Promise.all(closing);
    } finally {
      lock?.release();
    }
  }
}

/** The first peer's connection, started before this side's database is locked and opened. */
interface EarlyConnection {
  peer: PeerConfig;
  opened: Promise<OpenedPeer>;
  /** This side is ready: the peer's database may now be locked and read. */
  go(): void;
  /** This side failed: ends the connection. */
  cancel(error: unknown): Promise<void>;
}

/**
 * Starts ssh to the first peer at once, so that ssh's connection and the far side's start-up (its
 * shell, Node and agent, or sqlite3) overlap this side's locking and opening of its database. Nothing
 * that locks or reads the peer's database is sent until go(): two syncs that meet still find each
 * other's locks in the same order as before. Local-file peers are opened in turn, as before.
 */
function connectEarly(request: SyncPeersRequest, firstCursor: (peer: PeerConfig) => CursorKey | undefined): EarlyConnection | undefined {
  const peer = request.peers[0];
  if (peer === undefined || peerAddresses(peer)[0]?.location.kind !== 'ssh' || request.signal?.aborted) return undefined;
  let go: () => void = () => undefined;
  let stop: (error: unknown) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    go = resolve;
    stop = reject;
  });
  ready.catch(() => undefined); // the connection reports it, or nobody waits any more
  const opened = openPeer(peer, { ...openOptions(request), ready, firstCursor: () => firstCursor(peer) });
  opened.catch(() => undefined); // awaited by syncOnePeer, or dropped by cancel
  return {
    peer,
    opened,
    go,
    async cancel(error) {
      stop(error);
      await opened.then(
        (connection) => connection.close(),
        () => undefined,
      );
    },
  };
}

function openOptions(request: SyncPeersRequest): OpenPeerOptions {
  return {
    localDbPath: request.dbPath,
    prepare: !request.dryRun,
    naiveTimestamps: request.node.naiveTimestamps,
    signal: request.signal,
    stallTimeoutMs: request.node.stallTimeoutMs,
    agentUpload: request.node.agentUpload,
  };
}

/** How a peer that answered this run was reached, for what this machine remembers (status). */
function contactOf(outcome: PeerOutcome): PeerContact[] {
  if (outcome.transport === undefined) return [];
  const agent = outcome.agent;
  return [
    {
      peer: outcome.peer.name,
      transport: outcome.transport,
      agent: agent === undefined ? null : { source: agent.kind, path: agent.path ?? null, version: agent.version ?? null },
      at: new Date().toISOString(),
    },
  ];
}

/**
 * A database found replaced since the last run (store/replacement.ts) is synced only when
 * `on_replaced` says how; by default the run stops with one line naming the two commands. A copy of
 * another node's database always stops: the copier that wrote it would undo any choice.
 */
function adoptIfReplaced(request: SyncPeersRequest): void {
  const replacement = inspectDatabase(request.dbPath, readNodeMemory(request.dbPath));
  if (!replacement) return;
  const policy = request.node.onReplaced;
  if (replacement.kind === 'copy' || policy === 'ask' || request.dryRun) throw replacementError(replacement);
  request.onAdopted?.([
    `${request.dbPath} was replaced; on_replaced = "${policy}":`,
    ...adoptReplacement(request.dbPath, replacement, policy),
  ]);
}

async function syncOnePeer(
  local: LocalReplica,
  peer: PeerConfig,
  request: SyncPeersRequest,
  early: Promise<OpenedPeer> | undefined,
  closing: Promise<void>[],
  firstCursor: (peer: PeerConfig) => CursorKey | undefined,
): Promise<PeerOutcome> {
  let transport: TransportKind | undefined;
  let opened: OpenedPeer;
  try {
    opened = await (early ?? openPeer(peer, { ...openOptions(request), firstCursor: () => firstCursor(peer) }));
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
  trace('sync: peer opened');
  const reached = {
    agent: opened.agent === undefined ? undefined : { ...opened.agent, uploadedBytes: opened.uploadedBytes ?? 0 },
    notice: opened.notice,
  };
  if (!request.dryRun) local.syncLog.reachedAt(peer.name, opened.url);
  request.onPeerStart?.(peer, transport);
  try {
    // Read once for both: whether the peer was replaced, and the engine's start (its feed's end, its columns).
    let remoteInfo: ReplicaInfo | undefined = await opened.replica.info();
    const replaced = await findPeerReplacement(local, opened.replica, remoteInfo, peer);
    if (replaced) {
      const policy = request.node.onReplaced;
      if (policy === 'ask' || request.dryRun) throw peerReplacementError(replaced, local.node.name);
      request.onAdopted?.([`on_replaced = "${policy}": ${await adoptPeerReplacement(local, opened.replica, peer, replaced, policy)}`]);
      remoteInfo = undefined; // adopting wrote to the peer: the engine reads it again
    }
    trace('sync: replacement of peer checked');
    const summary = await syncReplicas(local, opened.replica, {
      ...(remoteInfo ? { remoteInfo } : {}),
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
    // Not awaited here: the far side's exit (the agent closing its database, then ssh) runs while
    // this side goes on (the next peer, or closing its own database); syncPeers waits for it last.
    trace('sync: closing peer');
    const closed = opened.close().finally(() => trace('sync: peer closed'));
    closed.catch(() => undefined); // handled: its failure is thrown when syncPeers awaits it
    closing.push(closed);
  }
}

/** `adopt PEER --continue|--refill`: the choice for a peer whose database was replaced (sync/peer-replacement.ts). */
export async function adoptReplacedPeer(
  dbPath: string,
  node: NodeConfig,
  peer: PeerConfig,
  choice: 'continue' | 'refill',
): Promise<string> {
  const lock = acquireSyncLock(dbPath);
  try {
    const local = LocalReplica.open(dbPath, { naiveTimestamps: node.naiveTimestamps });
    try {
      const opened = await openPeer(peer, {
        localDbPath: dbPath,
        prepare: true,
        naiveTimestamps: node.naiveTimestamps,
        stallTimeoutMs: node.stallTimeoutMs,
      });
      try {
        const replaced = await findPeerReplacement(local, opened.replica, await opened.replica.info(), peer);
        if (!replaced) return `${peer.name}: its database is the one this node last synced; nothing to adopt`;
        return await adoptPeerReplacement(local, opened.replica, peer, replaced, choice);
      } finally {
        await opened.close();
      }
    } finally {
      await local.close();
    }
  } finally {
    lock.release();
  }
}
