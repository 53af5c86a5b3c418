/**
 * The remote half of the zero-install agent: one POSIX sh script, sent as the ssh command, that finds
 * or receives the agent and starts it, all within the one ssh connection the sync uses anyway. In order:
 *
 * 1. `resonance-sync` on the remote PATH (the user's own install) is exec'd as is, never touched.
 * 2. Otherwise Node ≥ 22.16 must be on PATH (node:sqlite is built in; the single file needs nothing else).
 * 3. The cached single file `$XDG_CACHE_HOME/resonance-sync/agent-<version>-<sha256>.mjs` (default
 *    ~/.cache) is hashed on every run (sha256sum, else Node's crypto); only a match is run. A file
 *    that fails is deleted, never run. Node's compile cache for it lives beside it (compile-cache/).
 * 4. Otherwise, if uploads are allowed, it announces `upload <bytes>`, skips the HELLO frame the client
 *    sent ahead (it was meant for the agent), reads exactly that many bytes from stdin into a private
 *    temp file (`head -c` reads no further), checks the hash, renames it into place, and runs it; the
 *    client then sends HELLO again. Nothing is asked of the remote but sh, head, mkdir, mv and node.
 *
 * What it has to say goes to stdout as lines `\0resonance-sync launcher <event> <detail>` before the
 * agent's own preamble (launcher-gate.ts reads them): `exec <installed|cached|uploaded> <path>`,
 * `upload <bytes>`, `ready <cached|uploaded> <path>` (install only), or `unavailable <reason> <detail>`
 * and exit. Every value we put into the script is single-quoted (shellQuote); the script itself is one
 * quoted word for the login shell, run by `sh -c` because that shell may be fish or zsh.
 */
import { shellQuote } from '../ssh/ssh-command.js';

export const LAUNCHER_MAGIC = '\0resonance-sync launcher ';
/** node:sqlite without a flag, and what the README promises a phone needs. */
export const MIN_NODE = { major: 22, minor: 16 };

export type LauncherAction = 'serve' | 'install' | 'status' | 'remove';

export interface LauncherOptions {
  action: LauncherAction;
  /** The agent's arguments after the program, e.g. serve --stdio --db PATH (quoted here). */
  serveArgs: readonly string[];
  /** Look for the user's own `resonance-sync` on PATH first. */
  useInstalled: boolean;
  /** May the single file be uploaded (agent_upload)? */
  upload: boolean;
  sha256: string;
  cacheName: string;
  size: number;
  /** Bytes of the HELLO frame the client sends ahead, skipped before an upload (0: none sent). */
  helloBytes: number;
}

/** Node's sha256 of a file, for remotes without sha256sum. */
const NODE_SHA256 =
  'process.stdout.write(require("crypto").createHash("sha256").update(require("fs").readFileSync(process.argv[1])).digest("hex"))';

