/**
 * `resonance-sync schedule install|status|remove`: a crontab entry that runs `sync` with every
 * enabled peer of one config file. The entry names absolute paths for node, the CLI, the config and
 * the log, and carries PATH, because cron runs jobs with almost no environment; it is marked with the
 * config path so install is idempotent and status/remove find it among the user's own lines.
 */
import { mkdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadConfig } from '../../config/config-file.js';
import { expandHome } from '../../core/peer-url.js';
import { buildEntryLine, withEntry, withoutEntry } from '../../schedule/cron-entry.js';
import { readCrontab, writeCrontab } from '../../schedule/crontab-program.js';
import { cronScheduleFor } from '../../schedule/duration.js';
import { scheduleState } from '../../schedule/schedule-state.js';
import { cronDaemonRunning, cronStartHint } from '../../schedule/scheduler-hints.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface InstallOptions extends GlobalOptions {
  every?: string;
  log?: string;
}

interface StatusOptions extends GlobalOptions {
  json?: boolean;
}

/** The CLI entry point cron must run: this installation's main.js, whatever path it was started by. */
export const CLI_ENTRY = fileURLToPath(new URL('../main.js', import.meta.url));

/** Environment a scheduled sync needs to behave as it does interactively (only if set now). */
const CARRIED_ENV = ['RESONANCE_SYNC_SSH', 'RESONANCE_SYNC_CONNECT_TIMEOUT', 'RESONANCE_SYNC_STALL_TIMEOUT', 'RESONANCE_SYNC_SQLITE'];

/** `$XDG_STATE_HOME/resonance-sync/sync.log`, else `~/.local/state/resonance-sync/sync.log`. */
export function defaultLogPath(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME;
  const base = state && isAbsolute(state) ? state : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'resonance-sync', 'sync.log');
}

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('run sync from cron: install, show or remove the crontab entry');
  // main.ts overrides exits only on top-level commands; nested ones must not call process.exit.
  schedule.exitOverride();
  schedule
    .command('install')
    .description('add (or update) a crontab entry that syncs with every enabled peer')
    .option('--every <interval>', 'how often: 1m-30m dividing an hour, 1h 2h 3h 4h 6h 8h 12h, or 1d', '2h')
    .option('--log <file>', "where the job's output goes (default: ~/.local/state/resonance-sync/sync.log)")
    .exitOverride()
    .action(async (_options: unknown, command: Command) => install(command.optsWithGlobals<InstallOptions>()));
  schedule
    .command('status')
    .description('show whether the entry is installed, how often it runs, and where it logs')
    .option('--json', 'print machine-readable status')
    .exitOverride()
    .action(async (_options: unknown, command: Command) => status(command.optsWithGlobals<StatusOptions>()));
  schedule
    .command('remove')
    .description('remove the entry (other crontab lines are kept as they are)')
    .exitOverride()
    .action(async (_options: unknown, command: Command) => remove(command.optsWithGlobals<GlobalOptions>()));
}

async function install(options: InstallOptions): Promise<void> {
  const context = new CliContext(options);
  const cron = cronScheduleFor(options.every ?? '2h');
  // Cron has no terminal to ask on: the config must exist and name the database now.
  const config = loadConfig(context.configPath, { mustExist: true });
  context.databasePath(config, undefined);
  const logPath = resolve(expandHome(options.log ?? defaultLogPath()));
  mkdirSync(dirname(logPath), { recursive: true });
  const env = Object.fromEntries(CARRIED_ENV.flatMap((name) => (process.env[name] ? [[name, process.env[name] ?? '']] : [])));
  const line = buildEntryLine({
    expression: cron.expression,
    nodePath: process.execPath,
    cliPath: CLI_ENTRY,
    configPath: context.configPath,
    logPath,
    pathEnv: cronPath(process.env.PATH),
    env,
  });
  const edit = withEntry(await readCrontab(), context.configPath, line);
  if (edit.changed) await writeCrontab(edit.text);
  context.print(
    `${edit.changed ? 'installed' : 'already installed, unchanged'}: sync every ${cron.every} (${cron.expression}) with the enabled peers of ${context.configPath}`,
  );
  context.print(`  output goes to ${logPath}; history: resonance-sync log`);
  if (!config.peers.some((peer) => peer.enabled))
    context.print('  note: no enabled peers yet; add one with resonance-sync peer add NAME URL');
  if (cronDaemonRunning() === false)
    process.stderr.write(`resonance-sync: note: no cron daemon is running, so the entry will not run; ${cronStartHint()}\n`);
}

/** This shell's PATH for the job, without repeats or relative entries (cron's cwd is home, not here). */
function cronPath(path: string | undefined): string {
  const dirs = [...new Set((path ?? '').split(':').filter((dir) => isAbsolute(dir)))];
  return dirs.length > 0 ? dirs.join(':') : '/usr/local/bin:/usr/bin:/bin';
}

async function status(options: StatusOptions): Promise<void> {
  const context = new CliContext(options);
  const state = await scheduleState(context.configPath);
  if (options.json) return context.printJson(state);
  if (!state.installed) {
    context.print(`not installed for ${state.configPath}; add it with: resonance-sync schedule install --every 2h`);
  } else {
    context.print(`installed: sync every ${state.every} (${state.expression}) with the enabled peers of ${state.configPath}`);
    context.print(`  output: ${state.logPath ?? '?'}${lastWritten(state.logPath)}`);
    for (const path of state.missing) context.print(`  BROKEN: ${path} no longer exists; run resonance-sync schedule install again`);
  }
  const daemon = state.cronDaemonRunning;
  context.print(
    `  cron daemon: ${daemon === null ? 'cannot tell whether one is running' : daemon ? 'running' : `not running (${cronStartHint()})`}`,
  );
  for (const other of state.otherConfigs) context.print(`  another entry syncs ${other}`);
}

function lastWritten(logPath: string | null): string {
  if (logPath === null) return '';
  try {
    const stat = statSync(logPath);
    return stat.size === 0 ? ' (empty: no errors so far)' : ` (${stat.size} bytes, last written ${stat.mtime.toISOString()})`;
  } catch {
    return ' (not written yet)';
  }
}

async function remove(options: GlobalOptions): Promise<void> {
  const context = new CliContext(options);
  const edit = withoutEntry(await readCrontab(), context.configPath);
  if (edit.changed) await writeCrontab(edit.text);
  context.print(edit.removed > 0 ? `removed the entry for ${context.configPath}` : `no entry for ${context.configPath}; nothing to remove`);
}
