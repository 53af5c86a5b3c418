/**
 * The ssh command line for reaching a peer's agent, and the translation of ssh's failures into typed
 * errors. The system `ssh` (or `$RESONANCE_SYNC_SSH`, split on whitespace like GIT_SSH_COMMAND) runs
 * in batch mode and always verifies host keys: nothing here loosens that. The remote command is one
 * string that the remote login shell parses, so every argument we add to it is single-quoted; the
 * configured `remote_command` prefix is the user's own trusted text (like git's --upload-pack).
 */
import { SyncError } from '../../core/errors.js';
import { visibleExcerpt } from '../../core/excerpt.js';
import type { PeerLocation } from '../../core/peer-url.js';

export type SshLocation = Extract<PeerLocation, { kind: 'ssh' }>;

export const SSH_COMMAND_ENV = 'RESONANCE_SYNC_SSH';
export const CONNECT_TIMEOUT_ENV = 'RESONANCE_SYNC_CONNECT_TIMEOUT';
export const DEFAULT_REMOTE_COMMAND = 'resonance-sync';
export const DEFAULT_CONNECT_TIMEOUT_SECONDS = 15;

/** Quotes one word for a POSIX shell: inside '...' nothing is special but ' itself. */
export function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `ssh`, or the user's override. */
export function sshBaseCommand(env: NodeJS.ProcessEnv): string[] {
  const words = (env[SSH_COMMAND_ENV] ?? '')
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '');
  return words.length > 0 ? words : ['ssh'];
}

export function connectTimeoutSeconds(env: NodeJS.ProcessEnv): number {
  const text = env[CONNECT_TIMEOUT_ENV];
  if (text === undefined || text === '') return DEFAULT_CONNECT_TIMEOUT_SECONDS;
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 3600) {
    throw new SyncError('USAGE', `${CONNECT_TIMEOUT_ENV} must be a whole number of seconds from 1 to 3600, not ${JSON.stringify(text)}`);
  }
  return seconds;
}

/** The path as the agent's --db gets it: `~/rel` for home-relative paths (the agent expands it). */
export function remoteDbArgument(location: SshLocation): string {
  return location.homeRelative ? `~/${location.path}` : location.path;
}

/** The agent's arguments: serve --stdio --db PATH. */
export function serveArgs(location: SshLocation): string[] {
  return ['serve', '--stdio', '--db', remoteDbArgument(location)];
}

export function remoteServeCommand(location: SshLocation, remoteCommand: string | undefined): string {
  return `${remoteCommand ?? DEFAULT_REMOTE_COMMAND} ${serveArgs(location).map(shellQuote).join(' ')}`;
}

/**
 * The last few lines of what the remote wrote on stderr, joined with " | " and escaped for one line
 * (core/excerpt.ts): why an agent failed is often a stack whose last line alone says little.
 */
export function stderrTail(stderr: string, lines = 4): string {
  const kept = stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== '...')
    .slice(-lines);
  return kept.length === 0 ? '' : visibleExcerpt(Buffer.from(kept.join(' | '), 'utf8'), 400);
}

/** The full argv, ssh first. */
export function sshArgv(
  location: SshLocation,
  options: {
    remoteCommand: string | undefined;
    env: NodeJS.ProcessEnv /** The whole remote command, instead of `<remoteCommand> serve …`. */;
    command?: string;
  },
): string[] {
  // parsePeerUrl already refused these; checked again because an ssh option here would run commands.
  if (location.host.startsWith('-') || location.user?.startsWith('-'))
    throw new SyncError('PEER_URL_INVALID', `refusing host or user starting with "-"`);
  const timeout = connectTimeoutSeconds(options.env);
  return [
    ...sshBaseCommand(options.env),
    '-T', // no terminal: binary data must pass untouched, and no escape character
    '-o',
    'BatchMode=yes', // unattended: never prompt for a password or an unknown host key
    '-o',
    `ConnectTimeout=${timeout}`,
    // A phone that sleeps mid-sync would otherwise leave the connection hanging forever.
    '-o',
    'ServerAliveInterval=15',
    '-o',
    'ServerAliveCountMax=4',
    ...peerSshOptions(location),
    ...(location.port === undefined ? [] : ['-p', String(location.port)]),
    ...(location.user === undefined ? [] : ['-l', location.user]),
    location.host,
    options.command ?? remoteServeCommand(location, options.remoteCommand),
  ];
}

/**
 * The peer's own key and pinned host key (config keys identity_file, known_hosts_file, host_key_alias;
 * `pair` writes them). On the command line they win over ~/.ssh/config. The known-hosts file replaces
 * the user's for this peer, so only the pinned key is accepted; the alias files it under the peer's
 * name, so a phone that changes its address keeps its key. The config refused paths with characters
 * ssh would expand or split on (%, $, ").
 */
