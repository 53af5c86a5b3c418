/**
 * The JSON contract: what each command prints with `--json`, and what the library functions return.
 * These types are the public, stable shapes (README "JSON contract" has one table per command). They
 * are written out here on purpose, not re-exported from the engine, so that the published
 * declarations depend on nothing else; test/unit/api-contract.test.ts fails when an internal type
 * and its contract drift apart.
 */

/** A node as it names itself: its random id (UUID) and its human name. */
export interface NodeRef {
  id: string;
  name: string;
}

/** How a peer was reached. */
export type Transport = 'local file' | 'ssh agent' | 'ssh sqlite3';

/** A failure: the stable code (README "Exit codes") and the one-line message saying what to do. */
export interface ErrorJson {
  code: string;
  message: string;
}

/** Why a receiving table refused entries: the NOT NULL column they would leave NULL (null: another constraint). */
export interface RefusalReport {
  column: string | null;
  count: number;
}

/** One direction of one peer's sync (`sync --json` → peers[].directions[]). */
export interface DirectionReport {
  direction: 'pull' | 'push';
  from: NodeRef;
  to: NodeRef;
  /** The route in words, e.g. "context in [maternal*]" or "everything". */
  route: string;
  /** Entries the sender let through its route and echo rules. */
  sent: number;
  /** Entries the receiver stored (in a dry run: would store). */
  received: number;
  /** Entries the receiver already held, byte for byte. */
  duplicates: number;
  /** Entries the receiver's own schema refused (e.g. NULL source into NOT NULL). */
  rejected: number;
  /** Why they were refused, by reason; empty when none were. */
  refusals: RefusalReport[];
  /** Dry run only: entries the route let through that stayed home as device-local; null otherwise. */
  keptHome: number | null;
  batches: number;
  bytes: number;
  /** The sender's feed was read again from the start (one side was replaced or restored). */
  rewound: boolean;
  /** The newest received entry's timestamp, as written; null when nothing arrived. */
  newestTimestamp: string | null;
}

/** One peer's outcome (`sync --json` → peers[]). */
export interface PeerSyncReport {
  peer: string;
  url: string;
  /** null when the peer could not be reached. */
  transport: Transport | null;
  ok: boolean;
  error: ErrorJson | null;
  local: NodeRef | null;
  remote: NodeRef | null;
  directions: DirectionReport[];
  /** Which agent answered (transport "ssh agent"); null for other transports or when unreachable. */
  agent: AgentReport | null;
  /** Why the auto mode fell back to agentless (or another one-line remark on reaching the peer); null if none. */
  notice: string | null;
}

/** The remote agent of one sync (`sync --json` → peers[].agent). */
export interface AgentReport {
  /** `uploaded` (this installation's single file, in the remote's cache), `installed` (resonance-sync on the remote PATH), `configured` (remote_command), or `forced command` (authorized_keys). */
  source: 'uploaded' | 'installed' | 'configured' | 'forced command';
  /** Remote path of the agent (the command for `configured`); null for a forced command. */
  path: string | null;
  /** The agent's version, as it announced itself. */
  version: string | null;
  /** Bytes of the agent uploaded in this sync (0 when the remote's cache had it). */
  uploadedBytes: number;
}

/** `sync --json`, and what `syncPeers()` resolves to. */
export interface SyncReport {
  dryRun: boolean;
  /** Every peer synced. */
  ok: boolean;
  peers: PeerSyncReport[];
}

/** One run of one direction, as `status` shows it (`status --json` → peers[].lastRuns[]). */
export interface RunReport {
  direction: string;
  /** running (cut off), ok, failed, skipped or dry-run. */
  status: string;
  startedAt: string;
  finishedAt: string | null;
  received: number;
  sent: number;
  duplicates: number;
  error: string | null;
}

/** One configured peer (`status --json` → peers[]). */
export interface PeerStatusReport {
  name: string;
  /** The first address. */
  url: string;
  /** Every address the peer is tried at, in order (LAN, hotspot, tailnet…); just `url` for one. */
  urls: string[];
  /** The address that answered the last sync and when it did; null before the first. */
  reached: { url: string; at: string } | null;
  /**
   * How the last sync from this machine reached the peer: `transport` ("local file", "ssh agent",
   * "ssh sqlite3") and, for the agent, which one answered (`source`: configured, installed, uploaded,
   * forced command) with its remote path and version; null before the first sync.
   */
  contact: {
    peer: string;
    transport: string;
    agent: { source: string; path: string | null; version: string | null } | null;
    at: string;
  } | null;
  enabled: boolean;
  /** The users' sync_tracking row for this peer, or null before the first sync. */
  tracking: { lastSyncTimestamp: string; lastSyncSuccess: boolean | null; syncCount: number } | null;
  lastRuns: RunReport[];
  totals: { received: number; sent: number };
  /** Entries waiting each way; null when not known without connecting (pull from an ssh peer). */
  pending: { push: number | null; pull: number | null };
  /** Per direction: entries the receiving table refused so far, why, and the fix for each reason. */
  refused: { push: RefusedReport; pull: RefusedReport };
  /** Per direction: the device-local context patterns kept home, and how many entries they keep (null: not known without connecting). */
  deviceLocal: { push: KeptHomeReport; pull: KeptHomeReport };
}

