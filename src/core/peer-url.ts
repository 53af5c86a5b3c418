/**
 * Peer URLs: where a peer's database lives. Accepts git-like spellings (ssh://, scp-like
 * `host:path`, file:, plain paths) and turns them into a PeerLocation. Every part that will later
 * reach an ssh command line is checked against a small character set here, once, so that no
 * transport ever has to quote or second-guess a hostile host, user or path.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { SyncError } from './errors.js';

export type PeerLocation =
  | { kind: 'local'; path: string }
  | {
      kind: 'ssh';
      user: string | undefined;
      /** Without brackets, even for IPv6, so it can be handed to ssh as is. */
      host: string;
      port: number | undefined;
      /** Absolute, or relative to the remote home when `homeRelative`. */
      path: string;
      homeRelative: boolean;
      /** The peer's own ssh settings from the config (never from a URL): see SshPeerOptions. */
      ssh?: SshPeerOptions;
    };

/**
 * Per-peer ssh settings (`identity_file`, `known_hosts_file`, `host_key_alias`), as `pair` writes
 * them: the key to log in with, and the host key pinned for this peer alone. Paths are absolute.
 */
export interface SshPeerOptions {
  identityFile?: string;
  knownHostsFile?: string;
  hostKeyAlias?: string;
}

const ACCEPTED_FORMS =
  'use ssh://[user@]host[:port]/abs/path, ssh://[user@]host[:port]/~/rel/path, [user@]host:path, file:///abs/path or a local path';

// '[' and ']' never survive bracket stripping; ':' only comes from a bracketed IPv6 literal.
const HOST_CHARS = /^[A-Za-z0-9._%-]+$/;
const IPV6_HOST_CHARS = /^[A-Za-z0-9._:%-]+$/;
const USER_CHARS = /^[A-Za-z0-9._-]+$/;
const OTHER_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

function invalid(text: string, reason: string): SyncError {
  // JSON quoting keeps the message on one line even when the URL holds a newline.
  return new SyncError('PEER_URL_INVALID', `invalid peer URL ${JSON.stringify(text)}: ${reason}; ${ACCEPTED_FORMS}`);
}

/** `~` and `~/x` relative to the current user's home; anything else (including `~user`) unchanged. */
export function expandHome(path: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return path;
}

export function parsePeerUrl(text: string): PeerLocation {
  if (text.trim() === '') throw invalid(text, 'it is empty');
  if (/[\0\r\n]/.test(text)) throw invalid(text, 'it contains a NUL or newline character');
  if (/^file:/i.test(text)) return parseFileUrl(text);
  if (/^ssh:\/\//i.test(text)) return parseSshUrl(text);
  if (OTHER_SCHEME.test(text)) throw invalid(text, 'unsupported scheme');
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  // Like git: `host:path` is remote only when the ':' comes before any '/' ("./a:b" stays local).
  if (colon > 0 && (slash === -1 || colon < slash)) return parseScpLike(text);
  return { kind: 'local', path: resolve(expandHome(text)) };
}

function parseFileUrl(text: string): PeerLocation {
  let rest = text.slice('file:'.length);
  if (rest.startsWith('//')) {
    const end = rest.indexOf('/', 2);
    const host = end === -1 ? rest.slice(2) : rest.slice(2, end);
    if (host !== '' && host.toLowerCase() !== 'localhost') throw invalid(text, 'file: URLs cannot name another host');
    rest = end === -1 ? '' : rest.slice(end);
  }
  const path = decode(text, rest);
  if (path === '') throw invalid(text, 'the path is empty');
  return { kind: 'local', path: resolve(path) };
}

function parseSshUrl(text: string): PeerLocation {
  const rest = text.slice('ssh://'.length);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const at = authority.lastIndexOf('@');
  const user = at === -1 ? undefined : checkUser(text, authority.slice(0, at));
  const hostPort = authority.slice(at + 1);
  let host: string;
  let portText: string | undefined;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close === -1) throw invalid(text, 'unclosed "[" in host');
    host = checkHost(text, hostPort.slice(1, close), true);
    const after = hostPort.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw invalid(text, 'unexpected text after "]"');
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = hostPort.indexOf(':');
    host = checkHost(text, colon === -1 ? hostPort : hostPort.slice(0, colon), false);
    portText = colon === -1 ? undefined : hostPort.slice(colon + 1);
  }
  const port = portText === undefined ? undefined : checkPort(text, portText);
  const rawPath = slash === -1 ? '' : rest.slice(slash);
  // Decided before decoding, so an absolute "/%7E/x" stays absolute (formatPeerUrl relies on it).
  const homeRelative = rawPath === '/~' || rawPath.startsWith('/~/');
  return remote(text, user, host, port, decode(text, homeRelative ? rawPath.slice(3) : rawPath), homeRelative);
}

