/**
 * The desktop's side of pairing, the ssh part: which of the phone's addresses answers, the key the
 * sync logs in with (a dedicated one without passphrase, so cron can use it), and the phone's host key
 * pinned in a known-hosts file of resonance-sync's own under the peer's alias. The user's ~/.ssh/config
 * and ~/.ssh/known_hosts are never edited.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, hostname } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { SyncError } from '../../core/errors.js';
import { toNodeName } from '../../core/node-name.js';
import { expandHome } from '../../core/peer-url.js';

/** node:child_process, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const childProcess = (): typeof import('node:child_process') => createRequire(import.meta.url)('node:child_process');
/** node:net, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const net = (): typeof import('node:net') => createRequire(import.meta.url)('node:net');

export const DEDICATED_KEY_NAME = 'resonance-sync_ed25519';
export const KNOWN_HOSTS_NAME = 'resonance-sync_known_hosts';

/** `~/x` for a path under the home, so the config reads the same on every machine. */
export function homeRelative(path: string): string {
  const home = homedir();
  return path.startsWith(home + sep) ? `~/${path.slice(home.length + 1)}` : path;
}

function answersTcp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = net().connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(timeoutMs, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** The first of the hosts (in the phone's order) whose port accepts a connection; undefined if none does. */
export async function reachableHost(hosts: string[], port: number, timeoutMs = 3000): Promise<string | undefined> {
  const answers = await Promise.all(hosts.map((host) => answersTcp(host, port, timeoutMs)));
  return hosts.find((_host, index) => answers[index]);
}

export interface SyncKey {
  /** The private key, absolute. */
  identityFile: string;
  publicKey: string;
  created: boolean;
  /** The key asks for a passphrase: unattended runs need ssh-agent to hold it. */
  passphrase: boolean;
}

function runKeygen(args: string[]): { ok: boolean; stderr: string } {
  const result = childProcess().spawnSync('ssh-keygen', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  if (result.error !== undefined) {
    throw new SyncError(
      'CONFIG_INVALID',
      `cannot run ssh-keygen (${(result.error as NodeJS.ErrnoException).code ?? result.error.message}): install the OpenSSH client`,
    );
  }
  return { ok: result.status === 0, stderr: (result.stderr ?? '').trim() };
}

/**
 * The key named with --identity, else the dedicated `~/.ssh/resonance-sync_ed25519`, made now
 * (ed25519, no passphrase: a key cron can use, which the phone restricts to the sync) if missing.
 */
export function syncKey(identity: string | undefined): SyncKey {
  if (identity !== undefined) {
    const identityFile = resolve(expandHome(identity));
    const publicKey = readPublicKey(`${identityFile}.pub`, `--identity ${identity}`);
    // -P '' succeeds only for a key without passphrase (it reads the private key, never prompts).
    const passphrase = !runKeygen(['-y', '-P', '', '-f', identityFile]).ok;
    return { identityFile, publicKey, created: false, passphrase };
  }
  const identityFile = join(homedir(), '.ssh', DEDICATED_KEY_NAME);
  if (existsSync(identityFile)) {
    return { identityFile, publicKey: readPublicKey(`${identityFile}.pub`, identityFile), created: false, passphrase: false };
  }
  mkdirSync(dirname(identityFile), { recursive: true, mode: 0o700 });
  const comment = `resonance-sync@${toNodeName(hostname(), 'desktop')}`;
  const made = runKeygen(['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', identityFile]);
  if (!made.ok) throw new SyncError('CONFIG_INVALID', `ssh-keygen could not create ${identityFile}: ${made.stderr || 'it failed'}`);
  return { identityFile, publicKey: readPublicKey(`${identityFile}.pub`, identityFile), created: true, passphrase: false };
}

function readPublicKey(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new SyncError(
      'USAGE',
      `cannot read the public key ${path} of ${what}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
    );
  }
  if (!/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+( [^\r\n]*)?$/.test(text)) throw new SyncError('USAGE', `${path} is not one OpenSSH public key line`);
  return text;
}

/**
 * Writes the host keys under the alias into resonance-sync's own known-hosts file (0600), replacing
 * the alias's old lines (pairing again after the phone was reset) and keeping every other line.
 * Returns whether the alias had other keys before.
 */
export function pinHostKeys(alias: string, keys: string[]): { path: string; replaced: boolean } {
  const path = join(homedir(), '.ssh', KNOWN_HOSTS_NAME);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const old = existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
    : [];
  const others = old.filter((line) => line.split(' ')[0] !== alias);
  const previous = old.filter((line) => line.split(' ')[0] === alias).map((line) => line.slice(alias.length + 1));
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, [...others, ...keys.map((key) => `${alias} ${key}`)].map((line) => `${line}\n`).join(''), { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  const same = previous.length === keys.length && previous.every((key) => keys.includes(key));
  return { path, replaced: previous.length > 0 && !same };
}
