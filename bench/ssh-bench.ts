/**
 * The SSH half of the benchmark: a real sshd on 127.0.0.1 (the test harness); its floors (`ssh HOST
 * true`, and `scp` of the whole file + the SQL floor of floors.ts); the installed command run as a
 * user runs it against a configured peer in agent and agentless mode (cli-run.ts); rsync of the
 * whole file.
 *
 * Bytes on the wire are counted by ssh itself, the same way for our sync and for rsync: every ssh
 * runs with `-o LogLevel=VERBOSE -E LOG`, and OpenSSH logs at the end of each session
 * "Transferred: sent N, received M bytes" (clientloop.c). N and M are the SSH binary packets as they
 * go onto the TCP connection (after compression and encryption), without the version banners and the
 * 16-byte MAC/tag per packet: checked against a TCP proxy, that is 0.1 % under the TCP payload for a
 * bulk transfer and about 5 % under for a 7 KB handshake-only session. Counting in a proxy process of
 * our own instead would copy every byte through Node, slow the measured sync and count before ssh's
 * encryption and compression, unlike rsync's figure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMAND, runCli, type CliRun } from './cli-run.js';
import { sqlFloor, type FloorHow } from './floors.js';
import { startSshd, sshdAvailable, type SshServer } from '../test/support/sshd.js';

/** In agent mode the remote runs this checkout's single-file build with this Node, as an installed agent. */
const AGENT_COMMAND = `${process.execPath} ${COMMAND}`;

/**
 * What each mode starts on the remote, doing nothing: with `node -e 0` here, the processes a sync in
 * that mode cannot do without (this Node, ssh, and the remote's program), the floor under its small syncs.
 */
export const REMOTE_START: Record<'agent' | 'sqlite3', { words: string[]; label: string }> = {
  agent: { words: [process.execPath, '-e', '0'], label: 'node -e 0' },
  sqlite3: { words: ['sqlite3', ':memory:', '.quit'], label: 'sqlite3 :memory: .quit' },
};

/** What ssh reported for all sessions of one run, or why the count is unknown (never a silent 0). */
export type Wire =
  | { kind: 'counted'; bytes: number; sent: number; received: number; sessions: number }
  | { kind: 'missing'; reason: string };

const TRANSFERRED = /^Transferred: sent (\d+), received (\d+) bytes/gm;
const AUTHENTICATED = /^Authenticated to /gm;

/**
 * Sums every "Transferred" line of a log that several ssh invocations appended to (ssh opens -E files
 * with O_APPEND, and a sync may start more than one session). ssh writes that line only when its
 * client loop ends normally: killed by a signal, it logs "Killed by signal N." instead. So every
 * "Authenticated to" (also VERBOSE) must be matched by a Transferred line, or the figure is missing.
 * A session that failed before authenticating is not counted, but then the run fails and says so.
 */
export function readWire(log: string): Wire {
  if (!existsSync(log)) return { kind: 'missing', reason: 'ssh wrote no log (did it start?)' };
  const text = readFileSync(log, 'utf8');
  const transferred = [...text.matchAll(TRANSFERRED)];
  const sessions = [...text.matchAll(AUTHENTICATED)].length;
  if (sessions === 0 && transferred.length === 0) return { kind: 'missing', reason: 'no ssh session logged in' };
  if (transferred.length < sessions) {
    const killed = /^Killed by signal \d+/m.exec(text)?.[0];
    return {
      kind: 'missing',
      reason: `${sessions - transferred.length} of ${sessions} ssh sessions ended without a Transferred line${killed ? ` (${killed})` : ''}`,
    };
  }
  const sent = transferred.reduce((sum, match) => sum + Number(match[1]), 0);
  const received = transferred.reduce((sum, match) => sum + Number(match[2]), 0);
  return { kind: 'counted', bytes: sent + received, sent, received, sessions: transferred.length };
}

