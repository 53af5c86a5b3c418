/** Opens the Replica a configured peer's URL names, with the lock that keeps two syncs apart. */
import { existsSync, realpathSync } from 'node:fs';
import { SyncError } from '../errors.js';
import type { PeerConfig } from '../config/schema.js';
import { acquireSyncLock, type SyncLock } from '../store/lock.js';
import type { NaiveTimestamps } from '../sync/timestamps.js';
import { LocalReplica } from './local-replica.js';
import type { Replica } from './replica.js';

export interface OpenedPeer {
  replica: Replica;
  /** How the peer was reached, for humans ("local file", later "ssh agent", "ssh sqlite3"). */
  transport: string;
  close(): Promise<void>;
}

export interface OpenPeerOptions {
  /** This node's database: a peer naming the same file is refused before anything is locked or opened. */
  localDbPath: string;
  /** Prepare an unprepared peer on first contact (not in dry runs, which write nothing). */
  prepare: boolean;
  naiveTimestamps: NaiveTimestamps;
}

export async function openPeer(peer: PeerConfig, options: OpenPeerOptions): Promise<OpenedPeer> {
  const location = peer.location;
  if (location.kind === 'ssh') {
    throw new SyncError('USAGE', `peer ${peer.name}: ssh peers are not supported by this version yet; use a local path`);
  }
  if (existsSync(location.path) && realpathSync(location.path) === realpathSync(options.localDbPath)) {
    throw new SyncError('SAME_DATABASE', `the peer ${peer.name} is this node's own database (${options.localDbPath}); name another database`);
  }
  const lock: SyncLock | undefined = options.prepare ? acquireSyncLock(location.path) : undefined;
  try {
    const replica = LocalReplica.open(location.path, {
      prepareAs: options.prepare ? { nodeName: peer.name } : undefined,
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
