/** Opens the Replica a configured peer's URL names, with the lock that keeps two syncs apart. */
import { existsSync, realpathSync } from 'node:fs';
import { SyncError } from '../core/errors.js';
import { peerAddresses, type PeerConfig } from '../config/schema.js';
import type { SshLocation } from './ssh/ssh-command.js';
import { AgentReplica } from './agent/agent-replica.js';
import { agentStartFailure, type CursorKey } from './agent/connection.js';
import type { AgentSource } from './agent/agent-source.js';
import { acquireSyncLock, type SyncLock } from '../store/lock.js';
import type { NaiveTimestamps } from '../core/timestamps.js';
import { LocalReplica } from './local/local-replica.js';
import { SqliteCliReplica } from './sqlite-cli/sqlite-cli-replica.js';
import type { Replica, TransportKind } from '../core/replica.js';
import { peerNodeName } from './early-ssh.js';

export interface OpenedPeer {
  replica: Replica;
  /** How the peer was reached, for humans ("local file", later "ssh agent", "ssh sqlite3"). */
  transport: TransportKind;
  /** Which agent answered (ssh agent only). */
  agent?: AgentSource | undefined;
  /** Bytes of the single-file agent uploaded while connecting (ssh agent only). */
  uploadedBytes?: number | undefined;
  /** One line worth telling the user, e.g. why the auto mode fell back to agentless. */
  notice?: string | undefined;
  /** The address that answered (one of the peer's, in order). */
  url: string;
  close(): Promise<void>;
}

export interface OpenPeerOptions {
  /** This node's database: a peer naming the same file is refused before anything is locked or opened. */
  localDbPath: string;
  /** Prepare an unprepared peer on first contact (not in dry runs, which write nothing). */
  prepare: boolean;
  naiveTimestamps: NaiveTimestamps;
  /** Aborting cuts a remote peer's connection if the sync has not stopped at a batch boundary soon after. */
  signal?: AbortSignal | undefined;
  /** For ssh peers: RESONANCE_SYNC_SSH, RESONANCE_SYNC_CONNECT_TIMEOUT, RESONANCE_SYNC_STALL_TIMEOUT (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** The node's `stall_timeout` (config [node]), for ssh peers without their own. */
  stallTimeoutMs?: number | undefined;
  /** The node's `agent_upload` (config [node]), for ssh peers without their own (default true). */
  agentUpload?: boolean | undefined;
  /**
   * For ssh peers: ssh connects at once, but nothing that locks or writes the peer's database is sent
   * before this settles (this side locks and opens its own database meanwhile); a rejection ends the
   * connection with that error.
   */
  ready?: Promise<void> | undefined;
  /** For agents: the cursor the sync reads first, asked with the handshake (agent/connection.ts). */
  firstCursor?: (() => CursorKey | undefined) | undefined;
}

/**
 * Opens the peer at the first of its addresses that answers (LAN, hotspot, tailnet…: each tried in
 * order with the connect timeout). Only an unreachable address moves on to the next; any other
 * failure (host key, missing database) is about the right device and stops there.
 */
export async function openPeer(peer: PeerConfig, options: OpenPeerOptions): Promise<OpenedPeer> {
  const addresses = peerAddresses(peer);
  const unreachable: string[] = [];
  for (const address of addresses) {
    try {
      const opened = await openPeerAt({ ...peer, url: address.url, location: address.location }, options);
      return { ...opened, url: address.url };
    } catch (error) {
      if (addresses.length === 1 || !(error instanceof SyncError) || error.code !== 'PEER_UNREACHABLE') throw error;
      unreachable.push(`${address.url}: ${error.message}`);
    }
  }
  throw new SyncError('PEER_UNREACHABLE', `none of the ${addresses.length} addresses of ${peer.name} answered: ${unreachable.join('; ')}`);
}

