/**
 * Reading the many timestamp shapes agents write. Stored timestamps are never rewritten: this is
 * used only to display times, to fill sync_tracking.last_sync_timestamp, and for status.
 */
import type { SqlValue } from './sql-value.js';

/** How to read a time with no zone: SQLite's CURRENT_TIMESTAMP is UTC, Python's datetime.now() is local. */
export type NaiveTimestamps = 'utc' | 'local';

const isoLike = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?$/;

/** The range a JS Date can hold; anything beyond is no time an agent meant. */
const MAX_DATE_MS = 8.64e15;

/** Milliseconds since the epoch, or undefined when the value is no recognisable time. */
export function parseTimestamp(value: SqlValue, naive: NaiveTimestamps = 'utc'): number | undefined {
  const millis = parseAnyTimestamp(value, naive);
  return millis !== undefined && Number.isFinite(millis) && Math.abs(millis) <= MAX_DATE_MS ? millis : undefined;
}

function parseAnyTimestamp(value: SqlValue, naive: NaiveTimestamps): number | undefined {
  if (typeof value === 'number' || typeof value === 'bigint') return fromEpochNumber(Number(value));
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d{9,13}(\.\d+)?$/.test(text)) return fromEpochNumber(Number(text));
  const match = isoLike.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', fraction = '', zone] = match;
  const millis = Number(fraction.padEnd(3, '0').slice(0, 3));
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), millis] as const;
  if (parts[1] > 11 || parts[2] < 1 || parts[2] > 31 || parts[3] > 23 || parts[4] > 59 || parts[5] > 60) return undefined;
  if (!zone) {
    return naive === 'local' ? new Date(...parts).getTime() : Date.UTC(...parts);
  }
  const utc = Date.UTC(...parts);
  if (/^(z|utc)$/i.test(zone)) return utc;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const offsetMinutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0');
  return utc - sign * offsetMinutes * 60_000;
}

/** Seconds since the epoch, or milliseconds when the number is too large to be seconds. */
function fromEpochNumber(value: number): number | undefined {
  if (!Number.isFinite(value) || value <= 0) return undefined;
  return value > 1e12 ? value : value * 1000;
}

/** ISO 8601 in UTC, e.g. 2025-11-30T22:00:00.123Z — one shape for humans and for comparison. */
export function normalizeTimestamp(value: SqlValue, naive: NaiveTimestamps = 'utc'): string | undefined {
  const millis = parseTimestamp(value, naive);
  return millis === undefined ? undefined : new Date(millis).toISOString();
}

/** The later of two normalized timestamps (ISO UTC strings compare correctly as text). */
export function laterOf(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a >= b ? a : b;
}

/** Now, in SQLite's CURRENT_TIMESTAMP shape (UTC), for the entries resonance-sync writes itself. */
export function sqliteNow(date: Date = new Date()): string {
  return date.toISOString().replace('T', ' ').slice(0, 19);
}
