/**
 * Shared pieces for the agentless (mode = "sqlite3") tests: one real sshd per test file, peer URLs,
 * a direct SqliteCliReplica connection, and a remote environment set per test through an
 * authorized_keys forced command (a private TMPDIR so leftover temp dirs can be counted exactly, or a
 * PATH without sqlite3). RESONANCE_TEST_SQLITE3 runs the suites against another sqlite3 CLI build.
 */
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { formatPeerUrl, parsePeerUrl } from '../../src/core/peer-url.js';
import { SqliteCliReplica, type SqliteCliConnectOptions } from '../../src/transport/sqlite-cli/sqlite-cli-replica.js';
import type { SshLocation } from '../../src/transport/ssh/ssh-command.js';
import type { SshServer } from '../support/sshd.js';
import { EVERYTHING } from '../../src/core/route.js';
import { syncReplicas, type SyncSummary } from '../../src/sync/engine.js';
import { openReplica } from '../support/notes-db.js';

/** Another sqlite3 CLI to test against (e.g. a newer build, like Termux's); unset: the PATH's. */
export const TEST_SQLITE3 = process.env.RESONANCE_TEST_SQLITE3 || undefined;

export { sshdFor } from './fixtures.js';

export function sqliteUrl(server: SshServer, path: string): string {
  return formatPeerUrl({ kind: 'ssh', user: server.user, host: server.host, port: server.port, path, homeRelative: false });
}

export function locationOf(server: SshServer, path: string): SshLocation {
  const location = parsePeerUrl(sqliteUrl(server, path));
  if (location.kind !== 'ssh') throw new Error('not an ssh URL');
  return location;
}

export function connect(server: SshServer, path: string, options: Partial<SqliteCliConnectOptions> = {}): Promise<SqliteCliReplica> {
  return SqliteCliReplica.connect({
    location: locationOf(server, path),
    sqlite3Command: TEST_SQLITE3,
    nodeName: 'phone',
    prepare: true,
    env: server.env,
    ...options,
  });
}

/**
 * One sync of `local` (as node "main") with `remote` (as peer "phone"), everything both ways and no
 * sync note; the remote is closed after it (a failure to close counts only when the sync went well).
 */
export async function syncOnce(remote: SqliteCliReplica, local: string): Promise<SyncSummary> {
  const localReplica = openReplica(local, 'main');
  try {
    const summary = await syncReplicas(localReplica, remote, {
      peerName: 'phone',
      pull: EVERYTHING,
      push: EVERYTHING,
      dryRun: false,
      writeSyncNote: false,
    });
    await remote.close();
    return summary;
  } catch (error) {
    await remote.close().catch(() => undefined);
    throw error;
  } finally {
    await localReplica.close();
  }
}

/**
 * Runs every session of this test through `prefix` (shell text run before the requested command)
 * via a forced command; restored when the test ends.
 */
export function remoteEnvironment(t: TestContext, server: SshServer, prefix: string): void {
  const original = readFileSync(server.authorizedKeysPath, 'utf8');
  const key = readFileSync(`${server.identityPath}.pub`, 'utf8').trim();
  const command = `${prefix}; exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"`;
  server.setAuthorizedKeys([`command="${command.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}" ${key}`]);
  t.after(() => writeFileSync(server.authorizedKeysPath, original, { mode: 0o600 }));
}

/** A private remote TMPDIR for this test's sessions (and more shell text to run first); returns it. */
export function privateRemoteTmp(t: TestContext, server: SshServer, dir: string, more = ''): string {
  const tmp = join(dir, 'remote-tmp');
  mkdirSync(tmp, { recursive: true });
  remoteEnvironment(t, server, `TMPDIR='${tmp}'; export TMPDIR${more === '' ? '' : `; ${more}`}`);
  return tmp;
}

/** The remote sessions' directories still present (remote-script.ts sessionDir). */
export function leftovers(tmp: string): string[] {
  return readdirSync(tmp).filter((name) => name.startsWith('.resonance-sync.'));
}

/** Waits (bounded) for the remote side of closed sessions to clean up after itself. */
export async function noLeftovers(tmp: string): Promise<string[]> {
  for (let i = 0; i < 50 && leftovers(tmp).length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
  return leftovers(tmp);
}

export function writeExecutable(path: string, body: string): string {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}
