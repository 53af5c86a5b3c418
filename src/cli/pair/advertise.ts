/**
 * The phone's side of pairing (`pair --show`): what a desktop needs to reach this account's sshd and
 * trust it, found where Termux and OpenSSH keep it, each part overridable for setups that differ.
 * Nothing here writes anything: it only reads and prints.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { homedir, hostname, networkInterfaces, userInfo } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { SyncError } from '../../core/errors.js';
import { toNodeName } from '../../core/node-name.js';
import { expandHome } from '../../core/peer-url.js';
import { hostKeyFromPublicKeyFile, type PairToken } from '../../core/pair-token.js';

export interface AdvertiseOptions {
  db: string | undefined;
  name: string | undefined;
  port: number | undefined;
  addresses: string[] | undefined;
  hostKeys: string[] | undefined;
  env: NodeJS.ProcessEnv;
}

const TERMUX_SSHD_PORT = 8022;
/** Preferred first: the token (and its QR code) carries the best one only, unless --host-key names more. */
const HOST_KEY_TYPES = ['ed25519', 'ecdsa', 'rsa'];

/** Termux keeps its /usr under $PREFIX (/data/data/com.termux/files/usr). */
function termuxPrefix(env: NodeJS.ProcessEnv): string | undefined {
  const prefix = env.PREFIX;
  return prefix?.includes('com.termux') ? prefix : undefined;
}

function sshdConfigDir(env: NodeJS.ProcessEnv): string {
  const prefix = termuxPrefix(env);
  return prefix === undefined ? '/etc/ssh' : join(prefix, 'etc', 'ssh');
}

/** `Port` from sshd_config, else sshd's default: 8022 in Termux, 22 elsewhere. */
export function sshdPort(env: NodeJS.ProcessEnv): number {
  try {
    const text = readFileSync(join(sshdConfigDir(env), 'sshd_config'), 'utf8');
    const port = /^[ \t]*Port[ \t]+(\d{1,5})[ \t]*$/im.exec(text)?.[1];
    if (port !== undefined && Number(port) >= 1 && Number(port) <= 65535) return Number(port);
  } catch {
    // no readable sshd_config: its default applies
  }
  return termuxPrefix(env) === undefined ? 22 : TERMUX_SSHD_PORT;
}

/** Where a desktop on the same network may find this device: IPv4 first, then global IPv6, then the host name. */
export function localAddresses(): string[] {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.internal) continue;
      if (entry.family === 'IPv4') v4.push(entry.address);
      // Link-local addresses need the interface's name on the other device too (fe80::1%wlan0).
      else if (!/^fe[89ab]/i.test(entry.address)) v6.push(entry.address);
    }
  }
  const name = hostname();
  const named = name !== '' && name !== 'localhost' && /^[A-Za-z0-9.-]+$/.test(name) ? [name] : [];
  return [...new Set([...v4, ...v6, ...named])].slice(0, 8);
}

/** The sshd's public host keys: the files named, else the best one found beside sshd_config. */
export function hostKeys(files: string[] | undefined, env: NodeJS.ProcessEnv): string[] {
  const candidates =
    files ??
    HOST_KEY_TYPES.map((type) => join(sshdConfigDir(env), `ssh_host_${type}_key.pub`))
      .filter((path) => existsSync(path))
      .slice(0, 1);
  if (candidates.length === 0) {
    throw new SyncError(
      'USAGE',
      `no sshd host key found in ${sshdConfigDir(env)} (start sshd once: it creates them), or name the .pub file with --host-key`,
    );
  }
  return candidates.map((file) => {
    let text: string;
    try {
      text = readFileSync(resolve(expandHome(file)), 'utf8');
    } catch (error) {
      throw new SyncError('USAGE', `cannot read the host key ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    const key = hostKeyFromPublicKeyFile(text);
    if (key === undefined)
      throw new SyncError('USAGE', `${file} is not an sshd public host key (like "ssh-ed25519 AAAA..."); pass the .pub file`);
    return key;
  });
}

/** The database as the desktop will name it: `~/rel` under this home (short, and the same after a reinstall), else absolute. */
export function advertisedDbPath(db: string): string {
  const path = resolve(expandHome(db));
  if (!existsSync(path)) {
    throw new SyncError('DB_NOT_FOUND', `database not found: ${path} (pass --db, or prepare it with \`resonance-sync init --create\`)`);
  }
  const real = realpathSync(path);
  const home = realpathSync(homedir());
  return real.startsWith(home + sep) ? `~/${real.slice(home.length + 1)}` : real;
}

export function advertise(options: AdvertiseOptions): PairToken {
  if (options.db === undefined) {
    throw new SyncError('NO_DATABASE', 'no database to pair: pass --db PATH, or run `resonance-sync init --db PATH --node NAME` first');
  }
  const addresses = options.addresses ?? localAddresses();
  if (addresses.length === 0) {
    throw new SyncError('USAGE', 'this device has no network address other than loopback: connect it to the network, or pass --address');
  }
  return {
    user: userInfo().username,
    hosts: addresses,
    port: options.port ?? sshdPort(options.env),
    db: advertisedDbPath(options.db),
    name: options.name ?? toNodeName(hostname(), 'phone'),
    hostKeys: hostKeys(options.hostKeys, options.env),
  };
}