/** Refused entries of one direction, over the whole history (`status --json` → peers[].refused.push|pull). */
export interface RefusedReport {
  entries: number;
  refusals: RefusalReport[];
  /** When the last run with refusals finished; null if none had. */
  lastAt: string | null;
  /** One fix per reason, in the order of `refusals`. */
  fixes: string[];
}

/** Device-local contexts of one direction (`status --json` → peers[].deviceLocal.push|pull). */
export interface KeptHomeReport {
  patterns: string[];
  entries: number | null;
}

/** `status --json`, and what `status()` resolves to. */
export interface StatusReport {
  db: string;
  node: NodeRef;
  entries: number;
  receivedEntries: number;
  /** "timestamp-index" or "unique-index". */
  dedupe: string;
  peers: PeerStatusReport[];
}

/** One direction of a comparison (`verify --json` → directions[]). */
export interface VerifyDirectionReport {
  direction: 'push' | 'pull';
  from: NodeRef;
  to: NodeRef;
  /** Entries the sender holds within the route that the receiver lacks. */
  missing: number;
  /** With repair: entries sent. */
  repaired: number;
  /** With repair: entries the receiver's schema refused. */
  rejected: number;
}

/** `verify --json`, and what `verify()` resolves to. */
export interface VerifyReport {
  local: NodeRef;
  remote: NodeRef;
  bucketsCompared: number;
  bucketsDiffering: number;
  /** Digest bytes exchanged: what the comparison cost. */
  bytesExchanged: number;
  directions: VerifyDirectionReport[];
  /** Only after a repair: whether a second comparison found both sides equal. */
  equalAfterRepair?: boolean;
}

/** One line of `doctor` (`doctor --json` → checks[]). */
export interface CheckReport {
  /** e.g. "config", "sqlite binding", "database", "ssh", "clock skew", "schedule". */
  check: string;
  peer?: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  /** The fix, for warnings and failures. */
  hint?: string;
  /** For failures: the stable error code and the exit code it maps to. */
  code?: string;
  exitCode?: number;
}

/** `doctor --json`. */
export interface DoctorReport {
  /** Nothing failed (warnings allowed). */
  ok: boolean;
  checks: CheckReport[];
}

/** One row of `log --json` (an array, newest first). */
export interface LogEntry {
  id: number;
  startedAt: string;
  finishedAt: string | null;
  peer: string;
  /** pull, push, or connect (a peer that could not be reached). */
  direction: string;
  status: string;
  received: number;
  sent: number;
  duplicates: number;
  /** Entries the receiving table refused in this run, and why (the message says the fix). */
  rejected: number;
  refusals: RefusalReport[];
  batches: number;
  errorCode: string | null;
  message: string | null;
}

/** A route: GLOB patterns on context and source. */
export interface RouteJson {
  includeContext: string[];
  excludeContext: string[];
  includeSource: string[];
  excludeSource: string[];
  /** Device-local context patterns kept home unless named; absent: the built-in list. */
  localContexts?: string[];
}

/** One element of `peer list --json` (an array). */
export interface PeerListEntry {
  name: string;
  /** The first address. */
  url: string;
  /** Every address, in the order they are tried. */
  urls: string[];
  mode: 'auto' | 'agent' | 'sqlite3';
  enabled: boolean;
  push: RouteJson;
  pull: RouteJson;
}

/** A progress event during `syncPeers()` (the CLI draws its progress bars from the same events). */
export interface SyncProgress {
  peer: string;
  direction: 'pull' | 'push';
  sent: number;
  received: number;
  duplicates: number;
  bytes: number;
  /** Upper bound of entries still to scan. */
  remainingRowids: number;
}

/** `init --json`. */
export interface InitReport {
  db: string;
  /** The config file the node was recorded in. */
  config: string;
  /** What this run changed (empty: already prepared). */
  changes: string[];
  nodeId: string;
  nodeName: string;
  dedupe: 'timestamp-index' | 'unique-index';
  /** Entries present more than once before resonance-sync came: reported, never deleted. */
  duplicates: { groups: number; extraRows: number };
}

/** `schedule status --json`. */
export interface ScheduleStatusReport {
  configPath: string;
  installed: boolean;
  /** e.g. "2h"; null when not installed. */
  every: string | null;
  /** The cron expression; null when not installed. */
  expression: string | null;
  logPath: string | null;
  /** The crontab line; null when not installed. */
  line: string | null;
  /** Paths the entry runs that no longer exist. */
  missing: string[];
  /** null when this system cannot tell. */
  cronDaemonRunning: boolean | null;
  /** Entries for other config files. */
  otherConfigs: string[];
  /** What runs the entry: "cron", "cronie" (under termux-services) or "termux-job-scheduler". */
  scheduler: 'cron' | 'cronie' | 'termux-job-scheduler';
  /** Whether that scheduler is really running it; null when it cannot be told. */
  schedulerRunning: boolean | null;
  /** What the scheduler said (`sv status crond`, the pending job), or "". */
  schedulerDetail: string;
}

/** `demo --json`. */
export interface DemoReport {
  /** Where the demo's two databases and config live. */
  dir: string;
  firstRun: boolean;
  /** The demo node's status, as `status --json`. */
  status: StatusReport;
  /** What the demo node received, each with its origin's name. */
  received: Array<{ content: string; context: string; origin: string }>;
}
