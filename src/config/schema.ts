/**
 * The config file's shape: a check of the parsed TOML (snake_case, as the user writes it) that turns
 * it into the camelCase Config the rest of the program uses. Written by hand rather than with a schema
 * library: zod cost a fifth of the single-file build and ~0.03 s of start-up (module initialisation and
 * building the schema) for every command that reads the config, `sync` first of all. Every table is strict,
 * because a misspelt key silently ignored would mean syncing notes the user meant to keep private.
 * Validation problems come out as one line naming the exact key, e.g.
 * `peers.selesta.push.include_context[1]: expected a string`.
 */
import { NODE_NAME, NODE_NAME_RULE } from '../core/node-name.js';
import { SyncError } from '../core/errors.js';
import type { Route } from '../core/route.js';
import { expandHome, isAnchoredPath, parsePeerUrl, type PeerLocation, type SshPeerOptions } from '../core/peer-url.js';
import { formatDuration } from '../core/duration.js';
import { DEFAULT_STALL_TIMEOUT_MS, STALL_TIMEOUT_RULE, parseStallTimeout } from '../core/stall-timeout.js';

export interface NodeConfig {
  name: string | undefined;
  db: string | undefined;
  naiveTimestamps: 'utc' | 'local';
  syncNote: boolean;
  dedupe: 'timestamp-index' | 'unique-index';
  /** `stall_timeout`: how long an ssh peer may stay silent while we wait on it (default for every peer). */
  stallTimeoutMs?: number;
  /** `local_contexts`: device-local context patterns that stay home unless a route names them (undefined: the default list). */
  localContexts?: string[];
  /** `on_replaced`: what a sync does when this node's database was replaced (see store/replacement.ts). */
  onReplaced: 'ask' | 'continue' | 'refill';
  /** `agent_upload`: may the sync upload its own agent to a remote with Node but no resonance-sync (default true). */
  agentUpload?: boolean;
}

/** One address a peer can be reached at. */
export interface PeerAddress {
  url: string;
  location: PeerLocation;
}

export interface PeerConfig {
  name: string;
  /** The first address (`url`, or the first of a `url = [...]` list). */
  url: string;
  location: PeerLocation;
  /**
   * Every address, in the order they are tried (LAN, hotspot, tailnet…), the first being url/location;
   * absent means just that one (an ad-hoc peer).
   */
  addresses?: PeerAddress[];
  mode: 'auto' | 'agent' | 'sqlite3';
  /** `remote_command`: the user's own agent command on the remote (the agent only). */
  remoteCommand: string | undefined;
  /** `sqlite3_command`: the remote sqlite3 for the agentless mode (default: sqlite3 on its PATH). */
  sqlite3Command?: string | undefined;
  /** `agent_upload` for this peer, over the node's. */
  agentUpload?: boolean | undefined;
  enabled: boolean;
  /** This node -> peer. */
  push: Route;
  /** Peer -> this node. */
  pull: Route;
  /** `stall_timeout` for this peer, over the node's. */
  stallTimeoutMs?: number;
  /** `local_contexts` for this peer, over the node's; already resolved into push and pull. */
  localContexts?: string[];
  /** `identity_file`, `known_hosts_file`, `host_key_alias` as written (also in location.ssh, expanded). */
  identityFile?: string;
  knownHostsFile?: string;
  hostKeyAlias?: string;
}

export interface Config {
  node: NodeConfig;
  peers: PeerConfig[];
}

export const PEER_NAME_RULE = `a peer name ${NODE_NAME_RULE}`;

export function emptyConfig(): Config {
  return {
    node: { name: undefined, db: undefined, naiveTimestamps: 'utc', syncNote: true, dedupe: 'timestamp-index', onReplaced: 'ask' },
    peers: [],
  };
}

/** One problem found, at a key path below the file's top level. */
interface Issue {
  path: PropertyKey[];
  message: string;
  /** A misspelt key also makes the real one look missing: the unknown key is the useful report. */
  unknownKeys?: true;
}

/** Where a value sits, and the list its problems go to (all of them, in key order, as a reader scans the file). */
class Checker {
  constructor(
    readonly issues: Issue[],
    readonly path: PropertyKey[] = [],
  ) {}

  at(key: PropertyKey): Checker {
    return new Checker(this.issues, [...this.path, key]);
  }

  fail(message: string): undefined {
    this.issues.push({ path: this.path, message });
    return undefined;
  }

  /** Problems reported since `count` issues: nothing below this point may be trusted. */
  failedSince(count: number): boolean {
    return this.issues.length > count;
  }
}

