/**
 * Lines that may end up in a log file rather than on a screen. `--quiet` is how the cron job runs
 * (`sync --quiet >> sync.log 2>&1`, schedule/cron-entry.ts), so with it every line written starts
 * with its ISO 8601 time: a log whose lines carry no time cannot say when a run failed.
 */

/** UTC, to the second: `2025-06-01T14:00:03Z`. */
export function isoStamp(now = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** One error line on stderr, stamped when quiet. */
export function writeErrorLine(line: string, quiet: boolean): void {
  process.stderr.write(quiet ? `${isoStamp()} ${line}\n` : `${line}\n`);
}
