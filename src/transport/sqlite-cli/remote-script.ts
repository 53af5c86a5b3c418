/**
 * The one remote command of an agentless session, and its ssh argv. The remote login shell runs
 * `sh -c '<script>'`; the script checks the database, finds a writable temporary directory, reads the
 * session's name (the first line we send), announces itself with a HELLO line (so a chatty shell rc
 * file printing banners cannot be mistaken for data), and then runs ONE `sqlite3` reading requests
 * from our stdin until we close it. sqlite3's first output is its version (session.ts asks for it).
 *
 * One session per sync rather than one ssh call per request: every ssh session, multiplexed or not,
 * starts the remote login shell and its rc files (measured 0.75 s per call here with
 * ControlMaster), while a request on a live session costs one network round trip.
 *
 * Before its HELLO line the script starts no process at all (only shell built-ins): each one costs the
 * remote a fork and an exec, about 5–12 ms here and more on a phone, and a sync waits for every one.
 * So sqlite3 reports its own version (no `sqlite3 --version`), takes the sync lock by the path it
 * opened (no symlink to it), and makes the session's private directory itself, at the first download
 * (no `mktemp`); a sync that downloads nothing leaves nothing to remove (no `rm` at its end).
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
export const SCRIPT_VERSION = 2;
/** First word of the line sqlite3 prints first: its version (sqlite_version()) follows. */
export const VERSION_WORD = 'RESONANCE-SYNC-SQLITE3-VERSION';
/** Prefix of the script's own failure lines on stderr: `resonance-sync-remote: CODE`. */
export const FAILURE_PREFIX = 'resonance-sync-remote:';
/**
 * The session's private directory, in the remote's temporary directory (the remote's working
 * directory): its name ends with the session's id, 32 random hex digits sent on stdin (never in the
 * command line, where another user's `ps` would see it), so nobody can make it first. sqlite3 makes it
 * (mode 0700) before the session's first download; the script's EXIT trap removes it if it exists.
 */
const SESSION_DIR_PREFIX = '.resonance-sync.';
export const sessionDir = (id: string): string => `${SESSION_DIR_PREFIX}${id}`;
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
    `db=${remoteDbWord(location)}`,
    // Missing, or a symlink loop (which test -e cannot tell apart): chase the links, as the kernel
    // would, and call it a loop when they go on past its limit.
    `if [ ! -e "$db" ]; then l="$db"; n=0; while [ -L "$l" ] && [ $n -le ${MAX_SYMLINKS} ]; do t=$(readlink "$l" 2>/dev/null) || break; ` +
      `case $t in /*) l=$t;; *) l="\${l%/*}/$t";; esac; n=$((n + 1)); done; ` +
      `[ $n -le ${MAX_SYMLINKS} ] || ${fail('DB_SYMLINK_LOOP', 66)}; ${fail('DB_NOT_FOUND', 66)}; fi`,
    `[ ! -d "$db" ] || ${fail('DB_IS_DIRECTORY', 66)}`,
    // The physical directory, so the location we report and the lock file are the real ones (cd -P
    // sets PWD to it; no subshell).
    `cd -P "\${db%/*}/" || ${fail('DB_NOT_FOUND', 66)}`,
    'dir=$PWD',
    `db="\${dir%/}/\${db##*/}"`,
    // sqlite3 runs in the temporary directory ($TMPDIR, else /tmp, else $HOME), where it makes the
    // session's directory when it first needs it; test -w stands in for mktemp's trial.
    `tmp=\${TMPDIR:-/tmp}; { [ -d "$tmp" ] && [ -w "$tmp" ]; } || tmp=$HOME; { [ -n "$tmp" ] && cd "$tmp" 2>/dev/null && [ -w . ]; } || ${fail('TMPDIR_FAILED', 73)}`,
    // Signals become exits so the EXIT trap runs for them too. PIPE: a client that went away before
    // the HELLO line (a timeout, a flood of banner) would otherwise kill the shell at that printf.
    `trap 'exit 129' HUP`,
    `trap 'exit 130' INT`,
    `trap 'exit 141' PIPE`,
    `trap 'exit 143' TERM`,
    // The session's id, our first line (read byte by byte: sqlite3 reads the rest).
    'IFS= read -r n || exit 65',
    `case $n in *[!0-9a-f]*|'') exit 65;; esac`,
    `d=${SESSION_DIR_PREFIX}$n`,
    `trap '[ ! -e "$d" ] || rm -rf "$d"' EXIT`,
    `printf '\\n%s %s\\n' ${HELLO_WORD} ${SCRIPT_VERSION}`,
    // Not exec: the EXIT trap must run after sqlite3 ends. -init /dev/null: a ~/.sqliterc must not
    // change modes or print. -bail: stop at the first error, so no later statement (a COMMIT) runs.
    // 127 is the shell's "command not found" (or a loader's missing library): no usable sqlite3.
    'sq -bail -batch -init /dev/null "$db"',
    `s=$?; [ $s -ne 127 ] || ${fail('SQLITE3_MISSING', 127)}; exit $s`,
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
