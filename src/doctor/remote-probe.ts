/**
 * Everything the doctor asks a peer, in one ssh login: a phone may take a second or more per login
 * (and may fall asleep between logins), so the simple commands (`<remote_command> --version`,
 * `sqlite3 --version`, `test -f`, `sqlite3 -readonly … 'SELECT …'`, `date -u +%s`) run in one
 * `sh -c` script. `sh -c` because the login shell may be fish or zsh; the script itself is POSIX.
 * Each answer follows a `@@name status` marker line, so whatever shell startup files print before
 * it is ignored, and a missing first marker means a forced command ran instead of ours.
 *
 * Quoting: the script is one single-quoted word for the login shell; inside it the database path and
 * the SQL are single-quoted again. `remote_command` is the user's own trusted text (like git's
 * --upload-pack), inserted as is, exactly as the ssh transport does.
 */
import { shellQuote, type SshLocation } from '../transport/ssh/ssh-command.js';

export const PROBE_MARKER = '@@resonance-sync-doctor';

/**
 * `sqlite3Command`: the peer's sqlite3_command (default sqlite3). `launcher`: the agent launcher's
 * status action (transport/agent/launcher.ts), asked when no remote_command is configured: which
 * uploaded agent the remote's cache holds, and whether its Node could run one.
 */
export function probeScript(location: SshLocation, remoteCommand: string, sqlite3Command = 'sqlite3', launcher?: string): string {
  const path = shellQuote(location.homeRelative && location.path.startsWith('-') ? `./${location.path}` : location.path);
  const sql = shellQuote(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'resonance_notes'`);
  const lines = [
    `echo ${PROBE_MARKER}`,
    // `--version` where the agent has it; an older one without it still shows it can serve.
    `v=$(${remoteCommand} --version 2>&1); s=$?`,
    `if [ $s -ne 0 ] && [ $s -ne 126 ] && [ $s -ne 127 ] && ${remoteCommand} serve --help >/dev/null 2>&1; then s=serve; fi`,
    `printf '@@agent %s\\n%s\\n' "$s" "$v"`,
    `v=$(${sqlite3Command} --version 2>&1); printf '@@sqlite3 %s\\n%s\\n' "$?" "$v"`,
    `test -f ${path}; echo "@@file $?"`,
    `if command -v ${sqlite3Command} >/dev/null 2>&1; then v=$(${sqlite3Command} -readonly -batch -bail ${path} ${sql} 2>&1); printf '@@table %s\\n%s\\n' "$?" "$v"; fi`,
    ...(launcher === undefined ? [] : ['echo @@launcher', launcher]),
    `echo "@@date $(date -u +%s)"`,
  ];
  return `sh -c ${shellQuote(lines.join('\n'))}`;
}

export interface ProbeAnswer {
  /** The exit status (or "serve" for an agent that can serve but has no --version). */
  status: string;
  /** What the command printed (stdout and stderr), trimmed. */
  text: string;
}

/** Answers by name; undefined when the marker never came (a forced command, or no shell). */
export function parseProbe(stdout: string): Map<string, ProbeAnswer> | undefined {
  const lines = stdout.split(/\r?\n/);
  const start = lines.indexOf(PROBE_MARKER);
  if (start === -1) return undefined;
  const answers = new Map<string, ProbeAnswer>();
  let current: { name: string; status: string; text: string[] } | undefined;
  const flush = () => current && answers.set(current.name, { status: current.status, text: current.text.join('\n').trim() });
  for (const line of lines.slice(start + 1)) {
    const marker = /^@@([a-z0-9]+) ?(.*)$/.exec(line);
    if (marker) {
      flush();
      current = { name: marker[1] ?? '', status: (marker[2] ?? '').trim(), text: [] };
    } else {
      current?.text.push(line);
    }
  }
  flush();
  return answers;
}
