/**
 * `resonance-sync schedule install|status|remove`: a crontab entry that runs `sync` with every
 * enabled peer of one config file. The entry names absolute paths for node, the CLI, the config and
 * the log, and carries PATH, because cron runs jobs with almost no environment; it is marked with the
 * config path so install is idempotent and status/remove find it among the user's own lines.
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadConfig } from '../../config/config-file.js';
import { runningBundled } from '../../core/version.js';
import { expandHome } from '../../core/peer-url.js';
import { buildCommand, buildEntryLine, withEntry, withoutEntry, type EntrySpec } from '../../schedule/cron-entry.js';
import { readCrontab, SchedulerUnavailable, writeCrontab } from '../../schedule/crontab-program.js';
import { cronScheduleFor } from '../../schedule/duration.js';
import { jobScript, jobScriptPath, scheduleState, type ScheduleState } from '../../schedule/schedule-state.js';
import { cancelJob, enableCrond, installJob, jobIdFor, MIN_JOB_PERIOD_MS, termuxScheduler } from '../../schedule/termux.js';
import { cronDaemonRunning, cronStartHint } from '../../schedule/scheduler-hints.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface InstallOptions extends GlobalOptions {
  every?: string;
  log?: string;
}

interface StatusOptions extends GlobalOptions {
  json?: boolean;
}

/**
 * The file cron must run, whatever path this run was started by: from the package's single file, the
 * installed command beside it (bin/resonance-sync.mjs: the compile cache and the early ssh too); that
 * single file when it runs on its own (say, one copied to a phone); main.js in the tsc build. (The
 * single file once named `../main.js` here too, a file no package has: every entry installed from the
 * installed command pointed nowhere.)
 */
function scheduledProgram(): string {
  if (!runningBundled()) return fileURLToPath(new URL('../main.js', import.meta.url));
  const file = fileURLToPath(import.meta.url);
  const installed = join(dirname(file), '..', 'bin', 'resonance-sync.mjs');
  return existsSync(installed) ? installed : file;
}

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
  const spec = {
    expression: cron.expression,
    nodePath: process.execPath,
    cliPath: scheduledProgram(),
    configPath: context.configPath,
    logPath,
    pathEnv: cronPath(process.env.PATH),
    env,
  };
  const termux = termuxScheduler();
  if (termux === 'termux-job-scheduler') return installTermuxJob(context, spec, cron);
  const line = buildEntryLine(spec);
  const edit = withEntry(await readCrontab(), context.configPath, line);
  if (edit.changed) await writeCrontab(edit.text);
  context.print(
    `${edit.changed ? 'installed' : 'already installed, unchanged'}: sync every ${cron.every} (${cron.expression}) with the enabled peers of ${context.configPath}`,
  );
  context.print(`  output goes to ${logPath}; history: resonance-sync log`);
  if (!config.peers.some((peer) => peer.enabled))
    context.print('  note: no enabled peers yet; add one with resonance-sync peer add NAME URL');
  if (termux === 'cronie') for (const done of enableCrond()) context.print(`  ${done}`);
  else if (cronDaemonRunning() === false)
    process.stderr.write(`resonance-sync: note: no cron daemon is running, so the entry will not run; ${cronStartHint()}\n`);
}

/** Termux without cronie: Android's JobScheduler runs a script with the same command (at most every 15 minutes). */
function installTermuxJob(context: CliContext, spec: EntrySpec, cron: { every: string; expression: string }): void {
  const script = jobScriptPath(spec.configPath);
  mkdirSync(dirname(script), { recursive: true });
  writeFileSync(script, jobScript(buildCommand(spec), cron.every, spec.configPath), { mode: 0o755 });
  const periodMs = everyMs(cron.every);
  const scheduled = installJob({ configPath: spec.configPath, script, periodMs });
  if (!scheduled.ok)
    throw new SchedulerUnavailable(
      `termux-job-scheduler refused the job (${scheduled.output}); is the Termux:API app installed? or run resonance-sync daemon`,
    );
  const shown = periodMs < MIN_JOB_PERIOD_MS ? '15m (Android runs jobs no more often)' : cron.every;
  context.print(
    `installed: sync every ${shown} with the enabled peers of ${spec.configPath}, via termux-job-scheduler (job ${jobIdFor(spec.configPath)})`,
  );
  context.print(`  script ${script}; output goes to ${spec.logPath}; history: resonance-sync log`);
}

/** "2h" as milliseconds (the interval forms cronScheduleFor accepts: Nm, Nh, 1d). */
function everyMs(every: string): number {
  const match = /^(\d+)([mhd])$/.exec(every);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[(match?.[2] ?? 'h') as 'm' | 'h' | 'd'];
  return Number(match?.[1] ?? 2) * unit;
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
  context.print(`  ${schedulerLine(state)}`);
  for (const other of state.otherConfigs) context.print(`  another entry syncs ${other}`);
}

/** Which scheduler runs the entry, and whether it really is running. */
function schedulerLine(state: ScheduleState): string {
  const running = state.schedulerRunning;
  const said = state.schedulerDetail ? ` (${state.schedulerDetail})` : '';
  if (state.scheduler === 'termux-job-scheduler')
    return `scheduler: termux-job-scheduler: ${running === null ? `cannot tell whether the job is pending${said}` : running ? `job pending${said}` : `job NOT pending${said}; run resonance-sync schedule install again`}`;
  if (state.scheduler === 'cronie')
    return `scheduler: cronie under termux-services: crond ${running === null ? `cannot tell${said}` : running ? `running${said}` : `NOT running${said}; ${cronStartHint()}`}`;
  return `cron daemon: ${running === null ? 'cannot tell whether one is running' : running ? 'running' : `not running (${cronStartHint()})`}`;
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
  if (termuxScheduler() === 'termux-job-scheduler') {
    const script = jobScriptPath(context.configPath);
    const had = existsSync(script);
    cancelJob(context.configPath);
    rmSync(script, { force: true });
    context.print(
      had ? `removed the termux-job-scheduler job for ${context.configPath}` : `no job for ${context.configPath}; nothing to remove`,
    );
    return;
  }
  const edit = withoutEntry(await readCrontab(), context.configPath);
  if (edit.changed) await writeCrontab(edit.text);
  context.print(edit.removed > 0 ? `removed the entry for ${context.configPath}` : `no entry for ${context.configPath}; nothing to remove`);
}
