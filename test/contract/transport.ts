/**
 * What the contract suites need of a transport: how to name a database file as a peer URL, what
 * environment the product needs to reach it, and whether a receiver opened through it can read a
 * sender on this machine itself (receiveDirect). Peers are opened the way the product opens them
 * (open-peer.ts), so a suite tests the very Replica a sync would use.
 */
import { basename } from 'node:path';
import type { TestContext } from 'node:test';
import type { PeerConfig } from '../../src/config/schema.js';
import { parsePeerUrl } from '../../src/core/peer-url.js';
import type { Replica } from '../../src/core/replica.js';
import { EVERYTHING, type Route } from '../../src/core/route.js';
import { openPeer } from '../../src/transport/open-peer.js';

export interface TransportSession {
  /** The peer URL for a database file on the "remote" side. */
  url(path: string): string;
  mode: PeerConfig['mode'];
  remoteCommand: string | undefined;
  /** Environment the product needs to reach the peer (e.g. RESONANCE_SYNC_SSH); set for in-process runs too. */
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export interface PeerTransport {
  name: string;
  /**
   * A receiver opened through this transport reads a sender on this machine itself (receiveDirect,
   * in SQLite): the receiving cases then run on that path as well as on the general one.
   */
  receivesDirect: boolean;
  /** Returns undefined when the transport cannot run here (the caller has already failed or skipped). */
  start(t: TestContext): Promise<TransportSession | undefined>;
}

/** The peer a config file would name: the file's name (without .sqlite3) is the peer's name. */
export function peerConfig(session: TransportSession, path: string, route: Route = EVERYTHING): PeerConfig {
  const url = session.url(path);
  return {
    name: basename(path, '.sqlite3'),
    url,
    location: parsePeerUrl(url),
    mode: session.mode,
    // remote_command names the agent only; the agentless mode's sqlite3 has its own key.
    ...(session.mode === 'sqlite3'
      ? { remoteCommand: undefined, sqlite3Command: session.remoteCommand }
      : { remoteCommand: session.remoteCommand }),
    enabled: true,
    push: route,
    pull: route,
  };
}

/**
 * The Replica of the database at `path`, reached through the transport as a sync would reach it
 * (prepared on first contact, named after the file). `localDbPath` is the syncing node's own database.
 */
export async function openThrough(
  session: TransportSession,
  path: string,
  localDbPath: string,
): Promise<{ replica: Replica; close(): Promise<void> }> {
  return openPeer(peerConfig(session, path), {
    localDbPath,
    prepare: true,
    naiveTimestamps: 'utc',
    env: { ...process.env, ...session.env },
  });
}
