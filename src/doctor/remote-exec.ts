/**
 * One short command on a peer over ssh, for the doctor: the system ssh (or `$RESONANCE_SYNC_SSH`) in
 * batch mode with a short connect timeout, host keys verified as always. The remote command is one
 * string for the remote shell; callers quote every word they add with shellQuote. A hard deadline
 * stops a remote that accepts the connection and then hangs (a sleeping phone's half-open socket).
 */
import { createRequire } from 'node:module';
import { peerSshOptions, sshBaseCommand, type SshLocation, type SshOutcome } from '../transport/ssh/ssh-command.js';

/** node:child_process, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const childProcess = (): typeof import('node:child_process') => createRequire(import.meta.url)('node:child_process');

export const DOCTOR_CONNECT_TIMEOUT_SECONDS = 5;
const DEADLINE_MS = 20_000;

export interface RemoteResult extends SshOutcome {
  stdout: string;
  /** Wall time, for the clock-skew estimate. */
  startedAt: number;
  endedAt: number;
}

export function doctorSshArgv(location: SshLocation, remoteCommand: string, env: NodeJS.ProcessEnv): string[] {
  return [
    ...sshBaseCommand(env),
    '-T',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${DOCTOR_CONNECT_TIMEOUT_SECONDS}`,
    ...peerSshOptions(location),
    ...(location.port === undefined ? [] : ['-p', String(location.port)]),
    ...(location.user === undefined ? [] : ['-l', location.user]),
    location.host,
    remoteCommand,
  ];
}

export function runRemote(location: SshLocation, remoteCommand: string, env: NodeJS.ProcessEnv): Promise<RemoteResult> {
  const [file, ...args] = doctorSshArgv(location, remoteCommand, env);
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const child = childProcess().spawn(file ?? 'ssh', args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let spawnError: NodeJS.ErrnoException | undefined;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const deadline = setTimeout(() => {
      stderr += `\n(no answer within ${DEADLINE_MS / 1000} s)`;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, DEADLINE_MS);
    child.once('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
      if (child.pid === undefined) finish(null, null);
    });
    child.once('close', (code, signal) => finish(code, signal));
    let done = false;
    function finish(code: number | null, signal: NodeJS.Signals | null) {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      resolve({ code, signal, stdout, stderr, spawnError, startedAt, endedAt: Date.now() });
    }
  });
}

/** The last non-empty line of stdout: shell startup files may print before the command does. */
export function lastLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .at(-1) ?? ''
  );
}