function isTable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  // A TOML date is an object too (a Date subclass), never a table.
  return proto === Object.prototype || proto === null;
}

const TYPE_NAMES = { string: 'a string', boolean: 'true or false', array: 'an array' } as const;

function expected(at: Checker, value: unknown, type: keyof typeof TYPE_NAMES): undefined {
  return at.fail(value === undefined ? 'is required' : `expected ${TYPE_NAMES[type]}`);
}

type Field<T> = (value: unknown, at: Checker) => T | undefined;

/**
 * A strict table: each key checked in the order given, then any key it does not know reported
 * (a misspelt key silently ignored could mean syncing notes the user meant to keep private).
 * Undefined when anything in it failed.
 */
function table<S extends Record<string, Field<unknown>>>(
  value: unknown,
  at: Checker,
  shape: S,
  required: readonly (keyof S)[] = [],
): { [K in keyof S]: S[K] extends Field<infer T> ? T | undefined : never } | undefined {
  if (!isTable(value)) return at.fail('expected a table');
  const before = at.issues.length;
  const out: Record<string, unknown> = {};
  for (const [key, check] of Object.entries(shape)) {
    if (value[key] !== undefined || required.includes(key)) out[key] = check(value[key], at.at(key));
  }
  const unknown = Object.keys(value).filter((key) => !Object.hasOwn(shape, key));
  if (unknown.length > 0) {
    const keys = unknown.map((k) => JSON.stringify(k));
    const message =
      at.path.length > 0 ? `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}` : `unknown top-level key ${keys.join(', ')}`;
    at.issues.push({ path: at.path, message, unknownKeys: true });
  }
  return at.failedSince(before) ? undefined : (out as { [K in keyof S]: S[K] extends Field<infer T> ? T | undefined : never });
}

/** A non-empty string without NUL, then the extra rules in order: the first that fails is the report. */
function text(...rules: [(s: string) => boolean, string][]): Field<string> {
  return (value, at) => {
    if (typeof value !== 'string') return expected(at, value, 'string');
    if (value.length === 0) return at.fail('must not be empty');
    if (value.includes('\0')) return at.fail('must not contain a NUL character');
    for (const [ok, message] of rules) if (!ok(value)) return at.fail(message);
    return value;
  };
}

const anyText = text();
const ANCHORED: [(s: string) => boolean, string] = [isAnchoredPath, 'must be an absolute path or start with "~/"'];

function oneOf<T extends string>(...values: T[]): Field<T> {
  const message = `expected ${alternatives(values.map((v) => JSON.stringify(v)))}`;
  return (value, at) => ((values as unknown[]).includes(value) ? (value as T) : at.fail(message));
}

const bool: Field<boolean> = (value, at) => (typeof value === 'boolean' ? value : expected(at, value, 'boolean'));

const patterns: Field<string[]> = (value, at) => {
  if (!Array.isArray(value)) return expected(at, value, 'array');
  const before = at.issues.length;
  const out = value.map((item: unknown, index) => anyText(item, at.at(index)));
  return at.failedSince(before) ? undefined : (out as string[]);
};

/** `stall_timeout = "60s"`, in milliseconds. */
const stallTimeout: Field<number> = (value, at) => {
  const ms = typeof value === 'string' ? parseStallTimeout(value) : undefined;
  if (ms !== undefined) return ms;
  // A bare number is refused too: seconds or minutes? The unit says.
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return at.fail(`must be a string of ${STALL_TIMEOUT_RULE} (default "${formatDuration(DEFAULT_STALL_TIMEOUT_MS)}"), not ${shown}`);
};

const routeField: Field<Route> = (value, at) => {
  const raw = table(value, at, {
    include_context: patterns,
    exclude_context: patterns,
    include_source: patterns,
    exclude_source: patterns,
  });
  if (raw === undefined) return undefined;
  return {
    includeContext: raw.include_context ?? [],
    excludeContext: raw.exclude_context ?? [],
    includeSource: raw.include_source ?? [],
    excludeSource: raw.exclude_source ?? [],
  };
};
/** An absent route is the empty one. */
const NO_ROUTE: Route = { includeContext: [], excludeContext: [], includeSource: [], excludeSource: [] };

