/**
 * The doctor's view of unattended runs: is there a crontab entry for this config, do the programs it
 * runs still exist, and is a cron daemon there to run it. A missing entry is only a warning, since
 * `resonance-sync daemon` under a service manager is an equally good way to run unattended.
 */
import { NO_SCHEDULER_EXIT, SchedulerUnavailable } from '../schedule/crontab-program.js';
import { scheduleState, type ScheduleState } from '../schedule/schedule-state.js';
import { cronStartHint } from '../schedule/scheduler-hints.js';
import { fail, ok, warn, type CheckResult } from './check.js';

export async function checkSchedule(configPath: string, env: NodeJS.ProcessEnv = process.env): Promise<CheckResult[]> {
  let state: ScheduleState;
  try {
    state = await scheduleState(configPath, env);
  } catch (error) {
    if (error instanceof SchedulerUnavailable) return [warn('schedule', error.message, undefined)];
    return [warn('schedule', `cannot read the crontab: ${error instanceof Error ? error.message : String(error)}`, undefined)];
  }
  if (!state.installed) {
    return [
      warn(
        'schedule',
        `no crontab entry syncs ${configPath}`,
        'resonance-sync schedule install --every 2h, or run resonance-sync daemon under a service manager',
      ),
    ];
  }
  if (state.missing.length > 0) {
    return [
      fail(
        'schedule',
        `the crontab entry runs ${state.missing.join(' and ')}, which no longer exist`,
        'resonance-sync schedule install (rewrites the entry with the current paths)',
        {
          code: 'NO_SCHEDULER',
          exitCode: NO_SCHEDULER_EXIT,
        },
      ),
    ];
  }
  const results = [
    ok(
      'schedule',
      `every ${state.every} (${state.expression ?? state.scheduler}) via ${state.scheduler}; output to ${state.logPath ?? '?'}`,
    ),
  ];
  if (state.schedulerRunning === false)
    results.push(warn('cron daemon', 'no cron daemon is running, so the entry never runs', cronStartHint(env)));
  return results;
}
