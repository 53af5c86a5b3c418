/**
 * Durations as people type them: `30m`, `2h`, `1d`, and `500ms`/`10s` for short waits and tests.
 * Used by the config (`stall_timeout`), environment variables and the schedule's `--every`.
 */
import { SyncError } from './errors.js';

export const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

/** What a duration looks like, for messages. */
export const DURATION_RULE = 'a whole number with a unit: ms, s, m, h or d (e.g. 30m, 2h, 1d)';

/** Milliseconds in `text` (`<whole number><ms|s|m|h|d>`, above zero); undefined when it is not one. */
export function durationMs(text: string): number | undefined {
  const match = /^\s*(\d{1,9})\s*(ms|s|m|h|d)\s*$/.exec(text);
  const amount = match ? Number(match[1]) : NaN;
  return match && amount > 0 ? amount * UNIT_MS[match[2] as Unit] : undefined;
}

/** Milliseconds in `text`, or USAGE naming `what` (the option or variable) and the accepted form. */
export function parseDuration(text: string, what: string): number {
  const ms = durationMs(text);
  if (ms === undefined) throw new SyncError('USAGE', `${what} must be ${DURATION_RULE}, not ${JSON.stringify(text)}`);
  return ms;
}

/** The shortest exact spelling: 7_200_000 -> "2h", 90_000 -> "90s". */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms >= UNIT_MS[unit] && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