const nodeField: Field<NodeConfig> = (value, at) => {
  const raw = table(value, at, {
    // The name other nodes file this one under and write in their sync notes; they refuse any other form.
    name: text([(s) => NODE_NAME.test(s), NODE_NAME_RULE]),
    db: text(ANCHORED),
    naive_timestamps: oneOf('utc', 'local'),
    sync_note: bool,
    dedupe: oneOf('timestamp-index', 'unique-index'),
    stall_timeout: stallTimeout,
    local_contexts: patterns,
    on_replaced: oneOf('ask', 'continue', 'refill'),
    agent_upload: bool,
  });
  if (raw === undefined) return undefined;
  return {
    name: raw.name,
    db: raw.db === undefined ? undefined : expandHome(raw.db),
    naiveTimestamps: raw.naive_timestamps ?? 'utc',
    syncNote: raw.sync_note ?? true,
    dedupe: raw.dedupe ?? 'timestamp-index',
    onReplaced: raw.on_replaced ?? 'ask',
    ...(raw.stall_timeout === undefined ? {} : { stallTimeoutMs: raw.stall_timeout }),
    ...(raw.local_contexts === undefined ? {} : { localContexts: raw.local_contexts }),
    ...(raw.agent_upload === undefined ? {} : { agentUpload: raw.agent_upload }),
  };
};

/** One URL: `message` when it is not a string at all. */
function peerUrl(value: unknown, at: Checker, notAString: string): PeerAddress | undefined {
  if (typeof value !== 'string') return at.fail(notAString);
  let location: PeerLocation;
  try {
    location = parsePeerUrl(value);
  } catch (error) {
    return at.fail(error instanceof Error ? error.message : String(error));
  }
  // Relative to what? The cwd of whoever runs sync later is never what the author meant.
  if (location.kind === 'local' && !isAnchoredPath(value) && !/^file:(\/\/[^/]*)?\//i.test(value)) {
    return at.fail('a local path in the config file must be absolute or start with "~/"');
  }
  return { url: value, location };
}

/** `url = "…"`, or `url = ["…", "…"]`: addresses tried in order, each with the connect timeout. */
const peerUrls: Field<PeerAddress[]> = (value, at) => {
  if (value === undefined) return at.fail('is required');
  if (!Array.isArray(value)) return mapDefined(peerUrl(value, at, 'expected a string or an array of strings'), (address) => [address]);
  if (value.length === 0) return at.fail('must name at least one URL');
  const addresses: PeerAddress[] = [];
  for (const [index, url] of value.entries()) {
    const address = peerUrl(url, at.at(index), 'expected a string');
    if (address === undefined) return undefined;
    addresses.push(address);
  }
  return addresses;
};

function mapDefined<T, U>(value: T | undefined, map: (value: T) => U): U | undefined {
  return value === undefined ? undefined : map(value);
}