export function launcherScript(o: LauncherOptions): string {
  const serve = o.serveArgs.map(shellQuote).join(' ');
  const lines = [
    `A=${shellQuote(o.action)} UP=${o.upload ? 1 : 0} INST=${o.useInstalled ? 1 : 0} HELLO=${o.helloBytes} SIZE=${o.size}`,
    `SHA=${shellQuote(o.sha256)} NAME=${shellQuote(o.cacheName)} JS=${shellQuote(NODE_SHA256)}`,
    `say() { printf '\\000resonance-sync launcher %s\\n' "$*"; }`,
    `fail() { say unavailable "$@"; exit 3; }`,
    // The user's own install wins, and is never replaced or removed.
    'p=""; if [ "$INST" = 1 ]; then p=$(command -v resonance-sync 2>/dev/null) || p=""; fi',
    `if [ -n "$p" ] && [ "$A" = serve ]; then say exec installed "$p"; exec resonance-sync ${serve}; fi`,
    'if [ -n "$p" ] && [ "$A" = status ]; then say installed "$p"; fi',
    `c=\${XDG_CACHE_HOME:-}; case $c in /*) ;; *) c=$HOME/.cache;; esac; d=$c/resonance-sync; f=$d/$NAME`,
    'if [ "$A" = remove ]; then for x in "$d"/agent-*.mjs "$d"/.upload-*.tmp; do if [ -f "$x" ]; then rm -f "$x" && say removed "$x"; fi; done; rm -rf "$d/compile-cache"; rmdir "$d" 2>/dev/null; say done; exit 0; fi',
    'v=$(node --version 2>/dev/null) || fail no-node "no node on PATH"',
    'case $v in v[0-9]*.[0-9]*) ;; *) fail no-node "node --version printed: $v";; esac',
    `n=\${v#v}; maj=\${n%%.*}; r=\${n#*.}; min=\${r%%.*}`,
    `if [ "$maj" -lt ${MIN_NODE.major} ] || { [ "$maj" -eq ${MIN_NODE.major} ] && [ "$min" -lt ${MIN_NODE.minor} ]; }; then fail old-node "$v"; fi`,
    'if [ "$A" = status ]; then say node "$v"; fi',
    `sum() { if command -v sha256sum >/dev/null 2>&1; then s=$(sha256sum < "$1") || return 1; else s=$(node -e "$JS" "$1") || return 1; fi; [ "\${s%% *}" = "$SHA" ]; }`,
    'how=cached',
    'if [ -f "$f" ] && ! sum "$f"; then rm -f "$f"; say corrupt "$f"; fi',
    'if [ "$A" = status ]; then if [ -f "$f" ]; then say cached "$f"; fi; for x in "$d"/agent-*.mjs; do if [ -f "$x" ] && [ "$x" != "$f" ]; then say other "$x"; fi; done; say done; exit 0; fi',
    'if [ ! -f "$f" ]; then',
    '  [ "$UP" = 1 ] || fail upload-off "agent_upload = false and no agent in $d"',
    '  umask 077; e=$(mkdir -p "$d" 2>&1) || fail cannot-write "$e"',
    '  t=$d/.upload-$$.tmp; e=$({ : > "$t"; } 2>&1) || fail cannot-write "$e"',
    '  say upload "$SIZE"',
    '  if [ "$HELLO" -gt 0 ]; then head -c "$HELLO" > /dev/null; fi',
    '  head -c "$SIZE" > "$t"',
    '  if ! sum "$t"; then rm -f "$t"; fail corrupt-upload "the uploaded agent did not match its sha256"; fi',
    '  e=$(chmod 600 "$t" 2>&1 && mv -f "$t" "$f" 2>&1) || { rm -f "$t"; fail cannot-write "$e"; }',
    '  how=uploaded',
    'fi',
    // Node keeps the agent's compiled code there (Node >= 22.1 reads NODE_COMPILE_CACHE): from the
    // second sync on, the agent starts without compiling its 0.5 MB again.
    `if [ "$A" = serve ]; then say exec "$how" "$f"; NODE_COMPILE_CACHE=$d/compile-cache; export NODE_COMPILE_CACHE; exec node "$f" ${serve}; fi`,
    'say ready "$how" "$f"',
  ];
  return `sh -c ${shellQuote(lines.join('\n'))}`;
}

/** One launcher line, parsed. */
export interface LauncherEvent {
  event: string;
  /** The rest of the line after the event word. */
  detail: string;
}

/** Every launcher line in some captured output (other lines are ignored). */
export function parseLauncherOutput(text: string): LauncherEvent[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith(LAUNCHER_MAGIC))
    .map((line) => parseLauncherLine(line.slice(LAUNCHER_MAGIC.length)));
}

export function parseLauncherLine(line: string): LauncherEvent {
  const space = line.indexOf(' ');
  return space === -1 ? { event: line, detail: '' } : { event: line.slice(0, space), detail: line.slice(space + 1) };
}
