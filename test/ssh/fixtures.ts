import assert from 'node:assert/strict';
/**
 * Shared pieces for the ssh tests: one real sshd per test file, the agent command as a remote_command,
 * fixture executables (stand-in ssh programs and remote wrappers), and peer URLs/config files.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, type TestContext } from 'node:test';
import { formatPeerUrl } from '../../src/core/peer-url.js';
import { shellQuote } from '../../src/transport/ssh/ssh-command.js';
import { CLI_PATH, type CliResult } from '../support/cli.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { requireSshdOrSkip, startSshd, type SshServer } from '../support/sshd.js';

let shared: Promise<SshServer> | undefined;
// Registered at import, so it belongs to the file's root (a hook added inside a test ends with that test).
after(async () => (await shared)?.stop());

/** One sshd for the whole test file (each test file runs in its own process). */
export async function sshdFor(t: TestContext): Promise<SshServer | undefined> {
  if (!requireSshdOrSkip(t)) return undefined;
  shared ??= startSshd();
  return shared;
}

/** A remote_command that runs this checkout's CLI with the given Node (quoted: paths may hold spaces). */
export function agentCommand(node = process.execPath, prefix = ''): string {
  return `${prefix}${shellQuote(node)} ${shellQuote(CLI_PATH)}`;
}

/** This node's database `main` and the phone's `phone` in `dir`, each with one note for the other. */
export function notesPair(dir: string): { main: string; phone: string } {
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'to the phone', context: 'c', source: 'main' }]);
  insertNotes(phone, [{ timestamp: '2025-11-30 22:00:01', content: 'from the phone', context: 'c', source: 'termux' }]);
  return { main, phone };
}

export function sshUrl(server: SshServer, path: string): string {
  return formatPeerUrl({ kind: 'ssh', user: server.user, host: server.host, port: server.port, path, homeRelative: false });
}

export function writeScript(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

/**
 * A stand-in for ssh that skips the network: it ignores the options and host and runs the remote
 * command with sh, as sshd would. Lets protocol-level tests run without sshd's ~1 s per login.
 */
export function localSsh(dir: string): string {
  return writeScript(dir, 'local-ssh', 'for last; do :; done\nexec sh -c "$last"');
}

export interface PeerEntry {
  name: string;
  url: string;
  remoteCommand?: string;
  extra?: string;
}

/** A config file with this node's database and the given peers (TOML strings via JSON quoting). */
export function writeConfig(dir: string, db: string, nodeName: string, peers: PeerEntry[], options: { syncNote?: boolean } = {}): string {
  const lines = [
    '[node]',
    `name = ${JSON.stringify(nodeName)}`,
    `db = ${JSON.stringify(db)}`,
    `sync_note = ${options.syncNote ?? true}`,
    '',
  ];
  for (const peer of peers) {
    lines.push(`[peers.${peer.name}]`, `url = ${JSON.stringify(peer.url)}`);
    if (peer.remoteCommand !== undefined) lines.push(`remote_command = ${JSON.stringify(peer.remoteCommand)}`);
    if (peer.extra) lines.push(peer.extra);
    lines.push('');
  }
  const path = join(dir, 'config.toml');
  writeFileSync(path, lines.join('\n'));
  return path;
}

export interface Counts {
  direction: string;
  sent: number;
  received: number;
  duplicates: number;
}

/** The per-direction counts from `sync --json` output. */
export function directionCounts(stdout: string): Counts[] {
  const parsed = JSON.parse(stdout) as { peers: Array<{ directions: Counts[] }> };
  return (parsed.peers[0]?.directions ?? []).map(({ direction, sent, received, duplicates }) => ({
    direction,
    sent,
    received,
    duplicates,
  }));
}

/** The CLI failed as documented: exit code, one line on stderr, ending in the stable error code. */
export function failedWith(result: CliResult, exitCode: number, code: string, message: RegExp): void {
  assert.equal(result.code, exitCode, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0] ?? '', new RegExp(`\\[${code}\\]$`));
  assert.match(lines[0] ?? '', message);
}
