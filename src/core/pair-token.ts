/**
 * The pairing token: everything a desktop needs to reach a phone's sshd and trust it, in one line
 * the phone prints (`pair --show`) and the desktop pastes (`pair TOKEN`). Its form is
 * `rspair1:<base64url JSON>.<checksum>`: versioned, so a later form is refused by name, and
 * checksummed (the first 6 bytes of SHA-256), so a mistyped or truncated copy is caught before it is
 * used. The checksum is no signature: whoever hands over the token is trusted to be the phone, as
 * with `ssh-keyscan`, but the token travels over the user's own eyes or clipboard, not the network.
 *
 * It comes from another device, so every field is checked on the way in against the rules the rest of
 * the program already uses (peer-url.ts for user, hosts and port; node-name.ts for the name), and host
 * keys against OpenSSH's public key form: nothing in it can become an ssh option or shell text.
 */
import { createHash } from 'node:crypto';
import { SyncError } from './errors.js';
import { isNodeName, NODE_NAME_RULE } from './node-name.js';
import { sshHostProblem, sshUserProblem } from './peer-url.js';

export const PAIR_TOKEN_PREFIX = 'rspair1:';
const MAX_TOKEN_LENGTH = 8192;
const MAX_HOSTS = 8;
const MAX_HOST_KEYS = 4;
const MAX_DB_PATH = 1024;

export interface PairToken {
  /** The login on the phone (Termux: u0_a311…). */
  user: string;
  /** Where the desktop may find it: IP addresses and host names, the likeliest first. */
  hosts: string[];
  port: number;
  /** The phone's database: absolute, or `~/rel` (relative to the login's home). */
  db: string;
  /** The phone's node name: the peer name the desktop uses unless told another. */
  name: string;
  /** The sshd's public host keys, `type base64` each. */
  hostKeys: string[];
}

/** The JSON inside, with short keys so the token (and its QR code) stay small. */
interface Wire {
  u: string;
  h: string[];
  p: number;
  d: string;
  n: string;
  k: string[];
}

const HOST_KEY_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);
const HOST_KEY = /^([a-z0-9-]+) ([A-Za-z0-9+/]+={0,2})$/;

function checksum(payload: string): string {
  return createHash('sha256').update(payload, 'utf8').digest().subarray(0, 6).toString('base64url');
}

export function encodePairToken(token: PairToken): string {
  // Checked on the way out too: a phone must never print a token its desktop would refuse.
  const checked = checkToken(token);
  const wire: Wire = { u: checked.user, h: checked.hosts, p: checked.port, d: checked.db, n: checked.name, k: checked.hostKeys };
  const payload = Buffer.from(JSON.stringify(wire), 'utf8').toString('base64url');
  return `${PAIR_TOKEN_PREFIX}${payload}.${checksum(payload)}`;
}

function invalid(reason: string): SyncError {
  return new SyncError(
    'PAIR_TOKEN_INVALID',
    `invalid pairing token: ${reason}; run \`resonance-sync pair --show\` on the phone again and copy the whole line`,
  );
}

export function decodePairToken(text: string): PairToken {
  const token = text.trim();
  if (token.length > MAX_TOKEN_LENGTH) throw invalid(`it is longer than ${MAX_TOKEN_LENGTH} characters`);
  const version = /^rspair(\d+):/.exec(token);
  if (version === null) throw invalid(`it does not start with "${PAIR_TOKEN_PREFIX}"`);
  if (!token.startsWith(PAIR_TOKEN_PREFIX)) {
    throw invalid(`it is of version ${version[1]}, which this resonance-sync does not read (upgrade it on the desktop)`);
  }
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{8})$/.exec(token.slice(PAIR_TOKEN_PREFIX.length));
  if (match === null) throw invalid('it is damaged or cut short (expected "rspair1:<data>.<checksum>")');
  const [, payload = '', sum] = match;
  if (checksum(payload) !== sum) throw invalid('its checksum does not match (a character was changed, added or lost)');
  let wire: unknown;
  try {
    wire = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw invalid('its data is not JSON');
  }
  return checkToken(fromWire(wire));
}

