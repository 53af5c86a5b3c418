/**
 * Reading and writing the TOML config file, and the pure edits the CLI makes to a Config
 * (init, peer add/remove). Writes are atomic so a crash or a full disk never leaves a half-written
 * config behind; reads report problems as one line with the file, line and column or key path.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, realpathSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { parse, stringify, TomlError } from 'smol-toml';
import { closestNames } from '../core/did-you-mean.js';
import { SyncError } from '../core/errors.js';
import type { Route } from '../core/route.js';
import { expandHome, parsePeerUrl } from '../core/peer-url.js';
import { isNodeName } from '../core/node-name.js';
import { formatDuration } from '../core/duration.js';
import {
  addressesOf,
  peerAddresses,
  emptyConfig,
  PEER_NAME_RULE,
  validateConfig,
  withLocalContexts,
  withSshOptions,
  type Config,
  type NodeConfig,
  type PeerConfig,
} from './schema.js';

export type { Config, NodeConfig, PeerConfig } from './schema.js';
export { emptyConfig } from './schema.js';

const HEADER = '# resonance-sync configuration (edit by hand or with `resonance-sync init` / `peer add`)\n\n';

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.RESONANCE_SYNC_CONFIG;
  if (explicit) return resolve(expandHome(explicit));
  const xdg = env.XDG_CONFIG_HOME;
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  if (xdg && isAbsolute(xdg)) return join(xdg, 'resonance-sync', 'config.toml');
  return join(env.HOME || homedir(), '.config', 'resonance-sync', 'config.toml');
}

export function loadConfig(path: string, options: { mustExist: boolean }): Config {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !options.mustExist) return emptyConfig();
    const message =
      code === 'ENOENT'
        ? `config file ${path} does not exist; create it with \`resonance-sync init\``
        : `cannot read config file ${path}: ${code ?? (error instanceof Error ? error.message : String(error))}`;
    throw new SyncError('CONFIG_UNREADABLE', message, { cause: error });
  }
  let raw: unknown;
  try {
    raw = parse(source);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml appends a multi-line code excerpt; the first line is the diagnosis.
    const what = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new SyncError('CONFIG_INVALID', `${path}:${error.line}:${error.column}: ${what}`, { cause: error });
  }
  return validateConfig(raw, path);
}

export function saveConfig(path: string, config: Config): void {
  const target = followSymlink(path);
  const dir = dirname(target);
  const temp = join(dir, `.${basename(target)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(temp, 'wx', 0o644);
    try {
      writeSync(fd, HEADER + stringify(toToml(config)));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } catch (error) {
    try {
      rmSync(temp, { force: true });
    } catch {
      // The folder may not exist at all (that is often why we are here); the write error matters.
    }
    const reason = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    throw new SyncError('CONFIG_UNREADABLE', `cannot write config file ${path}: ${reason}`, { cause: error });
  }
}

/** Renaming over a symlink would replace it; dotfile managers link config files, so write through. */
function followSymlink(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** The snake_case TOML document, leaving out defaults so hand edits stay small. */
function toToml(config: Config): Record<string, unknown> {
  const node: Record<string, unknown> = {};
  if (config.node.name !== undefined) node.name = config.node.name;
  if (config.node.db !== undefined) node.db = contractHome(config.node.db);
  if (config.node.naiveTimestamps !== 'utc') node.naive_timestamps = config.node.naiveTimestamps;
  if (!config.node.syncNote) node.sync_note = false;
  if (config.node.dedupe !== 'timestamp-index') node.dedupe = config.node.dedupe;
  if (config.node.onReplaced !== 'ask') node.on_replaced = config.node.onReplaced;
  if (config.node.stallTimeoutMs !== undefined) node.stall_timeout = formatDuration(config.node.stallTimeoutMs);
  if (config.node.localContexts !== undefined) node.local_contexts = config.node.localContexts;
  if (config.node.agentUpload !== undefined) node.agent_upload = config.node.agentUpload;
  const peers: Record<string, unknown> = {};
  for (const peer of config.peers) {
    const out: Record<string, unknown> = { url: peer.addresses ? peer.addresses.map((address) => address.url) : peer.url };
    if (peer.mode !== 'auto') out.mode = peer.mode;
    if (peer.remoteCommand !== undefined) out.remote_command = peer.remoteCommand;
    if (peer.sqlite3Command !== undefined) out.sqlite3_command = peer.sqlite3Command;
    if (peer.agentUpload !== undefined) out.agent_upload = peer.agentUpload;
    if (!peer.enabled) out.enabled = false;
    if (peer.stallTimeoutMs !== undefined) out.stall_timeout = formatDuration(peer.stallTimeoutMs);
    if (peer.localContexts !== undefined) out.local_contexts = peer.localContexts;
    if (peer.identityFile !== undefined) out.identity_file = peer.identityFile;
    if (peer.knownHostsFile !== undefined) out.known_hosts_file = peer.knownHostsFile;
    if (peer.hostKeyAlias !== undefined) out.host_key_alias = peer.hostKeyAlias;
    const push = routeToToml(peer.push);
    const pull = routeToToml(peer.pull);
    if (push) out.push = push;
    if (pull) out.pull = pull;
    peers[peer.name] = out;
  }
  const doc: Record<string, unknown> = {};
  if (Object.keys(node).length) doc.node = node;
  if (config.peers.length) doc.peers = peers;
  return doc;
}

function routeToToml(route: Route): Record<string, string[]> | undefined {
  const out: Record<string, string[]> = {};
  if (route.includeContext.length) out.include_context = route.includeContext;
  if (route.excludeContext.length) out.exclude_context = route.excludeContext;
  if (route.includeSource.length) out.include_source = route.includeSource;
  if (route.excludeSource.length) out.exclude_source = route.excludeSource;
  return Object.keys(out).length ? out : undefined;
}

/** `~/...` for paths under home, so one config file can be copied between devices. */
function contractHome(path: string): string {
  const home = homedir();
  return path.startsWith(home + sep) ? `~/${path.slice(home.length + 1)}` : path;
}

/** Sets the node's name and/or database; a relative db is taken relative to the current directory. */
export function withNode(config: Config, changes: { name?: string; db?: string }): Config {
  const node: NodeConfig = { ...config.node };
  if (changes.name !== undefined) {
    if (changes.name === '' || changes.name.includes('\0')) throw new SyncError('USAGE', 'the node name must not be empty');
    node.name = changes.name;
  }
  if (changes.db !== undefined) {
    if (changes.db === '' || changes.db.includes('\0')) throw new SyncError('USAGE', 'the database path must not be empty');
    node.db = resolve(expandHome(changes.db));
  }
  return { ...config, node };
}

export interface NewPeer {
  name: string;
  url: string;
  /** Further addresses, tried in order after `url`. */
  moreUrls?: string[];
  mode?: PeerConfig['mode'];
  remoteCommand?: string;
  push?: Partial<Route>;
  pull?: Partial<Route>;
  /** An ssh peer's own key and pinned host key (`pair`): config keys identity_file, known_hosts_file, host_key_alias. */
  ssh?: { identityFile: string; knownHostsFile: string; hostKeyAlias: string };
}

export function addPeer(config: Config, peer: NewPeer): Config {
  if (!isNodeName(peer.name)) throw new SyncError('USAGE', `invalid peer name ${JSON.stringify(peer.name)}; ${PEER_NAME_RULE}`);
  if (config.peers.some((p) => p.name === peer.name)) {
    throw new SyncError(
      'PEER_EXISTS',
      `peer "${peer.name}" already exists; change it with \`resonance-sync peer set ${peer.name}\`, or pick another name`,
    );
  }
  const ssh = peer.ssh;
  const addresses = typedAddresses([peer.url, ...(peer.moreUrls ?? [])]);
  const sshKeys =
    ssh === undefined ? {} : { identity_file: ssh.identityFile, known_hosts_file: ssh.knownHostsFile, host_key_alias: ssh.hostKeyAlias };
  const added: PeerConfig = {
    name: peer.name,
    ...addressesOf(peerAddresses(addresses).map((address) => ({ ...address, location: withSshOptions(address.location, sshKeys) }))),
    ...(ssh === undefined ? {} : { identityFile: ssh.identityFile, knownHostsFile: ssh.knownHostsFile, hostKeyAlias: ssh.hostKeyAlias }),
    mode: peer.mode ?? 'auto',
    remoteCommand: peer.remoteCommand === '' ? undefined : peer.remoteCommand,
    enabled: true,
    ...withLocalContexts(toRoute(peer.push), toRoute(peer.pull), config.node.localContexts),
  };
  return { ...config, peers: [...config.peers, added] };
}

/** Addresses typed on the command line: a relative local path means "from here", not from wherever sync later runs. */
function typedAddresses(urls: readonly string[]): Pick<PeerConfig, 'url' | 'location' | 'addresses'> {
  return addressesOf(
    urls.map((url) => {
      const location = parsePeerUrl(url);
      return { url: location.kind === 'local' ? location.path : url, location };
    }),
  );
}

/** What `peer set` changes; anything left out stays as it is. Contexts replace the include list of their direction. */
export interface PeerChanges {
  urls?: string[];
  mode?: PeerConfig['mode'];
  /** '' removes it. */
  remoteCommand?: string;
  enabled?: boolean;
  pushContexts?: string[];
  pullContexts?: string[];
}

export function setPeer(config: Config, name: string, changes: PeerChanges): Config {
  const peer = findPeer(config, name);
  const changed: PeerConfig = { ...peer };
  if (changes.urls !== undefined && changes.urls.length > 0) {
    delete changed.addresses;
    // The peer's own key and pinned host key (`pair`) hold for its new addresses too.
    const sshKeys = { identity_file: peer.identityFile, known_hosts_file: peer.knownHostsFile, host_key_alias: peer.hostKeyAlias };
    const typed = peerAddresses(typedAddresses(changes.urls));
    Object.assign(changed, addressesOf(typed.map((address) => ({ ...address, location: withSshOptions(address.location, sshKeys) }))));
  }
  if (changes.mode !== undefined) changed.mode = changes.mode;
  if (changes.remoteCommand !== undefined) changed.remoteCommand = changes.remoteCommand === '' ? undefined : changes.remoteCommand;
  if (changes.enabled !== undefined) changed.enabled = changes.enabled;
  // The device-local list in force stays with the route (toRoute keeps only the patterns written in the file).
  const keepLocal = (route: Route, next: Route): Route => (route.localContexts ? { ...next, localContexts: route.localContexts } : next);
  if (changes.pushContexts !== undefined)
    changed.push = keepLocal(peer.push, toRoute({ ...peer.push, includeContext: changes.pushContexts }));
  if (changes.pullContexts !== undefined)
    changed.pull = keepLocal(peer.pull, toRoute({ ...peer.pull, includeContext: changes.pullContexts }));
  return { ...config, peers: config.peers.map((p) => (p.name === name ? changed : p)) };
}

function toRoute(partial: Partial<Route> | undefined): Route {
  const route: Route = {
    includeContext: [...(partial?.includeContext ?? [])],
    excludeContext: [...(partial?.excludeContext ?? [])],
    includeSource: [...(partial?.includeSource ?? [])],
    excludeSource: [...(partial?.excludeSource ?? [])],
  };
  const bad = Object.values(route)
    .flat()
    .find((p) => p === '' || p.includes('\0'));
  if (bad !== undefined)
    throw new SyncError('USAGE', `invalid pattern ${JSON.stringify(bad)}: patterns must be non-empty and contain no NUL`);
  return route;
}

export function removePeer(config: Config, name: string): Config {
  findPeer(config, name);
  return { ...config, peers: config.peers.filter((p) => p.name !== name) };
}

export function findPeer(config: Config, name: string): PeerConfig {
  const peer = config.peers.find((p) => p.name === name);
  if (peer) return peer;
  const known = config.peers.map((p) => p.name);
  const close = closestNames(name, known);
  const hint = close.length
    ? `did you mean ${close.join(' or ')}? (known peers: ${known.join(', ')})`
    : known.length
      ? `known peers: ${known.join(', ')}`
      : 'no peers are configured; add one with `resonance-sync peer add NAME URL`';
  throw new SyncError('PEER_UNKNOWN', `unknown peer ${JSON.stringify(name)}; ${hint}`);
}
