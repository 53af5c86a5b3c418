/**
 * What `sync`'s peer argument and its --mode and --remote-command mean: the peers of the run, each
 * with those options over its own settings. The command (commands/sync.ts) and the ssh started ahead
 * for it (early-ssh.ts) both read them here, so that both reach the same peer the same way.
 */
import { choosePeers } from '../config/peer-choice.js';
import type { Config, PeerConfig } from '../config/schema.js';
import { SyncError } from '../core/errors.js';

export interface PeerOverrides {
  mode?: string | undefined;
  remoteCommand?: string | undefined;
}

/** The peers a `sync [PEER]` run syncs, in order. */
export function peersOfRun(config: Config, peerArgument: string | undefined, overrides: PeerOverrides): PeerConfig[] {
  const { remoteCommand } = overrides;
  const mode = parseMode(overrides.mode);
  return choosePeers(config, peerArgument === undefined ? undefined : [peerArgument]).map((peer) => ({
    ...peer,
    ...(remoteCommand === undefined ? {} : { remoteCommand }),
    ...(mode === undefined ? {} : { mode }),
  }));
}

function parseMode(mode: string | undefined): PeerConfig['mode'] | undefined {
  if (mode === undefined || mode === 'auto' || mode === 'agent' || mode === 'sqlite3') return mode;
  throw new SyncError('USAGE', `--mode must be auto, agent or sqlite3, not ${mode}`);
}
