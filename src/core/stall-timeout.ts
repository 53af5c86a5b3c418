/**
 * The stall timeout's rule, shared by the config key `stall_timeout` and RESONANCE_SYNC_STALL_TIMEOUT:
 * how long an ssh peer may stay silent while we wait on it before the sync gives it up (PEER_STALLED).
 * The watchdog itself is transport/ssh/stall-watchdog.ts.
 */
import { DURATION_RULE, durationMs } from './duration.js';

/**
 * Well above the longest silence of a working remote during a sync (measured: preparing a 1M-note
 * database on first contact, 7 s on a desktop; a batch waiting out the remote's 10 s busy timeout),
 * and far under the hours between scheduled runs.
 */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

export const STALL_TIMEOUT_RULE = `${DURATION_RULE}, from 1s to 1d`;

/** Milliseconds, or undefined when `text` is not a duration from 1 s to 1 day. */
export function parseStallTimeout(text: string): number | undefined {
  const ms = durationMs(text);
  return ms !== undefined && ms >= 1000 && ms <= 86_400_000 ? ms : undefined;
}
