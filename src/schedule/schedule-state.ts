/**
 * The installed schedule as `schedule status` and `doctor` see it: this config's crontab entry, how
 * often it runs, where it logs, whether the programs it names still exist (a moved node binary or a
 * reinstalled package silently breaks a cron job), and whether any cron daemon is there to run it.
 */
import { statSync } from 'node:fs';
import { entryProgram, findEntries } from './cron-entry.js';
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
}

export async function scheduleState(configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<ScheduleState> {
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