function fromWire(wire: unknown): PairToken {
  if (typeof wire !== 'object' || wire === null || Array.isArray(wire)) throw invalid('its data is not an object');
  const fields = wire as Record<string, unknown>;
  const unknown = Object.keys(fields).filter((key) => !['u', 'h', 'p', 'd', 'n', 'k'].includes(key));
  if (unknown.length > 0) throw invalid(`it has unknown fields ${unknown.map((k) => JSON.stringify(k)).join(', ')}`);
  const { u, h, p, d, n, k } = fields as Partial<Record<keyof Wire, unknown>>;
  if (typeof u !== 'string') throw invalid('the user is missing');
  if (!Array.isArray(h) || !h.every((x) => typeof x === 'string')) throw invalid('the hosts are missing');
  if (typeof p !== 'number') throw invalid('the port is missing');
  if (typeof d !== 'string') throw invalid('the database path is missing');
  if (typeof n !== 'string') throw invalid('the node name is missing');
  if (!Array.isArray(k) || !k.every((x) => typeof x === 'string')) throw invalid('the host keys are missing');
  return { user: u, hosts: h as string[], port: p, db: d, name: n, hostKeys: k as string[] };
}

/** Every field against the rules the rest of the program applies to the same values. */
function checkToken(token: PairToken): PairToken {
  if (!Number.isInteger(token.port) || token.port < 1 || token.port > 65535) throw invalid('the port must be a number from 1 to 65535');
  if (token.hosts.length === 0 || token.hosts.length > MAX_HOSTS) throw invalid(`it must name 1 to ${MAX_HOSTS} hosts`);
  for (const host of token.hosts) checkDestination(token.user, host);
  checkDbPath(token.db);
  if (!isNodeName(token.name)) throw invalid(`the node name ${JSON.stringify(token.name)} ${NODE_NAME_RULE}`);
  if (token.hostKeys.length === 0 || token.hostKeys.length > MAX_HOST_KEYS) throw invalid(`it must hold 1 to ${MAX_HOST_KEYS} host keys`);
  for (const key of token.hostKeys) checkHostKey(key);
  return { ...token, hosts: [...token.hosts], hostKeys: [...token.hostKeys] };
}

/** The user and host by the rules peer-url.ts applies to an ssh:// URL: nothing that ssh could read as an option. */
function checkDestination(user: string, host: string): void {
  const userProblem = sshUserProblem(user);
  if (userProblem !== undefined) throw invalid(`user ${JSON.stringify(user)}: ${userProblem}`);
  const hostProblem = sshHostProblem(host, host.includes(':'));
  if (hostProblem !== undefined) throw invalid(`host ${JSON.stringify(host)}: ${hostProblem}`);
}

function checkDbPath(path: string): void {
  if (path.length === 0 || path.length > MAX_DB_PATH) throw invalid(`the database path must be 1 to ${MAX_DB_PATH} characters`);
  // It travels in an ssh command line and an authorized_keys line: no control characters at all.
  if (/[\x00-\x1f\x7f]/.test(path)) throw invalid('the database path contains a control character');
  if (!(path.startsWith('/') || path.startsWith('~/'))) throw invalid('the database path must be absolute or start with "~/"');
  if (path === '/' || path === '~/') throw invalid('the database path names no file');
}

/** `type base64`, a type OpenSSH uses for host keys, whose blob names that same type. */
function checkHostKey(key: string): void {
  const match = HOST_KEY.exec(key);
  if (match === null || key.length > 2048) throw invalid(`a host key is not of the form "ssh-ed25519 AAAA..."`);
  const [, type = '', base64 = ''] = match;
  if (!HOST_KEY_TYPES.has(type)) throw invalid(`host key type ${JSON.stringify(type)} is not one sshd uses`);
  const blob = Buffer.from(base64, 'base64');
  const length = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (length !== type.length || blob.subarray(4, 4 + length).toString('latin1') !== type) {
    throw invalid(`a host key's data does not match its type ${type}`);
  }
}

/** `type base64` from a `.pub` file's text (its comment dropped), or undefined when it is not one key. */
export function hostKeyFromPublicKeyFile(text: string): string | undefined {
  const [type, base64] = text.trim().split(/\s+/);
  if (type === undefined || base64 === undefined) return undefined;
  const key = `${type} ${base64}`;
  try {
    checkHostKey(key);
    return key;
  } catch {
    return undefined;
  }
}
