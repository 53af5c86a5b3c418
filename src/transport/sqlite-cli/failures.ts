/**
 * Why an agentless session ended, as one typed error: ssh's own failures (sshFailure, shared with the
 * agent mode), the remote script's checks (its `resonance-sync-remote: CODE` lines), and sqlite3's
 * errors, which `-bail` turns into the end of the session. Each message names the host and says what
 * to do; stderr noise from shell rc files is passed over.
 */
import { SyncError } from '../../core/errors.js';
import { directoryError, symlinkLoopError } from '../../store/database-path.js';
import { destinationOf, sshFailure, telltaleLine, type SshLocation, type SshOutcome } from '../ssh/ssh-command.js';
import { FAILURE_PREFIX, type ScriptFailure } from './remote-script.js';

export interface SessionContext {
  location: SshLocation;
  sqlite3Command: string | undefined;
  /** Whether the HELLO line arrived: after it, a cut connection is a lost connection. */
  started: boolean;
  /** First line printed on stdout before the HELLO line, quoted and escaped (core/excerpt.ts); '' if nothing. */
  junk: string;
  /** What the request in flight was doing, for messages ("reading new entries"). */
  action: string;
  /** The request in flight was taking the sync lock, so "locked" means another sync runs. */
  locking: boolean;
}

/** `~/x.sqlite3 on user@host:port`, as the user wrote the peer. */
export function describeRemoteDb(location: SshLocation): string {
  return `${location.homeRelative ? `~/${location.path}` : location.path} on ${destinationOf(location)}`;
}

function scriptFailure(stderr: string): ScriptFailure | undefined {
  const escaped = FAILURE_PREFIX.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} ([A-Z0-9_]+)$`, 'm').exec(stderr);
  return match ? (match[1] as ScriptFailure) : undefined;
}

/** sqlite3's own error line, e.g. "Runtime error near line 7: database is locked (5)". */
export function sqliteErrorLine(stderr: string): string | undefined {
  const lines = stderr.split(/\r?\n/);
  const line = lines.find((l) => /^(Parse error|Runtime error|Error)\b.*?: /.test(l));
  return line?.replace(/^(Parse error|Runtime error|Error)( near line \d+)?: /, '').trim();
}

export function sessionFailure(outcome: SshOutcome, context: SessionContext): SyncError {
  const where = destinationOf(context.location);
  const db = describeRemoteDb(context.location);
  if (outcome.spawnError || outcome.code === 255) {
    return sshFailure(outcome, {
      location: context.location,
      started: context.started,
      junk: context.junk,
      remoteCommand: context.sqlite3Command,
    });
  }
  switch (scriptFailure(outcome.stderr)) {
    case 'SQLITE3_MISSING':
      return new SyncError(
        'AGENT_MISSING',
        `${where} has no ${context.sqlite3Command === undefined ? 'sqlite3' : JSON.stringify(context.sqlite3Command)} for agentless sync: install it there (Termux: pkg install sqlite; Debian/Ubuntu: apt install sqlite3), or set remote_command for this peer to its full path (non-interactive ssh logins may have a shorter PATH)`,
      );
    case 'DB_NOT_FOUND':
      return new SyncError('DB_NOT_FOUND', `database not found: ${db} (check the peer URL; agentless sync never creates a database)`);
    case 'DB_SYMLINK_LOOP':
      return symlinkLoopError(db);
    case 'DB_IS_DIRECTORY':
      return directoryError(db);
    case 'TMPDIR_FAILED':
      return tmpdirFailure(where);
    case undefined:
      break;
  }
  const sqliteError = sqliteErrorLine(outcome.stderr);
  // sqlite3 making the session's directory (session.ts download()) in the one the script chose.
  if (sqliteError?.startsWith('failed to create directory: ')) return tmpdirFailure(where);
  if (sqliteError !== undefined) return sqliteFailure(sqliteError, db, context);
  if (!context.started) {
    if (context.junk !== '') {
      return new SyncError(
        'PROTOCOL_ERROR',
        `the remote shell on ${where} printed ${context.junk} and ended without starting agentless sync (check that shell startup files such as ~/.bashrc do not fail for non-interactive logins)`,
      );
    }
    const said = telltaleLine(outcome.stderr);
    return new SyncError('REMOTE_ERROR', `agentless sync could not start on ${where} (${said === '' ? exitText(outcome) : said})`);
  }
  // The session was running and ended without sqlite3 saying why: killed, or the connection cut.
  return new SyncError(
    'CONNECTION_LOST',
    `the connection to ${where} was lost mid-sync (${exitText(outcome)}) while ${context.action}; committed batches are kept and the next sync resumes after them`,
  );
}

/**
 * The remote answered with the agent's preamble where the script's HELLO line belongs: sshd ran a
 * forced command (`resonance-sync authorize` prints one) instead of our script, so this key can only
 * ever reach the agent, and agentless sync through it cannot work.
 */
export function agentInsteadOfScript(location: SshLocation): SyncError {
  return new SyncError(
    'KEY_RESTRICTED',
    `${destinationOf(location)} started the resonance-sync agent instead of agentless sync: this ssh key is restricted to the agent ` +
      `(a forced command in ~/.ssh/authorized_keys there); set mode = "agent" or "auto" for this peer, or use another key for agentless sync`,
  );
}

function tmpdirFailure(where: string): SyncError {
  return new SyncError(
    'REMOTE_ERROR',
    `${where} cannot create a temporary directory under $TMPDIR, /tmp or $HOME; check free space and permissions there`,
  );
}

function exitText(outcome: SshOutcome): string {
  return outcome.code === null ? `killed by ${outcome.signal ?? 'a signal'}` : `exit code ${outcome.code}`;
}

/** sqlite3's error, mapped like store/sqlite/open-database.ts databaseError maps a binding's. */
export function sqliteFailure(message: string, db: string, context: Pick<SessionContext, 'action' | 'locking'>): SyncError {
  const said = message.length > 200 ? `${message.slice(0, 200)}...` : message;
  if (/database is locked|database table is locked|\((5|6|261|262|517)\)$/.test(message)) {
    if (context.locking) return new SyncError('SYNC_RUNNING', `another resonance-sync is already syncing ${db}; wait for it to finish`);
    return new SyncError('DB_BUSY', `${db} stayed locked by another writer while ${context.action}; try again later`);
  }
  if (/file is not a database|\(26\)$/.test(message))
    return new SyncError('DB_NOT_SQLITE', `${db} is not a SQLite database; check the path`);
  if (/malformed|\(11\)$/.test(message))
    return new SyncError('DB_CORRUPT', `${db} is corrupt (${said}); restore it from a copy, nothing was synced`);
  if (/readonly|read-only|unable to open|\((8|14)\)$/.test(message)) {
    return new SyncError(
      'DB_READ_ONLY',
      `${db} cannot be written while ${context.action} (${said}); the file and its folder must be writable`,
    );
  }
  if (/disk is full|database or disk is full|\(13\)$/.test(message))
    return new SyncError('DB_ERROR', `disk full while ${context.action} on ${db}; nothing of the failed batch was kept`);
  return new SyncError('REMOTE_ERROR', `${context.action} on ${db} failed: ${said}`);
}
