/**
 * The ssh a sync with a peer begins with, started ahead of the rest of the program (cli/early-ssh.ts):
 * the login, a large share of a short sync's time, then overlaps the loading of the command line's own
 * code and everything up to the point where open-peer.ts asks for that ssh. It is taken over only if
 * the transport asks for exactly the same command line (ssh/ssh-process.ts); otherwise it is ended
 * unused, so a difference here costs time, never correctness.
 */
import { basename, extname } from 'node:path';
import { peerAddresses, type PeerConfig } from '../config/schema.js';
import { isNodeName, toNodeName } from '../core/node-name.js';
import { agentCommand } from './agent/agent-command.js';
import { startSshEarly } from './ssh/ssh-process.js';
import { stallTimeoutMs } from './ssh/stall-watchdog.js';
import { sqliteCliSshArgv } from './sqlite-cli/remote-script.js';

export interface EarlySshOptions {
  /** As openPeer's: false in dry runs. */
  prepare: boolean;
  /** The node's `agent_upload` (config [node]), for peers without their own. */
  agentUpload?: boolean | undefined;
  /** The node's `stall_timeout`, for peers without their own. */
  stallTimeoutMs?: number | undefined;
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts ssh to the peer's first address, as openPeer's first attempt there would: agentless when
 * the peer says sqlite3, else the agent (the launcher, or the peer's remote_command). Does nothing
 * for a local peer. Throws what the transport would throw before starting ssh (a bad environment).
 */
export function startPeerSshEarly(peer: PeerConfig, options: EarlySshOptions): void {
  const location = peerAddresses(peer)[0]?.location;
  if (location?.kind !== 'ssh') return;
  const env = options.env ?? process.env;
  // The transports check this before ssh starts; a bad value fails the command without a connection.
  stallTimeoutMs(env, peer.stallTimeoutMs ?? options.stallTimeoutMs);
  const argv =
    peer.mode === 'sqlite3'
      ? sqliteCliSshArgv(location, peer.sqlite3Command, env)
      : agentCommand(
          {
            location,
            remoteCommand: peer.remoteCommand,
            agentUpload: peer.agentUpload ?? options.agentUpload ?? true,
            skipInstalled: false,
            nodeName: peerNodeName(peer, location.path),
            prepare: options.prepare,
          },
          env,
        ).argv;
  startSshEarly(argv, env);
}

/** The name a peer's node gets when it is prepared (or previewed) on first contact: the peer's, or its file's. */
export function peerNodeName(peer: PeerConfig, path: string): string {
  return isNodeName(peer.name) ? peer.name : toNodeName(basename(path, extname(path)));
}
