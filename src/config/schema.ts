/**
 * The config file's shape: a zod schema over the parsed TOML (snake_case, as the user writes it)
 * that turns it into the camelCase Config the rest of the program uses. Every table is strict,
 * because a misspelt key silently ignored would mean syncing notes the user meant to keep private.
 * Validation problems come out as one line naming the exact key, e.g.
 * `peers.selesta.push.include_context[1]: expected a string`.
 */
// zod/mini: the same checks as zod's chained API, as functions esbuild can drop when unused, so
// every command (and the agent on a phone, which never reads a config) loads a fraction of zod.
import * as z from 'zod/mini';
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

function isTable(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  // z.object alone would accept a TOML date (a Date subclass) as an empty table.
  return proto === Object.prototype || proto === null;
}

function table<S extends z.core.$ZodLooseShape>(shape: S) {
  return z.pipe(z.unknown().check(z.refine(isTable, { message: 'expected a table', abort: true })), z.strictObject(shape));
}

/** A transform's own problem, reported like any check's (zod/mini's transforms get the parse payload). */
function fail(ctx: z.core.ParsePayload, message: string, path: PropertyKey[] = []): never {
  ctx.issues.push({ code: 'custom', message, input: ctx.value, path });
  return z.NEVER;
}

const text = z.string().check(
  z.minLength(1),
  z.refine((s) => !s.includes('\0'), 'must not contain a NUL character'),
);

