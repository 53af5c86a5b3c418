/**
 * Scheduling on Termux, where Android decides what keeps running. Two ways work there:
 * - cronie under termux-services: the crontab entry as anywhere else, with crond started by runit
 *   (`sv-enable crond`, which also starts it at every Termux start) and a wake lock
 *   (`termux-wake-lock`) so Android's Doze does not stop it while the screen is off;
 * - `termux-job-scheduler` (Termux:API), Android's own JobScheduler: it wakes the device itself and
 *   survives the phantom process killer, but runs no more often than every 15 minutes.
 * Which one is used is what exists: cronie with termux-services first, else the job scheduler.
 * Everything here runs the programs by name on PATH, so tests put recording stand-ins there.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createRequire } from 'node:module';
import { CRONTAB_ENV } from './crontab-program.js';
import { isTermux } from './scheduler-hints.js';

/** node:child_process, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const childProcess = (): typeof import('node:child_process') => createRequire(import.meta.url)('node:child_process');

export type TermuxScheduler = 'cronie' | 'termux-job-scheduler';

/** Android's JobScheduler runs periodic jobs no more often than this. */
export const MIN_JOB_PERIOD_MS = 15 * 60_000;

export function onPath(program: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return join(dir, program);
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The Termux way to schedule here, or undefined (not Termux, or neither is installed: the cron path says what to install). */
export function termuxScheduler(env: NodeJS.ProcessEnv = process.env): TermuxScheduler | undefined {
  if (!isTermux(env)) return undefined;
  const crontab = (env[CRONTAB_ENV] ?? '').trim() !== '' || onPath('crontab', env) !== undefined;
  if (crontab && onPath('sv-enable', env)) return 'cronie';
  if (onPath('termux-job-scheduler', env)) return 'termux-job-scheduler';
  return crontab ? 'cronie' : undefined;
}

interface Run {
  ok: boolean;
  output: string;
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv): Run {
  const result = childProcess().spawnSync(program, args, { env, encoding: 'utf8', timeout: 15_000 });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  return { ok: result.status === 0, output: result.error ? `${program}: ${result.error.message}` : output };
}

/** After the crontab entry: crond enabled under runit, and the wake lock taken. Lines saying what was done or what failed. */
export function enableCrond(env: NodeJS.ProcessEnv = process.env): string[] {
  const lines: string[] = [];
  if (onPath('sv-enable', env)) {
    const enabled = run('sv-enable', ['crond'], env);
    lines.push(enabled.ok ? 'crond enabled under termux-services (sv-enable crond)' : `sv-enable crond failed: ${enabled.output}`);
  } else {
    lines.push(
      'note: termux-services is not installed, so nothing starts crond: pkg install termux-services, restart Termux, sv-enable crond',
    );
  }
  if (onPath('termux-wake-lock', env)) {
    const lock = run('termux-wake-lock', [], env);
    lines.push(lock.ok ? 'wake lock taken (termux-wake-lock), so Doze does not stop crond' : `termux-wake-lock failed: ${lock.output}`);
  }
  lines.push('for after a reboot: the Termux:Boot app with ~/.termux/boot/start-crond running: termux-wake-lock; sv up crond');
  return lines;
}

/** `sv status crond`: "run: crond: (pid 123) 45s" when runit runs it. */
export function crondRunning(env: NodeJS.ProcessEnv = process.env): { running: boolean | null; detail: string } {
  if (!onPath('sv', env)) return { running: null, detail: 'termux-services (sv) not installed' };
  const status = run('sv', ['status', 'crond'], env);
  return { running: /^run:/m.test(status.output), detail: status.output.split('\n')[0] ?? '' };
}

/** A job id of our own per config file, so two configs keep two jobs. */
export function jobIdFor(configPath: string): number {
  return (createHash('sha256').update(configPath).digest().readUInt32BE(0) % 2_000_000_000) + 1;
}

export function installJob(options: { configPath: string; script: string; periodMs: number; env?: NodeJS.ProcessEnv }): Run {
  const env = options.env ?? process.env;
  return run(
    'termux-job-scheduler',
    [
      '--job-id',
      String(jobIdFor(options.configPath)),
      '--period-ms',
      String(Math.max(options.periodMs, MIN_JOB_PERIOD_MS)),
      '--persisted',
      'true',
      '--script',
      options.script,
    ],
    env,
  );
}

export function cancelJob(configPath: string, env: NodeJS.ProcessEnv = process.env): Run {
  return run('termux-job-scheduler', ['--cancel', '--job-id', String(jobIdFor(configPath))], env);
}

/** Whether Android holds our job: `termux-job-scheduler -p` lists the pending jobs ("Pending Job <id>: … <script>"). */
export function jobPending(configPath: string, env: NodeJS.ProcessEnv = process.env): { pending: boolean | null; detail: string } {
  const listed = run('termux-job-scheduler', ['-p'], env);
  if (!listed.ok) return { pending: null, detail: listed.output };
  const id = String(jobIdFor(configPath));
  const line = listed.output.split('\n').find((l) => new RegExp(`\\b${id}\\b`).test(l));
  return { pending: line !== undefined, detail: line ?? `job ${id} is not pending` };
}