async function openPeerAt(peer: PeerConfig, options: OpenPeerOptions): Promise<Omit<OpenedPeer, 'url'>> {
  const location = peer.location;
  if (location.kind === 'ssh') return openSshPeer(peer, location, options);
  if (existsSync(location.path) && realpathSync(location.path) === realpathSync(options.localDbPath)) {
    throw new SyncError(
      'SAME_DATABASE',
      `the peer ${peer.name} is this node's own database (${options.localDbPath}); name another database`,
    );
  }
  const lock: SyncLock | undefined = options.prepare ? acquireSyncLock(location.path) : undefined;
  try {
    const replica = LocalReplica.open(location.path, {
      prepareAs: options.prepare ? { nodeName: peer.name } : undefined,
      // A dry run previews a peer never prepared, under a provisional identity that is never written.
      previewAs: options.prepare ? undefined : { nodeName: peerNodeName(peer, location.path) },
      naiveTimestamps: options.naiveTimestamps,
    });
    return {
      replica,
      transport: 'local file',
      async close() {
        await replica.close();
        lock?.release();
      },
    };
  } catch (error) {
    lock?.release();
    throw error;
  }
}

async function openSshPeer(peer: PeerConfig, location: SshLocation, options: OpenPeerOptions): Promise<Omit<OpenedPeer, 'url'>> {
  const nodeName = peerNodeName(peer, location.path);
  const stallTimeoutMs = peer.stallTimeoutMs ?? options.stallTimeoutMs;
  const common = {
    location,
    nodeName,
    prepare: options.prepare,
    env: options.env ?? process.env,
    signal: options.signal,
    stallTimeoutMs,
    ready: options.ready,
  };
  const agentless = async (notice?: string): Promise<Omit<OpenedPeer, 'url'>> => {
    const replica = await SqliteCliReplica.connect({
      ...common,
      sqlite3Command: peer.sqlite3Command,
      naiveTimestamps: options.naiveTimestamps,
    });
    return { replica, transport: 'ssh sqlite3', agent: undefined, notice, close: () => replica.close() };
  };
  if (peer.mode === 'sqlite3') return agentless();
  const agentUpload = peer.agentUpload ?? options.agentUpload ?? true;
  const connect = (skipInstalled: boolean) =>
    AgentReplica.connect({ ...common, remoteCommand: peer.remoteCommand, agentUpload, skipInstalled, firstCursor: options.firstCursor });
  let replica: AgentReplica;
  try {
    try {
      replica = await connect(false);
    } catch (error) {
      // The user's own install speaks another protocol: ours, uploaded, does not (and theirs is left alone).
      const failure = agentStartFailure(error);
      if (!(error instanceof SyncError && error.code === 'PROTOCOL_VERSION' && failure?.source?.kind === 'installed' && agentUpload))
        throw error;
      replica = await connect(true);
    }
  } catch (error) {
    const failure = agentStartFailure(error);
    if (peer.mode !== 'auto' || !(error instanceof SyncError) || !failure?.beforeAgent || !FALLBACK_CODES.has(error.code)) throw error;
    // auto: no usable agent, so use the remote's sqlite3, and say why in one line.
    const tail = failure.stderrTail === '' ? '' : `; its stderr ended: ${failure.stderrTail}`;
    const notice = `no usable agent (${error.message} [${error.code}]${tail}); syncing agentless through the remote sqlite3`;
    try {
      return await agentless(notice);
    } catch (fallback) {
      if (fallback instanceof SyncError && fallback.code === 'AGENT_MISSING') {
        throw new SyncError(
          'AGENT_MISSING',
          `${error.message}; and the agentless mode found no usable sqlite3 there either: ${fallback.message}`,
          { cause: fallback },
        );
      }
      throw fallback;
    }
  }
  return {
    replica,
    transport: 'ssh agent',
    agent: replica.agentSource,
    uploadedBytes: replica.uploadedBytes,
    notice:
      replica.replacedCorrupt === undefined
        ? undefined
        : `the cached agent ${replica.replacedCorrupt} failed its sha256 check: deleted unrun, and replaced`,
    close: () => replica.close(),
  };
}

/**
 * Failures, before the agent announced itself, after which the auto mode tries the agentless mode: no
 * agent (or none the launcher could run), one that failed to start, one that printed something else,
 * one that speaks another protocol. Not ssh's own failures (host key, login, unreachable): those
 * would fail the agentless mode the same way.
 */
const FALLBACK_CODES = new Set(['AGENT_MISSING', 'REMOTE_ERROR', 'PROTOCOL_ERROR', 'PROTOCOL_VERSION']);
