/** Runs one real sync between two database files, as the CLI would, and closes everything. */
import { syncReplicas, type SyncOptions, type SyncSummary } from '../../src/sync/engine.js';
import { EVERYTHING } from '../../src/core/route.js';
import { openReplica } from './notes-db.js';
import { basename } from 'node:path';

export async function syncPair(localPath: string, peerPath: string, options: Partial<SyncOptions> = {}): Promise<SyncSummary> {
  const local = openReplica(localPath, basename(localPath, '.sqlite3'));
  try {
    const remote = openReplica(peerPath, basename(peerPath, '.sqlite3'));
    try {
      return await syncReplicas(local, remote, {
        peerName: basename(peerPath, '.sqlite3'),
        pull: EVERYTHING,
        push: EVERYTHING,
        dryRun: false,
        writeSyncNote: false,
        ...options,
      });
    } finally {
      await remote.close();
    }
  } finally {
    await local.close();
  }
}

export function direction(summary: SyncSummary, which: 'pull' | 'push') {
  const found = summary.directions.find((d) => d.direction === which);
  if (!found) throw new Error(`no ${which} in summary`);
  return found;
}
