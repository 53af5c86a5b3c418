/**
 * The intervals the schedule accepts (durations as people type them, see core/duration.ts), and the
 * subset cron can express. Cron has no "every N" beyond steps that divide the next
 * unit evenly: `*\/45` minutes would run at :00 and :45, then :00 again 15 minutes later, so such
 * intervals are refused rather than silently scheduled unevenly.
 */
import { SyncError } from '../core/errors.js';
import { UNIT_MS, parseDuration, formatDuration } from '../core/duration.js';

export { parseDuration, formatDuration } from '../core/duration.js';

/** Rounded for log lines: "1h 5m", "2.5s". */
export function describeDelay(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(ms < 1000 ? 2 : 1)}s`;
  const totalSeconds = Math.round(ms / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return s > 0 && m < 10 ? `${m}m ${s}s` : `${m}m`;
}

export interface CronSchedule {
  /** The five cron fields, e.g. "0 *\/2 * * *". */
  expression: string;
  /** The canonical interval, e.g. "2h". */
  every: string;
}

const MINUTE_STEPS = [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30];
const HOUR_STEPS = [1, 2, 3, 4, 6, 8, 12];

export const CRON_INTERVALS = [...MINUTE_STEPS.map((m) => `${m}m`), ...HOUR_STEPS.map((h) => `${h}h`), '1d'];

/** The cron fields that run every `text`, or USAGE naming what cron can do instead. */
export function cronScheduleFor(text: string): CronSchedule {
  const ms = parseDuration(text, '--every');
  const minutes = ms / UNIT_MS.m;
  const hours = ms / UNIT_MS.h;
  if (MINUTE_STEPS.includes(minutes)) {
    return { expression: minutes === 1 ? '* * * * *' : `*/${minutes} * * * *`, every: `${minutes}m` };
  }
  if (HOUR_STEPS.includes(hours)) {
    // On the hour, as the users' own recipe had it (`0 */2 * * *`).
    return { expression: hours === 1 ? '0 * * * *' : `0 */${hours} * * *`, every: `${hours}h` };
  }
  if (hours === 24) return { expression: '0 0 * * *', every: '1d' };
  throw new SyncError(
    'USAGE',
    `cron cannot run something every ${formatDuration(ms)} evenly; use one of ${CRON_INTERVALS.join(' ')}, or run \`resonance-sync daemon --every ${formatDuration(ms)}\` instead`,
  );
}

/** The interval a cron expression written by cronScheduleFor stands for (for `schedule status`). */
export function describeCronExpression(expression: string): string | undefined {
  for (const every of CRON_INTERVALS) if (cronScheduleFor(every).expression === expression) return every;
  return undefined;
}
