/**
 * Typed errors. Every failure a user can cause or meet has a stable `code` (for scripts and logs), a
 * one-line human `message` that says what happened and what to do, and an exit code family the CLI
 * maps it to. The cause is kept for `--verbose`.
 */

/** Exit codes, documented in the README and in `--help`. Stable: scripts and cron wrappers rely on them. */
export const ExitCode = {
  ok: 0,
  /** verify found differences (like diff(1)); reserved for `verify`. */
  differences: 1,
  usage: 2,
  config: 3,
  database: 4,
  locked: 5,
  unreachable: 6,
  remote: 7,
  partial: 8,
  /** no scheduler: crontab missing or refused (schedule, doctor). */
  scheduler: 9,
  /** this node's database was replaced (rotation script, wipe, restore, file copier): a person must choose. */
  replaced: 10,
  interrupted: 130,
  internal: 70,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Stable error codes, grouped by the exit code they map to. */
const codeToExit = {
  USAGE: ExitCode.usage,
  /** A `pair` token that is damaged, of another version, or holds a value that could reach ssh or a shell unsafely. */
  PAIR_TOKEN_INVALID: ExitCode.usage,
  CONFIG_INVALID: ExitCode.config,
  CONFIG_UNREADABLE: ExitCode.config,
  PEER_UNKNOWN: ExitCode.config,
  PEER_EXISTS: ExitCode.config,
  PEER_URL_INVALID: ExitCode.config,
  NO_DATABASE: ExitCode.config,
  DB_NOT_FOUND: ExitCode.database,
  DB_NOT_SQLITE: ExitCode.database,
  DB_NO_NOTES_TABLE: ExitCode.database,
  DB_NOT_INITIALIZED: ExitCode.database,
  DB_READ_ONLY: ExitCode.database,
  DB_UNSUPPORTED_SCHEMA: ExitCode.database,
  DB_CORRUPT: ExitCode.database,
  DB_ERROR: ExitCode.database,
  SAME_DATABASE: ExitCode.database,
  NODE_ID_CONFLICT: ExitCode.database,
  DEDUPE_INDEX_BLOCKED: ExitCode.database,
  DB_BUSY: ExitCode.locked,
  SYNC_RUNNING: ExitCode.locked,
  PEER_UNREACHABLE: ExitCode.unreachable,
  /** An ssh connection that worked broke mid-sync (committed batches are kept; the next run resumes). */
  CONNECTION_LOST: ExitCode.unreachable,
  /**
   * The remote stopped making progress mid-sync (no bytes for the stall timeout while we waited on it:
   * say, Android froze Termux while sshd still answered); the connection was cut, committed batches kept.
   */
  PEER_STALLED: ExitCode.unreachable,
  PROTOCOL_ERROR: ExitCode.remote,
  /** The two ends speak different agent protocol versions; the message says which side to upgrade. */
  PROTOCOL_VERSION: ExitCode.remote,
  REMOTE_ERROR: ExitCode.remote,
  /** ssh could not log in (key not authorized, or a password would be needed in batch mode). */
  AUTH_FAILED: ExitCode.remote,
  /** The host presented a key other than the one in known_hosts: possibly an attack; never auto-accepted. */
  HOST_KEY_CHANGED: ExitCode.remote,
  /** The host's key is not in known_hosts; batch mode never accepts it unseen. */
  HOST_KEY_UNKNOWN: ExitCode.remote,
  /** ssh worked but resonance-sync is not installed (or not on the PATH) on the remote. */
  AGENT_MISSING: ExitCode.remote,
  /**
   * The ssh key is restricted to the agent (an authorized_keys forced command, as `authorize` prints)
   * and the peer is synced agentless (mode "sqlite3"), which needs a shell: the peer needs mode agent or auto.
   */
  KEY_RESTRICTED: ExitCode.remote,
  /** The remote serves only one database (authorized_keys forced command) and the peer URL names another. */
  DB_NOT_ALLOWED: ExitCode.remote,
  /** The remote serves its database read-only (`serve --read-only`) and this sync tried to write to it. */
  REMOTE_READ_ONLY: ExitCode.remote,
  NO_SCHEDULER: ExitCode.scheduler,
  /**
   * The database at this node's path is not the one it synced last (a new file from a schema, a wipe,
   * an older copy): nothing is synced until `adopt --continue` or `adopt --refill`, or `on_replaced` says.
   */
  DATABASE_REPLACED: ExitCode.replaced,
  /** The database was overwritten by a copy of another node's database: a file copier is running. */
  DATABASE_OVERWRITTEN: ExitCode.replaced,
  INTERRUPTED: ExitCode.interrupted,
  INTERNAL: ExitCode.internal,
} as const satisfies Record<string, ExitCodeValue>;

export type ErrorCode = keyof typeof codeToExit;

export class SyncError extends Error {
  readonly code: ErrorCode;
  override readonly name = 'SyncError';

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get exitCode(): ExitCodeValue {
    return codeToExit[this.code];
  }
}

export function isSyncError(error: unknown): error is SyncError {
  return error instanceof SyncError;
}

/** Wraps anything thrown into a SyncError, keeping it as the cause; SyncErrors pass through unchanged. */
export function asSyncError(error: unknown, fallback: ErrorCode = 'INTERNAL'): SyncError {
  if (error instanceof SyncError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SyncError(fallback, message, { cause: error });
}

export function exitCodeOf(code: ErrorCode): ExitCodeValue {
  return codeToExit[code];
}

/** True for the codes this version knows; a newer remote may send one we do not. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(codeToExit, code);
}