/** `stall_timeout = "60s"`, in milliseconds. */
const stallTimeout = z.pipe(
  z.unknown(),
  z.transform((value, ctx) => {
    const ms = typeof value === 'string' ? parseStallTimeout(value) : undefined;
    // A bare number is refused too: seconds or minutes? The unit says.
    if (ms === undefined)
      return fail(
        ctx,
        `must be a string of ${STALL_TIMEOUT_RULE} (default "${formatDuration(DEFAULT_STALL_TIMEOUT_MS)}"), not ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
      );
    return ms;
  }),
);
const patterns = z.array(text);

const route = z.pipe(
  z.optional(
    table({
      include_context: z.optional(patterns),
      exclude_context: z.optional(patterns),
      include_source: z.optional(patterns),
      exclude_source: z.optional(patterns),
    }),
  ),
  z.transform(
    (raw): Route => ({
      includeContext: raw?.include_context ?? [],
      excludeContext: raw?.exclude_context ?? [],
      includeSource: raw?.include_source ?? [],
      excludeSource: raw?.exclude_source ?? [],
    }),
  ),
);

const node = z.pipe(
  z.optional(
    table({
      // The name other nodes file this one under and write in their sync notes; they refuse any other form.
      name: z.optional(text.check(z.regex(NODE_NAME, NODE_NAME_RULE))),
      db: z.optional(text.check(z.refine(isAnchoredPath, 'must be an absolute path or start with "~/"'))),
      naive_timestamps: z.optional(z.enum(['utc', 'local'])),
      sync_note: z.optional(z.boolean()),
      dedupe: z.optional(z.enum(['timestamp-index', 'unique-index'])),
      stall_timeout: z.optional(stallTimeout),
      local_contexts: z.optional(patterns),
      on_replaced: z.optional(z.enum(['ask', 'continue', 'refill'])),
      agent_upload: z.optional(z.boolean()),
    }),
  ),
  z.transform(
    (raw): NodeConfig => ({
      name: raw?.name,
      db: raw?.db === undefined ? undefined : expandHome(raw.db),
      naiveTimestamps: raw?.naive_timestamps ?? 'utc',
      syncNote: raw?.sync_note ?? true,
      dedupe: raw?.dedupe ?? 'timestamp-index',
      onReplaced: raw?.on_replaced ?? 'ask',
      ...(raw?.stall_timeout === undefined ? {} : { stallTimeoutMs: raw.stall_timeout }),
      ...(raw?.local_contexts === undefined ? {} : { localContexts: raw.local_contexts }),
      ...(raw?.agent_upload === undefined ? {} : { agentUpload: raw.agent_upload }),
    }),
  ),
);

const peerUrl = z.pipe(
  z.string(),
  z.transform((url, ctx) => {
    let location: PeerLocation;
    try {
      location = parsePeerUrl(url);
    } catch (error) {
      return fail(ctx, error instanceof Error ? error.message : String(error));
    }
    // Relative to what? The cwd of whoever runs sync later is never what the author meant.
    if (location.kind === 'local' && !isAnchoredPath(url) && !/^file:(\/\/[^/]*)?\//i.test(url))
      return fail(ctx, 'a local path in the config file must be absolute or start with "~/"');
    return { url, location };
  }),
);

/** `url = "…"`, or `url = ["…", "…"]`: addresses tried in order, each with the connect timeout. */
const peerUrls = z.pipe(
  z.unknown(),
  z.transform((value, ctx): PeerAddress[] => {
    const urls = Array.isArray(value) ? (value as unknown[]) : [value];
    if (value === undefined || urls.length === 0) return fail(ctx, value === undefined ? 'is required' : 'must name at least one URL');
    const addresses: PeerAddress[] = [];
    for (const [index, url] of urls.entries()) {
      const parsed = peerUrl.safeParse(url, {
        error: () => (Array.isArray(value) ? 'expected a string' : 'expected a string or an array of strings'),
      });
      if (!parsed.success) {
        for (const issue of parsed.error.issues) fail(ctx, issue.message, Array.isArray(value) ? [index] : []);
        return z.NEVER;
      }
      addresses.push(parsed.data);
    }
    return addresses;
  }),
);

/** A file ssh reads: ssh expands %, ${ and splits on quotes in these options, so those are refused. */
const sshFile = text.check(
  z.refine(isAnchoredPath, 'must be an absolute path or start with "~/"'),
  z.refine((s) => !/[%$"\x00-\x1f\x7f]/.test(s), 'must not contain %, $, " or control characters (ssh would expand them)'),
);

const peer = table({
  url: peerUrls,
  identity_file: z.optional(sshFile),
  known_hosts_file: z.optional(sshFile),
  host_key_alias: z.optional(text.check(z.regex(NODE_NAME, `must be a host name: ${NODE_NAME_RULE}`))),
  mode: z.optional(z.enum(['auto', 'agent', 'sqlite3'])),
  remote_command: z.optional(text),
  sqlite3_command: z.optional(text),
  agent_upload: z.optional(z.boolean()),
  enabled: z.optional(z.boolean()),
  stall_timeout: z.optional(stallTimeout),
  local_contexts: z.optional(patterns),
  push: route,
  pull: route,
}).check(
  z.refine(
    (p) =>
      p.url.every((address) => address.location.kind === 'ssh') ||
      (p.identity_file ?? p.known_hosts_file ?? p.host_key_alias) === undefined,
    {
      message: 'identity_file, known_hosts_file and host_key_alias are for ssh peers only',
      path: ['url'],
    },
  ),
  z.refine((p) => !(p.mode === 'sqlite3' && p.remote_command !== undefined), {
    message: 'remote_command names the agent only; in mode "sqlite3" name the remote sqlite3 with sqlite3_command',
    path: ['remote_command'],
  }),
);

const peers = z.optional(
  z.pipe(
    z.unknown().check(z.refine(isTable, { message: 'expected a table', abort: true })),
    z.record(z.string().check(z.regex(NODE_NAME)), peer),
  ),
);

/** Both routes with the device-local list in force for the peer (its own, the node's, else the default). */
export function withLocalContexts(push: Route, pull: Route, localContexts: string[] | undefined): { push: Route; pull: Route } {
  return localContexts === undefined ? { push, pull } : { push: { ...push, localContexts }, pull: { ...pull, localContexts } };
}

const configSchema = z.pipe(
  table({ node, peers }),
  z.transform(
    (raw): Config => ({
      node: raw.node,
      peers: Object.entries(raw.peers ?? {}).map(([name, p]) => ({
        name,
        ...addressesOf(p.url.map((address) => ({ ...address, location: withSshOptions(address.location, p) }))),
        mode: p.mode ?? 'auto',
        remoteCommand: p.remote_command,
        ...(p.sqlite3_command === undefined ? {} : { sqlite3Command: p.sqlite3_command }),
        ...(p.agent_upload === undefined ? {} : { agentUpload: p.agent_upload }),
        enabled: p.enabled ?? true,
        ...withLocalContexts(p.push, p.pull, p.local_contexts ?? raw.node.localContexts),
        ...(p.stall_timeout === undefined ? {} : { stallTimeoutMs: p.stall_timeout }),
        ...(p.local_contexts === undefined ? {} : { localContexts: p.local_contexts }),
        ...(p.identity_file === undefined ? {} : { identityFile: p.identity_file }),
        ...(p.known_hosts_file === undefined ? {} : { knownHostsFile: p.known_hosts_file }),
        ...(p.host_key_alias === undefined ? {} : { hostKeyAlias: p.host_key_alias }),
      })),
    }),
  ),
);

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
  const result = configSchema.safeParse(raw, { error: messageFor });
  if (result.success) return result.data;
  // A misspelt key also makes the real one look missing; the unknown key is the useful report.
  const issues = result.error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  if (issue === undefined) throw new SyncError('CONFIG_INVALID', `${source}: invalid configuration`);
  const where = formatKeyPath(issue.path);
  throw new SyncError('CONFIG_INVALID', `${source}: ${where === '' ? '' : `${where}: `}${issue.message}`);
}

const TYPE_NAMES: Partial<Record<string, string>> = { string: 'a string', boolean: 'true or false', array: 'an array' };

/** Messages for zod's built-in checks; messages given in the schema itself take precedence. */
function messageFor(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return `expected ${alternatives(issue.values.map((v) => JSON.stringify(v)))}`;
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => JSON.stringify(k));
      return issue.path?.length
        ? `unknown key${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`
        : `unknown top-level key ${keys.join(', ')}`;
    }
    case 'invalid_key':
      return `invalid peer name; ${PEER_NAME_RULE}`;
    case 'too_small':
      return 'must not be empty';
    default:
      return undefined;
  }
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
