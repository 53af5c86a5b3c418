/**
 * The library API, for agents and scripts that want to run or inspect a sync without shelling out:
 *
 *   import { syncPeers, status, verify, SyncError } from 'resonance-sync';
 *   const report = await syncPeers({ peers: ['selesta'], signal: AbortSignal.timeout(60_000) });
 *
 * Each function reads the same config as the CLI (`config` names the file, else
 * $RESONANCE_SYNC_CONFIG, else ~/.config/resonance-sync/config.toml) and returns exactly what the
 * matching command prints with --json (src/api/contract.ts). Failures reject with a SyncError whose
 * `code` is stable (README "Exit codes"). A failed peer inside a sync does not reject: it is reported
 * in its PeerSyncReport, like the CLI, and the other peers still sync.
 */
import { loadConfig } from '../config/config-file.js';
import { configPathFrom, databasePathFrom } from '../config/locate.js';
import { choosePeers, peerFromArgument } from '../config/peer-choice.js';
import type { Config } from '../config/schema.js';
import { SyncError } from '../core/errors.js';
import { acquireSyncLock } from '../store/lock.js';
import { gatherStatus } from '../sync/status.js';
import { syncPeers as runSyncPeers } from '../sync/sync-peers.js';
import { verifyReplicas } from '../sync/verify.js';
import { LocalReplica } from '../transport/local/local-replica.js';
import { openPeer } from '../transport/open-peer.js';
import type { StatusReport, SyncProgress, SyncReport, VerifyReport } from './contract.js';
import { syncReport } from './sync-report.js';

export type * from './contract.js';
export { ExitCode, SyncError, type ErrorCode, type ExitCodeValue } from '../core/errors.js';

/** Where to work: both default as in the CLI. */
export interface Target {
  /** The config file (a file named here must exist). */
  config?: string;
  /** This node's database (default: node.db from the config). */
  db?: string;
}

export interface SyncRequest extends Target {
  /** Configured peer names, paths or URLs (default: every enabled configured peer). */
  peers?: string[];
  /** Only receive, only send, or both (default). */
  direction?: 'both' | 'pull' | 'push';
  /** Show what would flow each way; write nothing. */
  dryRun?: boolean;
  /** Entries per committed batch (default 2000). */
  batchRows?: number;
  /** Aborting stops at the next batch boundary: committed batches stay, and the next run resumes. */
  signal?: AbortSignal;
  onProgress?: (event: SyncProgress) => void;
}

export interface VerifyRequest extends Target {
  /** A configured peer name, a path or a URL. */
  peer: string;
  /** Send what is missing each way (never deletes). */
  repair?: boolean;
  signal?: AbortSignal;
}

function located(target: Target): { config: Config; configPath: string; dbPath: string } {
  const configPath = configPathFrom(target.config);
  const config = loadConfig(configPath, { mustExist: target.config !== undefined });
  return { config, configPath, dbPath: databasePathFrom(config, target.db, configPath) };
}

/** `resonance-sync sync [PEER…] --json`: pull then push with each peer. */
export async function syncPeers(request: SyncRequest = {}): Promise<SyncReport> {
  const { config, configPath, dbPath } = located(request);
  const peers = choosePeers(config, request.peers);
  if (peers.length === 0) {
    throw new SyncError(
      'PEER_UNKNOWN',
      `no peers configured in ${configPath}; name one in peers, or add one with resonance-sync peer add NAME URL`,
    );
  }
  const rows = request.batchRows;
  if (rows !== undefined && !(Number.isInteger(rows) && rows > 0)) throw new SyncError('USAGE', 'batchRows must be a positive integer');
  const direction = request.direction ?? 'both';
  const dryRun = request.dryRun ?? false;
  const outcomes = await runSyncPeers({
    dbPath,
    node: config.node,
    peers,
    pull: direction !== 'push',
    push: direction !== 'pull',
    dryRun,
    ...(rows === undefined ? {} : { limits: { maxRows: rows, maxBytes: 4 * 1024 * 1024 } }),
    ...(request.signal === undefined ? {} : { signal: request.signal }),
    ...(request.onProgress === undefined ? {} : { onProgress: request.onProgress }),
  });
  return syncReport(outcomes, dryRun);
}

/** `resonance-sync status --json`: this node and each configured peer, without connecting to any. */
export async function status(target: Target = {}): Promise<StatusReport> {
  const { config, dbPath } = located(target);
  return gatherStatus(dbPath, config);
}

/** `resonance-sync verify PEER --json`: compare both databases within the routes; with `repair`, fill the gaps. */
export async function verify(request: VerifyRequest): Promise<VerifyReport> {
  const { config, dbPath } = located(request);
  const peer = peerFromArgument(config, request.peer);
  const repair = request.repair ?? false;
  request.signal?.throwIfAborted();
  const lock = repair ? acquireSyncLock(dbPath) : undefined;
  try {
    const local = LocalReplica.open(dbPath, { naiveTimestamps: config.node.naiveTimestamps });
    try {
      const opened = await openPeer(peer, {
        localDbPath: dbPath,
        prepare: repair,
        naiveTimestamps: config.node.naiveTimestamps,
        stallTimeoutMs: config.node.stallTimeoutMs,
        agentUpload: config.node.agentUpload,
        ...(request.signal === undefined ? {} : { signal: request.signal }),
      });
      try {
        const report = await verifyReplicas(local, opened.replica, { push: peer.push, pull: peer.pull, repair });
        const { equalAfterRepair, ...rest } = report;
        return equalAfterRepair === undefined ? rest : { ...rest, equalAfterRepair };
      } finally {
        await opened.close();
      }
    } finally {
      await local.close();
    }
  } finally {
    lock?.release();
  }
}