/** A file ssh reads: ssh expands %, ${ and splits on quotes in these options, so those are refused. */
const sshFile = text(ANCHORED, [
  (s) => !/[%$"\x00-\x1f\x7f]/.test(s),
  'must not contain %, $, " or control characters (ssh would expand them)',
]);

function peerField(name: string, value: unknown, at: Checker, nodeLocalContexts: string[] | undefined): PeerConfig | undefined {
  const raw = table(
    value,
    at,
    {
      url: peerUrls,
      identity_file: sshFile,
      known_hosts_file: sshFile,
      host_key_alias: text([(s) => NODE_NAME.test(s), `must be a host name: ${NODE_NAME_RULE}`]),
      mode: oneOf('auto', 'agent', 'sqlite3'),
      remote_command: anyText,
      sqlite3_command: anyText,
      agent_upload: bool,
      enabled: bool,
      stall_timeout: stallTimeout,
      local_contexts: patterns,
      push: routeField,
      pull: routeField,
    },
    ['url'],
  );
  if (raw?.url === undefined) return undefined;
  if (
    !raw.url.every((address) => address.location.kind === 'ssh') &&
    (raw.identity_file ?? raw.known_hosts_file ?? raw.host_key_alias) !== undefined
  ) {
    return at.at('url').fail('identity_file, known_hosts_file and host_key_alias are for ssh peers only');
  }
  if (raw.mode === 'sqlite3' && raw.remote_command !== undefined) {
    return at
      .at('remote_command')
      .fail('remote_command names the agent only; in mode "sqlite3" name the remote sqlite3 with sqlite3_command');
  }
  return {
    name,
    ...addressesOf(raw.url.map((address) => ({ ...address, location: withSshOptions(address.location, raw) }))),
    mode: raw.mode ?? 'auto',
    remoteCommand: raw.remote_command,
    ...(raw.sqlite3_command === undefined ? {} : { sqlite3Command: raw.sqlite3_command }),
    ...(raw.agent_upload === undefined ? {} : { agentUpload: raw.agent_upload }),
    enabled: raw.enabled ?? true,
    ...withLocalContexts(raw.push ?? NO_ROUTE, raw.pull ?? NO_ROUTE, raw.local_contexts ?? nodeLocalContexts),
    ...(raw.stall_timeout === undefined ? {} : { stallTimeoutMs: raw.stall_timeout }),
    ...(raw.local_contexts === undefined ? {} : { localContexts: raw.local_contexts }),
    ...(raw.identity_file === undefined ? {} : { identityFile: raw.identity_file }),
    ...(raw.known_hosts_file === undefined ? {} : { knownHostsFile: raw.known_hosts_file }),
    ...(raw.host_key_alias === undefined ? {} : { hostKeyAlias: raw.host_key_alias }),
  };
}

/** `[peers.NAME]` tables: each name checked before its table. */
function peersField(value: unknown, at: Checker, node: NodeConfig | undefined): PeerConfig[] | undefined {
  if (!isTable(value)) return at.fail('expected a table');
  const before = at.issues.length;
  const peers: PeerConfig[] = [];
  for (const [name, peer] of Object.entries(value)) {
    if (!NODE_NAME.test(name)) at.at(name).fail(`invalid peer name; ${PEER_NAME_RULE}`);
    else {
      const checked = peerField(name, peer, at.at(name), node?.localContexts);
      if (checked !== undefined) peers.push(checked);
    }
  }
  return at.failedSince(before) ? undefined : peers;
}

/** Both routes with the device-local list in force for the peer (its own, the node's, else the default). */
export function withLocalContexts(push: Route, pull: Route, localContexts: string[] | undefined): { push: Route; pull: Route } {
  return localContexts === undefined ? { push, pull } : { push: { ...push, localContexts }, pull: { ...pull, localContexts } };
}

/** url and location (the first address), and the list when there is more than one. */
export function addressesOf(addresses: readonly PeerAddress[]): Pick<PeerConfig, 'url' | 'location' | 'addresses'> {
  const [first] = addresses;
  if (first === undefined) throw new SyncError('CONFIG_INVALID', 'a peer needs at least one url');
  return { url: first.url, location: first.location, ...(addresses.length > 1 ? { addresses: [...addresses] } : {}) };
}

/** Every address of a peer, in the order to try them. */
export function peerAddresses(peer: Pick<PeerConfig, 'url' | 'location' | 'addresses'>): PeerAddress[] {
  return peer.addresses ?? [{ url: peer.url, location: peer.location }];
}

/** The location with the peer's own ssh settings (paths expanded here: ssh's `~` is the passwd home, not $HOME). */
export function withSshOptions(
  location: PeerLocation,
  keys: { identity_file?: string | undefined; known_hosts_file?: string | undefined; host_key_alias?: string | undefined },
): PeerLocation {
  if (location.kind !== 'ssh') return location;
  const ssh: SshPeerOptions = {
    ...(keys.identity_file === undefined ? {} : { identityFile: expandHome(keys.identity_file) }),
    ...(keys.known_hosts_file === undefined ? {} : { knownHostsFile: expandHome(keys.known_hosts_file) }),
    ...(keys.host_key_alias === undefined ? {} : { hostKeyAlias: keys.host_key_alias }),
  };
  return Object.keys(ssh).length === 0 ? location : { ...location, ssh };
}

/** Validates parsed TOML; throws CONFIG_INVALID "<source>: <key.path>: <problem>" for the first problem. */
export function validateConfig(raw: unknown, source: string): Config {
  const issues: Issue[] = [];
  // Checked in this order (the shape's), so the peers see the node's device-local list.
  let node: NodeConfig | undefined;
  const checked = table(raw, new Checker(issues), {
    node: (value, at) => {
      node = nodeField(value, at);
      return node;
    },
    peers: (value, at) => peersField(value, at, node),
  });
  if (checked !== undefined) return { node: checked.node ?? emptyConfig().node, peers: checked.peers ?? [] };
  const issue = issues.find((i) => i.unknownKeys) ?? issues[0];
  if (issue === undefined) throw new SyncError('CONFIG_INVALID', `${source}: invalid configuration`);
  const where = formatKeyPath(issue.path);
  throw new SyncError('CONFIG_INVALID', `${source}: ${where === '' ? '' : `${where}: `}${issue.message}`);
}

function alternatives(values: string[]): string {
  return values.length <= 1 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

/** TOML-style: `peers."my.peer".push.include_context[1]`. */
export function formatKeyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      const bare = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
      out += out === '' ? bare : `.${bare}`;
    }
  }
  return out;
}
