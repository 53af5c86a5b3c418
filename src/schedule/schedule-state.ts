/**
 * The installed schedule as `schedule status` and `doctor` see it: this config's crontab entry, how
 * often it runs, where it logs, whether the programs it names still exist (a moved node binary or a
 * reinstalled package silently breaks a cron job), and whether any cron daemon is there to run it.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stateDir } from '../store/node-memory.js';
import { commandWords, entryProgram, findEntries } from './cron-entry.js';
import { crondRunning, jobIdFor, jobPending, termuxScheduler, type TermuxScheduler } from './termux.js';
import { readCrontab } from './crontab-program.js';
import { describeCronExpression } from './duration.js';
import { cronDaemonRunning } from './scheduler-hints.js';

export interface ScheduleState {
  configPath: string;
  installed: boolean;
  every: string | null;
  expression: string | null;
  logPath: string | null;
  line: string | null;
  /** Paths the entry runs that no longer exist. */
  missing: string[];
  /** null when this system cannot tell (no /proc, or a restricted view of it). */
  cronDaemonRunning: boolean | null;
  /** Entries for other config files. */
  otherConfigs: string[];
  /** What runs the entry: cron, cronie under termux-services, or Android's job scheduler (Termux). */
  scheduler: 'cron' | TermuxScheduler;
  /** Whether that scheduler is really running it (crond up under runit; the job pending); null when it cannot be told. */
  schedulerRunning: boolean | null;
  /** What the scheduler said, e.g. `run: crond: (pid 123) 45s`. */
  schedulerDetail: string;
}

/** Where a Termux job's script lives: one per config file, beside the program's other state. */
export function jobScriptPath(configPath: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(stateDir(env), 'jobs', `job-${jobIdFor(configPath)}.sh`);
}

/** The job script: the same command a crontab line runs, with what `schedule status` reads back. */
export function jobScript(command: string, every: string, configPath: string, env: NodeJS.ProcessEnv = process.env): string {
  const shell = env.PREFIX ? join(env.PREFIX, 'bin', 'sh') : '/bin/sh';
  return `#!${shell}\n# resonance-sync every=${every} config=${configPath}\n${command}\n`;
}

function jobState(configPath: string, env: NodeJS.ProcessEnv): ScheduleState {
  const script = jobScriptPath(configPath, env);
  let text: string | undefined;
  try {
    text = readFileSync(script, 'utf8');
  } catch {
    text = undefined;
  }
  const [, header = '', command = ''] = (text ?? '').split('\n');
  const every = /every=(\S+)/.exec(header)?.[1] ?? null;
  const words = commandWords(command).filter((word) => !/^[A-Z_][A-Z0-9_]*=/.test(word));
  const redirect = words.indexOf('>>');
  const job = text === undefined ? { pending: null, detail: 'not installed' } : jobPending(configPath, env);
  return {
    configPath,
    installed: text !== undefined,
    every,
    expression: null,
    logPath: redirect === -1 ? null : (words[redirect + 1] ?? null),
    line: text === undefined ? null : command,
    missing: words.slice(0, 2).filter((path) => !exists(path)),
    cronDaemonRunning: null,
    otherConfigs: [],
    scheduler: 'termux-job-scheduler',
    schedulerRunning: job.pending,
    schedulerDetail: job.detail,
  };
}

export async function scheduleState(configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<ScheduleState> {
  const termux = termuxScheduler(env);
  if (termux === 'termux-job-scheduler') return jobState(configPath, env);
  const crond = termux === 'cronie' ? crondRunning(env) : undefined;
  const entries = findEntries(await readCrontab(env));
  const mine = entries.find((entry) => entry.configPath === configPath);
  const program = mine ? entryProgram(mine) : undefined;
  const missing = program ? [program.nodePath, program.cliPath].filter((path) => !exists(path)) : [];
  return {
    configPath,
    installed: mine !== undefined,
    every: mine ? (describeCronExpression(mine.expression) ?? mine.expression) : null,
    expression: mine?.expression ?? null,
    logPath: program?.logPath ?? null,
    line: mine?.line ?? null,
    missing,
    cronDaemonRunning: cronDaemonRunning() ?? null,
    otherConfigs: entries.filter((entry) => entry.configPath !== configPath).map((entry) => entry.configPath),
    scheduler: termux ?? 'cron',
    schedulerRunning: crond ? crond.running : (cronDaemonRunning() ?? null),
    schedulerDetail: crond ? crond.detail : '',
  };
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
