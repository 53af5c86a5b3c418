/**
 * The crontab line resonance-sync owns, and pure edits of a whole crontab text around it. The user's
 * other lines (jobs, comments, MAILTO=, blank lines) are kept byte for byte; only lines that end in
 * our marker for the same config file are replaced or removed, so two configs (two databases) can
 * each have their own entry, and installing twice changes nothing.
 *
 * Line shape (one line):
 *   0 *\/2 * * * PATH='…' '/usr/bin/node' '/…/main.js' sync --quiet --config '/…/config.toml' >> '/…/sync.log' 2>&1 # resonance-sync config=/…/config.toml
 * Every word is single-quoted for /bin/sh, and `%` is written `\%` because cron turns a bare `%` into
 * a newline (and feeds the rest to the command's stdin) before the shell ever sees the line. The
 * marker is a shell comment, so cron runs the line unchanged.
 */
import { SyncError } from '../core/errors.js';
import { shellQuote } from '../transport/ssh/ssh-command.js';

export const MARKER = '# resonance-sync';
const MARKER_PATTERN = / # resonance-sync config=(.*)$/;

export interface EntrySpec {
  /** Five cron fields. */
  expression: string;
  nodePath: string;
  cliPath: string;
  configPath: string;
  logPath: string;
  /** The PATH the job runs with: cron's default (/usr/bin:/bin) lacks where ssh or node often live. */
  pathEnv: string;
  /** Extra environment carried into the job, e.g. RESONANCE_SYNC_SSH. */
  env?: Record<string, string>;
}

export interface InstalledEntry {
  line: string;
  expression: string;
  configPath: string;
  /** The unquoted words of the command, as far as they are ours (see parseEntryWords). */
  words: string[];
}

function cronEscape(text: string): string {
  return text.replaceAll('%', '\\%');
}

function cronUnescape(text: string): string {
  return text.replaceAll('\\%', '%');
}

export function buildEntryLine(spec: EntrySpec): string {
  return cronEscape(`${spec.expression} ${buildCommand(spec)} ${MARKER} config=${spec.configPath}`);
}

/** The shell command a scheduled run executes (cron's line without its fields; a Termux job's script). */
export function buildCommand(spec: Omit<EntrySpec, 'expression'>): string {
  for (const [what, value] of Object.entries({
    node: spec.nodePath,
    cli: spec.cliPath,
    config: spec.configPath,
    log: spec.logPath,
    PATH: spec.pathEnv,
  })) {
    // A newline would end the cron line and leave the rest as a line of its own.
    if (/[\r\n\0]/.test(value))
      throw new SyncError('USAGE', `the ${what} path ${JSON.stringify(value)} contains a newline or NUL, which a crontab line cannot hold`);
  }
  const env = Object.entries({ PATH: spec.pathEnv, ...spec.env }).map(([name, value]) => `${name}=${shellQuote(value)}`);
  const command = [
    ...env,
    shellQuote(spec.nodePath),
    shellQuote(spec.cliPath),
    'sync',
    '--quiet',
    '--config',
    shellQuote(spec.configPath),
    '>>',
    shellQuote(spec.logPath),
    '2>&1',
  ].join(' ');
  return command;
}

/** Our entries in a crontab text (commented-out copies are the user's, and left alone). */
export function findEntries(crontab: string): InstalledEntry[] {
  const entries: InstalledEntry[] = [];
  for (const line of crontab.split('\n')) {
    const parsed = parseEntry(line);
    if (parsed) entries.push(parsed);
  }
  return entries;
}

export function parseEntry(line: string): InstalledEntry | undefined {
  if (line.trimStart().startsWith('#')) return undefined;
  const match = MARKER_PATTERN.exec(line);
  if (!match) return undefined;
  const fields = line.trim().split(/\s+/);
  return {
    line,
    expression: fields.slice(0, 5).join(' '),
    configPath: cronUnescape(match[1] ?? ''),
    words: parseEntryWords(cronUnescape(line.slice(0, match.index))),
  };
}

/**
 * Splits the command part of a line we wrote into its words, unquoted ('…' and the '\'' escape).
 * Only our own shape needs to be understood; anything else yields fewer words, never an error.
 */
export function parseEntryWords(line: string): string[] {
  return commandWords(line).slice(5);
}

/** The unquoted words of a command we wrote. */
export function commandWords(line: string): string[] {
  const words: string[] = [];
  // The escaped quote first, so a backslash is never taken for the start of a bare word.
  const pattern = /(?:\\'|'[^']*'|[^\s'\\]+)+/g;
  for (const match of line.matchAll(pattern)) {
    words.push(match[0].replace(/'([^']*)'|\\'/g, (_all, inner: string | undefined) => (inner === undefined ? "'" : inner)));
  }
  return words;
}

/** The node and CLI paths an entry runs (to check they still exist after an upgrade or a move). */
export function entryProgram(entry: InstalledEntry): { nodePath: string; cliPath: string; logPath: string | undefined } | undefined {
  const words = entry.words.filter((word) => !/^[A-Z_][A-Z0-9_]*=/.test(word));
  const [nodePath, cliPath] = words;
  if (nodePath === undefined || cliPath === undefined) return undefined;
  const redirect = words.indexOf('>>');
  return { nodePath, cliPath, logPath: redirect === -1 ? undefined : words[redirect + 1] };
}

export interface Edit {
  text: string;
  changed: boolean;
}

/** Puts `line` in place of this config's entry (keeping its position), or appends it. */
export function withEntry(crontab: string, configPath: string, line: string): Edit {
  const lines = splitLines(crontab);
  const index = lines.findIndex((l) => parseEntry(l)?.configPath === configPath);
  let kept = lines.filter((l, i) => i === index || parseEntry(l)?.configPath !== configPath);
  if (index === -1) kept = [...kept, line];
  else kept = kept.map((l) => (parseEntry(l)?.configPath === configPath ? line : l));
  const text = joinLines(kept);
  return { text, changed: text !== joinLines(lines) };
}

/** Removes this config's entries; every other line stays as it was. */
export function withoutEntry(crontab: string, configPath: string): Edit & { removed: number } {
  const lines = splitLines(crontab);
  const kept = lines.filter((l) => parseEntry(l)?.configPath !== configPath);
  return { text: joinLines(kept), changed: kept.length !== lines.length, removed: lines.length - kept.length };
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

/** cron ignores (or, in some versions, refuses) a last line without a newline, so every line gets one. */
function joinLines(lines: string[]): string {
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
