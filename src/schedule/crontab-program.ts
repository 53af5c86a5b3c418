/**
 * Reading and writing the user's crontab through the `crontab` program (`crontab -l`, `crontab -`),
 * which is the only portable way: the spool file's location and format differ between cron, cronie
 * and busybox. `$RESONANCE_SYNC_CRONTAB` replaces the program, split on whitespace like
 * GIT_SSH_COMMAND, e.g. `crontab -u alice` (tests use a throwaway user this way, so a developer's
 * own crontab is never touched).
 */
import { createRequire } from 'node:module';
import { ExitCode, SyncError } from '../core/errors.js';
import { schedulerHint } from './scheduler-hints.js';

/** node:child_process, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const childProcess = (): typeof import('node:child_process') => createRequire(import.meta.url)('node:child_process');

export const CRONTAB_ENV = 'RESONANCE_SYNC_CRONTAB';
const TIMEOUT_MS = 15_000;

/** No usable scheduler: crontab is missing or refuses this user (exit code 9, with a hint what to install). */
export class SchedulerUnavailable extends SyncError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NO_SCHEDULER', message, options);
  }
}

export const NO_SCHEDULER_EXIT = ExitCode.scheduler;

export function crontabCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const words = (env[CRONTAB_ENV] ?? '')
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '');
  return words.length > 0 ? words : ['crontab'];
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCrontab(args: string[], input: string | undefined, env: NodeJS.ProcessEnv): Promise<Outcome> {
  const [file, ...prefix] = crontabCommand(env);
  return new Promise((resolve, reject) => {
    const child = childProcess().spawn(file ?? 'crontab', [...prefix, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    // Our own deadline, not spawn's `timeout`: that one's timer outlives a spawn failure (ENOENT) and
    // would keep the process alive for the whole timeout.
    const deadline = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.stdin.on('error', () => undefined); // a crontab that exits early; its status says why
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(deadline);
      if (error.code === 'ENOENT' || error.code === 'EACCES') {
        reject(
          new SchedulerUnavailable(`there is no crontab program here (${file ?? 'crontab'}: ${error.code}); ${schedulerHint(env)}`, {
            cause: error,
          }),
        );
      } else {
        reject(error);
      }
    });
    child.once('close', (code) => {
      clearTimeout(deadline);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

function refused(action: string, outcome: Outcome, env: NodeJS.ProcessEnv): SchedulerUnavailable {
  const said = outcome.stderr.trim().split('\n').at(-1) ?? '';
  return new SchedulerUnavailable(
    `${crontabCommand(env).join(' ')} ${action} failed (${said || `exit code ${outcome.code}`}); if cron does not allow this user, ${schedulerHint(env, { short: true })}`,
  );
}

/** The current crontab; '' when the user has none yet. */
export async function readCrontab(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const outcome = await runCrontab(['-l'], undefined, env);
  if (outcome.code === 0) return outcome.stdout;
  // Every cron flavour says "no crontab for <user>" (exit 1) for a user who never had one.
  if (/no crontab for/i.test(outcome.stderr)) return '';
  throw refused('-l', outcome, env);
}

/** Replaces the whole crontab with `text` (the caller has kept every foreign line). */
export async function writeCrontab(text: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const outcome = await runCrontab(['-'], text, env);
  if (outcome.code !== 0) throw refused('-', outcome, env);
}