export function peerSshOptions(location: SshLocation): string[] {
  const ssh = location.ssh;
  if (ssh === undefined) return [];
  return [
    ...(ssh.identityFile === undefined ? [] : ['-i', ssh.identityFile, '-o', 'IdentitiesOnly=yes']),
    ...(ssh.knownHostsFile === undefined
      ? []
      : ['-o', `UserKnownHostsFile="${ssh.knownHostsFile}"`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'StrictHostKeyChecking=yes']),
    ...(ssh.hostKeyAlias === undefined ? [] : ['-o', `HostKeyAlias=${ssh.hostKeyAlias}`]),
  ];
}

/** `user@host:port`, for messages. */
export function destinationOf(location: SshLocation): string {
  const host = location.host.includes(':') ? `[${location.host}]` : location.host;
  return `${location.user === undefined ? '' : `${location.user}@`}${host}${location.port === undefined ? '' : `:${location.port}`}`;
}

export interface SshOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  /** A spawn failure (e.g. no ssh binary), if there was one. */
  spawnError?: NodeJS.ErrnoException | undefined;
}

export interface FailureContext {
  location: SshLocation;
  /** Whether the agent had announced itself: after that, a failure is a lost connection. */
  started: boolean;
  /** First line of what the remote printed on stdout instead of the agent, quoted and escaped (core/excerpt.ts); '' if nothing. */
  junk: string;
  remoteCommand: string | undefined;
}

/** The most telling line of ssh's stderr (ssh and the remote shell both write there). */
export function telltaleLine(stderr: string): string {
  const lines = stderr
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !/^@+$/.test(line));
  const line =
    lines.find((l) => /identification has changed|verification failed|permission denied|not found|no such file/i.test(l)) ??
    lines.at(-1) ??
    '';
  return line.length > 200 ? `${line.slice(0, 200)}...` : line;
}

export function sshFailure(outcome: SshOutcome, context: FailureContext): SyncError {
  const where = destinationOf(context.location);
  const said = telltaleLine(outcome.stderr);
  const detail = said === '' ? (outcome.code === null ? `killed by ${outcome.signal ?? 'a signal'}` : `exit code ${outcome.code}`) : said;
  if (outcome.spawnError) {
    const command = sshBaseCommand(process.env)[0] ?? 'ssh';
    return new SyncError(
      'CONFIG_INVALID',
      `cannot run ${command} (${outcome.spawnError.code ?? outcome.spawnError.message}): install the OpenSSH client, or set ${SSH_COMMAND_ENV} to your ssh command`,
    );
  }
  if (context.started) {
    return new SyncError(
      'CONNECTION_LOST',
      `the connection to ${where} was lost mid-sync (${detail}); committed batches are kept and the next sync resumes after them`,
    );
  }
  const stderr = outcome.stderr;
  if (outcome.code === 255) {
    const hostArg = context.location.port === undefined ? context.location.host : `[${context.location.host}]:${context.location.port}`;
    if (/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key for .* has changed/i.test(stderr)) {
      return new SyncError(
        'HOST_KEY_CHANGED',
        `the host key of ${where} does not match the one in known_hosts: this can be an attack, or the host was reinstalled; if you know it changed, remove the old key with: ssh-keygen -R '${hostArg}', then log in once with ssh to verify and record the new one (nothing was synced)`,
      );
    }
    if (/Host key verification failed|host key is not known|No [A-Za-z0-9-]+ host key is known/i.test(stderr)) {
      return new SyncError(
        'HOST_KEY_UNKNOWN',
        `the host key of ${where} is not in known_hosts, and batch mode never accepts an unknown key: log in once with ssh to verify and record it, then sync again`,
      );
    }
    if (/Permission denied|Too many authentication failures|Authentication failed/i.test(stderr)) {
      return new SyncError(
        'AUTH_FAILED',
        `ssh could not log in to ${where} (${detail}); put this machine's public key in ~/.ssh/authorized_keys there (batch mode never asks for a password)`,
      );
    }
    return new SyncError('PEER_UNREACHABLE', `${where} is unreachable (${detail}); skipped`);
  }
  if (outcome.code === 127 || outcome.code === 126) {
    const command = context.remoteCommand ?? DEFAULT_REMOTE_COMMAND;
    return new SyncError(
      'AGENT_MISSING',
      `${where} cannot run ${JSON.stringify(command)} (${detail}): install resonance-sync there, or set remote_command for this peer to its full path (non-interactive ssh logins may have a shorter PATH)`,
    );
  }
  if (/unknown command 'serve'/.test(stderr)) {
    return new SyncError(
      'PROTOCOL_VERSION',
      `the resonance-sync on ${where} is too old for ssh sync (it has no serve command): upgrade resonance-sync on ${context.location.host}`,
    );
  }
  if (outcome.code === 0 || context.junk !== '') {
    const printed = context.junk === '' ? 'nothing' : context.junk;
    return new SyncError(
      'PROTOCOL_ERROR',
      `the remote command on ${where} printed ${printed} and ended without starting the resonance-sync agent (check remote_command, and that shell startup files such as ~/.bashrc do not print for non-interactive logins)`,
    );
  }
  return new SyncError('REMOTE_ERROR', `the resonance-sync agent on ${where} failed to start (${detail})`);
}
