/**
 * Which peers a command (or an API call) means: a configured peer by name, an ad-hoc path or URL,
 * or, with none named, every enabled configured peer. Shared by `sync`, `verify` and src/api.
 */
import { existsSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { isNodeName } from '../core/node-name.js';
import { parsePeerUrl } from '../core/peer-url.js';
import { EVERYTHING } from '../core/route.js';
import { findPeer } from './config-file.js';
import { withLocalContexts, type Config, type PeerConfig } from './schema.js';

/** A configured peer by name, else an unnamed peer at that path or URL, syncing everything both ways but the node's device-local contexts. */
export function peerFromArgument(config: Config, argument: string): PeerConfig {
  // A bare word that names no file here is a peer's name, mistyped or not: never a path to create a lock and a log row beside.
  if (config.peers.some((peer) => peer.name === argument) || isBareWord(argument)) return findPeer(config, argument);
  const location = parsePeerUrl(argument);
  // An unnamed peer is filed under its file name (a fresh one is also named so on first contact).
  const name = location.kind === 'local' ? basename(location.path, extname(location.path)) : argument;
  return {
    name,
    url: argument,
    location,
    mode: 'auto',
    remoteCommand: undefined,
    enabled: true,
    // Device-local contexts stay home here too: the node's list, as for a configured peer.
    ...withLocalContexts(EVERYTHING, EVERYTHING, config.node.localContexts),
  };
}

/** The peers named (each by name, path or URL), or every enabled configured peer when none is. */
export function choosePeers(config: Config, named: readonly string[] | undefined): PeerConfig[] {
  if (named === undefined || named.length === 0) return config.peers.filter((peer) => peer.enabled);
  return named.map((argument) => peerFromArgument(config, argument));
}

/** A word that can only be meant as a name: a node name, no database file extension, and no such file here. */
function isBareWord(argument: string): boolean {
  return isNodeName(argument) && !/\.(sqlite3?|db3?)$/i.test(argument) && !existsSync(argument);
}
