/**
 * The one remote command of an agentless session, and its ssh argv. The remote login shell runs
 * `sh -c '<script>'`; the script checks for sqlite3 and the database, makes a private temporary
 * directory (removed by an EXIT trap, also after a failure or a lost connection), announces itself
 * with a HELLO line (so a chatty shell rc file printing banners cannot be mistaken for data), and
 * then runs ONE `sqlite3` reading requests from our stdin until we close it.
 *
 * One session per sync rather than one ssh call per request: every ssh session, multiplexed or not,
 * starts the remote login shell and its rc files (measured 0.75 s per call here with
 * ControlMaster), while a request on a live session costs one network round trip.
 *
 * The script is a single line: tcsh cannot hold newlines inside single quotes. The only value in it
 * that is not ours, the database path, is single-quoted; the sqlite3 command (peer remote_command)
 * is the user's own trusted text, like the agent mode's remote_command.
 */
import { SyncError } from '../../core/errors.js';
import { remoteServeCommand, shellQuote, sshArgv, type SshLocation } from '../ssh/ssh-command.js';

/** First word of the HELLO line the script prints before starting sqlite3. */
export const HELLO_WORD = 'RESONANCE-SYNC-SQLITE3';
/** Bumped when the script and the client stop understanding each other. */
export const SCRIPT_VERSION = 1;
/** Prefix of the script's own failure lines on stderr: `resonance-sync-remote: CODE`. */
export const FAILURE_PREFIX = 'resonance-sync-remote:';
/** Names inside the remote temporary directory (never user input). */
export const LOCK_LINK = 'lock';
/** The oldest sqlite3 CLI with everything used here (-json output, sqlite_schema, window functions). */
export const MIN_SQLITE_VERSION: readonly [number, number, number] = [3, 33, 0];

export type ScriptFailure = 'SQLITE3_MISSING' | 'DB_NOT_FOUND' | 'DB_SYMLINK_LOOP' | 'DB_IS_DIRECTORY' | 'TMPDIR_FAILED';

/** Symlinks the kernel follows before it gives up with ELOOP (Linux, Android; the BSDs allow 32). */
const MAX_SYMLINKS = 40;

/** `"$HOME"/'rel'` or `'/abs'`: the database path as the remote shell must see it. */
export function remoteDbWord(location: SshLocation): string {
  return location.homeRelative ? `"$HOME"/${shellQuote(location.path)}` : shellQuote(location.path);
}

export function bootstrapScript(location: SshLocation, sqlite3Command: string | undefined): string {
  const fail = (code: ScriptFailure, status: number) => `{ printf '%s\\n' '${FAILURE_PREFIX} ${code}' >&2; exit ${status}; }`;
  const lines = [
    `sq() { ${sqlite3Command ?? 'sqlite3'} "$@"; }`,
    `v=$(sq --version 2>/dev/null) || ${fail('SQLITE3_MISSING', 127)}`,
    `db=${remoteDbWord(location)}`,
    // Missing, or a symlink loop (which test -e cannot tell apart): chase the links, as the kernel
    // would, and call it a loop when they go on past its limit.
    `if [ ! -e "$db" ]; then l="$db"; n=0; while [ -L "$l" ] && [ $n -le ${MAX_SYMLINKS} ]; do t=$(readlink "$l" 2>/dev/null) || break; ` +
      `case $t in /*) l=$t;; *) l="\${l%/*}/$t";; esac; n=$((n + 1)); done; ` +
      `[ $n -le ${MAX_SYMLINKS} ] || ${fail('DB_SYMLINK_LOOP', 66)}; ${fail('DB_NOT_FOUND', 66)}; fi`,
    `[ ! -d "$db" ] || ${fail('DB_IS_DIRECTORY', 66)}`,
    // The physical directory, so the location we report and the lock file are the real ones (cd -P
    // sets PWD to it; no subshell: every process the script starts is paid before the HELLO line).
    `cd -P "\${db%/*}/" || ${fail('DB_NOT_FOUND', 66)}`,
    'dir=$PWD',
    `db="\${dir%/}/\${db##*/}"`,
    `d=$(mktemp -d "\${TMPDIR:-/tmp}/resonance-sync.XXXXXX" 2>/dev/null) || d=$(mktemp -d "$HOME/.resonance-sync.XXXXXX") || ${fail('TMPDIR_FAILED', 73)}`,
    // Signals become exits so the EXIT trap runs for them too. PIPE: a client that went away before
    // the HELLO line (a timeout, a flood of banner) would otherwise kill the shell at that printf.
    `trap 'cd /; rm -rf "$d"' EXIT`,
    `trap 'exit 129' HUP`,
    `trap 'exit 130' INT`,
    `trap 'exit 141' PIPE`,
    `trap 'exit 143' TERM`,
    `cd "$d" || exit 73`,
    // The same lock file the agent and local syncs take (store/lock.ts), reached by a fixed name
    // so that no path ever has to be spliced into SQL.
    `ln -s "$db-sync.lock" ${LOCK_LINK}`,
    `printf '\\n%s %s %s\\n' ${HELLO_WORD} ${SCRIPT_VERSION} "\${v%% *}"`,
    // Not exec: the EXIT trap must run after sqlite3 ends. -init /dev/null: a ~/.sqliterc must not
    // change modes or print. -bail: stop at the first error, so no later statement (a COMMIT) runs.
    `sq -bail -batch -init /dev/null "$db"`,
  ];
  return lines.join('; ');
}

/** The full ssh argv: exactly the agent mode's options and checks, with this session's command. */
export function sqliteCliSshArgv(location: SshLocation, sqlite3Command: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const argv = sshArgv(location, { remoteCommand: undefined, env });
  // ssh takes the remote command as its last argument, after the host: replace only that, so the
  // options (BatchMode, ConnectTimeout, ServerAlive*, -T, host key checks) stay defined in one place.
  if (argv.at(-1) !== remoteServeCommand(location, undefined))
    throw new SyncError('INTERNAL', 'the ssh argv no longer ends with the remote command');
  argv[argv.length - 1] = `sh -c ${shellQuote(bootstrapScript(location, sqlite3Command))}`;
  return argv;
}

/** `3.40.1` → [3, 40, 1]; undefined when it is not a version. */
export function parseVersion(text: string): [number, number, number] | undefined {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
}

export function checkSqliteVersion(text: string, where: string): void {
  const version = parseVersion(text);
  if (!version) throw new SyncError('PROTOCOL_ERROR', `${where}: could not read the sqlite3 version (${JSON.stringify(text)})`);
  const [a, b, c] = version;
  const [x, y, z] = MIN_SQLITE_VERSION;
  if (a < x || (a === x && (b < y || (b === y && c < z)))) {
    throw new SyncError(
      'PROTOCOL_VERSION',
      `the sqlite3 on ${where} is version ${version.join('.')}, too old for agentless sync (needs ${MIN_SQLITE_VERSION.join('.')} or newer): upgrade it there (Termux: pkg upgrade sqlite), or install resonance-sync there and use mode = "agent"`,
    );
  }
}