function parseScpLike(text: string): PeerLocation {
  // Like git, `[::1]:path` and `user@[::1]:path` bracket an IPv6 host; the ':' after ']' splits.
  const bracket = /^(?:([^@/]*)@)?\[([^\]]*)\]:/.exec(text);
  const colon = bracket ? bracket[0].length - 1 : text.indexOf(':');
  const userHost = text.slice(0, colon);
  const at = bracket ? (bracket[1] === undefined ? -1 : bracket[1].length) : userHost.lastIndexOf('@');
  const user = at === -1 ? undefined : checkUser(text, userHost.slice(0, at));
  const host = bracket ? checkHost(text, bracket[2] ?? '', true) : checkHost(text, userHost.slice(at + 1), false);
  let path = text.slice(colon + 1);
  const homeRelative = !path.startsWith('/');
  if (path === '~') path = '';
  else if (path.startsWith('~/')) path = path.slice(2);
  return remote(text, user, host, undefined, path, homeRelative);
}

function remote(
  text: string,
  user: string | undefined,
  host: string,
  port: number | undefined,
  path: string,
  homeRelative: boolean,
): PeerLocation {
  if (path === '' || path === '/') throw invalid(text, 'the remote path is empty');
  // Stricter than for local paths: the remote path travels through ssh and a remote shell.
  if (/[\x00-\x1f\x7f]/.test(path)) throw invalid(text, 'the remote path contains a control character');
  return { kind: 'ssh', user, host, port, path, homeRelative };
}

/** Why a user name cannot go to ssh, or undefined when it can (pair-token.ts checks tokens with it too). */
export function sshUserProblem(user: string): string | undefined {
  if (user === '') return 'the user name is empty';
  // A leading '-' would be read by ssh as an option (e.g. -oProxyCommand=...).
  if (user.startsWith('-')) return 'the user name must not start with "-"';
  if (!USER_CHARS.test(user)) return 'the user name may only contain letters, digits, ".", "_" and "-"';
  return undefined;
}

/** Why a host (IPv6 without brackets) cannot go to ssh, or undefined when it can. */
export function sshHostProblem(host: string, ipv6: boolean): string | undefined {
  if (host === '') return 'the host is empty';
  if (host.startsWith('-')) return 'the host must not start with "-"';
  if (!(ipv6 ? IPV6_HOST_CHARS : HOST_CHARS).test(host)) {
    return 'the host may only contain letters, digits, ".", "_", "-", "%" (and ":" inside [...])';
  }
  return undefined;
}

function checkUser(text: string, user: string): string {
  const problem = sshUserProblem(user);
  if (problem !== undefined) throw invalid(text, problem);
  return user;
}

function checkHost(text: string, host: string, bracketed: boolean): string {
  const problem = sshHostProblem(host, bracketed);
  if (problem !== undefined) throw invalid(text, problem);
  return host;
}

function checkPort(text: string, portText: string): number {
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw invalid(text, 'the port must be a number from 1 to 65535');
  return port;
}

function decode(text: string, part: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(part);
  } catch {
    throw invalid(text, 'bad percent-encoding');
  }
  // Checked again after decoding: %00 and %0A must not sneak past the first check.
  if (/[\0\r\n]/.test(decoded)) throw invalid(text, 'the path contains a NUL or newline character');
  return decoded;
}

/** The canonical spelling; parsePeerUrl(formatPeerUrl(x)) deep-equals x. */
export function formatPeerUrl(location: PeerLocation): string {
  if (location.kind === 'local') return location.path;
  const user = location.user === undefined ? '' : `${location.user}@`;
  const host = location.host.includes(':') ? `[${location.host}]` : location.host;
  const port = location.port === undefined ? '' : `:${location.port}`;
  // '%' because the path is percent-decoded on the way back in; a leading "/~" so an absolute path
  // into a folder literally named "~" is not read back as home-relative.
  let path = location.path.replaceAll('%', '%25');
  if (location.homeRelative) path = `/~/${path}`;
  else if (path === '/~' || path.startsWith('/~/')) path = `/%7E${path.slice(2)}`;
  return `ssh://${user}${host}${port}${path}`;
}

/** For status lines and error messages: "~/x.sqlite3 on u@host:8022 (ssh)" or "/abs/x.sqlite3 (local)". */
export function describeLocation(location: PeerLocation): string {
  if (location.kind === 'local') return `${location.path} (local)`;
  const user = location.user === undefined ? '' : `${location.user}@`;
  const host = location.host.includes(':') ? `[${location.host}]` : location.host;
  const port = location.port === undefined ? '' : `:${location.port}`;
  const path = location.homeRelative ? `~/${location.path}` : location.path;
  return `${path} on ${user}${host}${port} (ssh)`;
}

/** True when `path` is absolute or `~`-relative; relative paths in a config file would depend on the cwd. */
export function isAnchoredPath(path: string): boolean {
  return isAbsolute(path) || path === '~' || path.startsWith('~/');
}