export function formatBytes(bytes: number): string {
  if (bytes < 10_000) return `${bytes} B`;
  if (bytes < 10_000_000) return `${(bytes / 1000).toFixed(1)} KB`;
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function formatWire(wire: Wire): string {
  return wire.kind === 'counted' ? formatBytes(wire.bytes) : `missing (${wire.reason})`;
}

/** wire / reference, or undefined when the wire figure is missing. */
export function wireRatio(wire: Wire, reference: number): number | undefined {
  return wire.kind === 'counted' ? wire.bytes / reference : undefined;
}

export class SshBench {
  private logs = 0;

  private constructor(
    readonly server: SshServer,
    private readonly work: string,
  ) {}

  static async start(work: string): Promise<SshBench | undefined> {
    if (!sshdAvailable() || !existsSync('/usr/bin/sqlite3')) return undefined;
    return new SshBench(await startSshd(), work);
  }

  url(path: string): string {
    return `ssh://${this.server.user}@127.0.0.1:${this.server.port}${path}`;
  }

  /** A fresh log per run, so one run's sessions are summed and nothing else's. */
  private newLog(label: string): string {
    const log = join(this.work, `ssh-${label}-${++this.logs}.log`);
    // RESONANCE_SYNC_SSH is split on whitespace (like GIT_SSH_COMMAND), so the path cannot hold any.
    if (/\s/.test(log)) throw new Error(`the bench work dir must not contain whitespace: ${log}`);
    rmSync(log, { force: true });
    return log;
  }

  /** The harness's ssh command plus the byte count: `ssh -F config -o LogLevel=VERBOSE -E log`. */
  private sshWords(log: string): string[] {
    // -o on the command line wins over the harness config's `LogLevel ERROR` (ssh keeps the first value).
    return [...this.server.sshCommand, '-o', 'LogLevel=VERBOSE', '-E', log];
  }

  /** Reads and removes the log; for a failed run, its tail explains (ssh's own errors go there, not to stderr). */
  private finish(log: string): { wire: Wire; tail: string } {
    const wire = readWire(log);
    const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n') : '';
    rmSync(log, { force: true });
    return { wire, tail };
  }

  /**
   * `ssh HOST true`, the floor under any sync over ssh (median of five), and the bytes of its
   * handshake; or, given another remote command (words the remote shell joins), the same for it.
   */
  roundTrip(remoteCommand: string[] = ['true']): { seconds: number; wire: Wire } {
    const runs = Array.from({ length: 5 }, () => {
      const log = this.newLog('round-trip');
      const [ssh, ...args] = this.sshWords(log);
      const started = performance.now();
      execFileSync(ssh as string, [...args, '127.0.0.1', ...remoteCommand]);
      const seconds = (performance.now() - started) / 1000;
      return { seconds, wire: this.finish(log).wire };
    }).sort((a, b) => a.seconds - b.seconds);
    return runs[2] as { seconds: number; wire: Wire };
  }

  /**
   * A config naming `remoteDb` twice, as peer `bench-agent` (mode agent, running the single-file
   * build over ssh as an installed agent would) and `bench-sqlite3` (agentless), for `sync NAME`
   * and `verify NAME` exactly as a user runs them.
   */
  configFor(remoteDb: string): string {
    const config = join(this.work, `peers-${this.logs}.toml`);
    // JSON string literals are valid TOML basic strings for these paths (quotes and backslashes escaped).
    const toml = [
      '[peers.bench-agent]',
      `url = ${JSON.stringify(this.url(remoteDb))}`,
      'mode = "agent"',
      `remote_command = ${JSON.stringify(AGENT_COMMAND)}`,
      '',
      '[peers.bench-sqlite3]',
      `url = ${JSON.stringify(this.url(remoteDb))}`,
      'mode = "sqlite3"',
    ];
    writeFileSync(config, `${toml.join('\n')}\n`);
    return config;
  }

  /**
   * `resonance-sync --config CONFIG ARGS` as its own process (cli-run.ts), with ssh counting its
   * bytes: wall time from outside, the process's peak RSS, its --json report and the wire.
   */
  cli(label: string, config: string, args: string[], okStatus = [0]): CliRun & { wire: Wire } {
    const log = this.newLog(label);
    const env = { ...this.server.env, RESONANCE_SYNC_SSH: this.sshWords(log).join(' ') };
    try {
      const run = runCli(['--config', config, ...args], env, this.work, okStatus);
      return { ...run, wire: this.finish(log).wire };
    } catch (error) {
      throw new Error(`${String(error)}\nssh log: ${this.finish(log).tail}`);
    }
  }

  /** The ssh floor of an initial sync: `scp` of the whole file here, then the SQL floor on the copy. */
  scpFloor(remoteDb: string, target: string): { seconds: number; scpSeconds: number; sqlSeconds: number; how: FloorHow } {
    const copy = join(this.work, 'scp-copy.sqlite3');
    rmSync(copy, { force: true });
    const started = performance.now();
    // -O: the classic scp protocol (no sftp subsystem needed on the server).
    execFileSync('scp', ['-O', '-q', '-F', this.server.sshConfigPath, `127.0.0.1:${remoteDb}`, copy]);
    const scpSeconds = (performance.now() - started) / 1000;
    const sql = sqlFloor(copy, target);
    rmSync(copy, { force: true });
    return { seconds: scpSeconds + sql.seconds, scpSeconds, sqlSeconds: sql.seconds, how: sql.how };
  }

  /**
   * rsync -az of the whole file over the same ssh, onto an older copy: time, and bytes on the wire
   * counted by ssh like ours. rsync's own --stats count (its protocol stream inside the channel) is
   * kept alongside for reference.
   */
  rsync(source: string, olderCopy: string): { seconds: number; wire: Wire; rsyncStatsBytes: number } {
    const target = join(this.work, 'rsync-target.sqlite3');
    copyFileSync(olderCopy, target);
    const log = this.newLog('rsync');
    const started = performance.now();
    // rsync splits -e on whitespace itself; the log path has none (newLog checks).
    const output = execFileSync('rsync', ['-az', '--stats', '-e', this.sshWords(log).join(' '), source, `127.0.0.1:${target}`], {
      encoding: 'utf8',
    });
    const seconds = (performance.now() - started) / 1000;
    const number = (label: string) => Number(new RegExp(`${label}: ([\\d,]+)`).exec(output)?.[1]?.replaceAll(',', '') ?? 0);
    rmSync(target, { force: true });
    return { seconds, wire: this.finish(log).wire, rsyncStatsBytes: number('Total bytes sent') + number('Total bytes received') };
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }
}

export function rsyncAvailable(): boolean {
  return spawnSync('rsync', ['--version']).status === 0;
}
