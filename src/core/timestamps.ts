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
  if (typeof value === 'string') {
    // Every received entry's time is read (sync_tracking): the common shapes skip the pattern.
    const common = commonShapeMillis(value, naive);
    if (common !== NOT_COMMON) return common;
  }
  return parseByPattern(value, naive);
}

/** commonShapeMillis's answer for a text it leaves to parseByPattern. */
const NOT_COMMON = null;

const DIGIT_0 = 48;
const digitAt = (text: string, at: number): number => {
  const digit = text.charCodeAt(at) - DIGIT_0;
  return digit >= 0 && digit <= 9 ? digit : Number.NaN;
};
const twoDigits = (text: string, at: number): number => digitAt(text, at) * 10 + digitAt(text, at + 1);

/**
 * The shapes agents write most, read by character codes: `YYYY-MM-DD HH:MM:SS` (or `T`), then
 * optionally `.` or `,` and 1-9 digits, then `Z`, `+00:00`, or no zone when naive times are UTC.
 * Gives exactly what parseByPattern gives for them (undefined for an impossible field included;
 * test/unit/timestamps.test.ts compares the two), and NOT_COMMON for every other text.
 */
function commonShapeMillis(text: string, naive: NaiveTimestamps): number | undefined | typeof NOT_COMMON {
  if (
    text.length < 19 ||
    text.charCodeAt(4) !== 45 ||
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(13) !== 58 ||
    text.charCodeAt(16) !== 58
  )
    return NOT_COMMON;
  const separator = text.charCodeAt(10);
  if (separator !== 32 && separator !== 84) return NOT_COMMON;
  const year = twoDigits(text, 0) * 100 + twoDigits(text, 2);
  const month = twoDigits(text, 5);
  const day = twoDigits(text, 8);
  const hour = twoDigits(text, 11);
  const minute = twoDigits(text, 14);
  const second = twoDigits(text, 17);
  // NaN (a character that is no digit) fails every comparison, so test for it explicitly.
  if (Number.isNaN(year + month + day + hour + minute + second)) return NOT_COMMON;
  let at = 19;
  let millis = 0;
  const mark = text.charCodeAt(at);
  if (mark === 46 || mark === 44) {
    let digits = 0;
    for (let digit = digitAt(text, at + 1); digits < 10 && !Number.isNaN(digit); digit = digitAt(text, at + 1 + digits)) {
      // Milliseconds: the first three digits, as the pattern reads them (padded, the rest cut).
      if (digits < 3) millis += digit * 10 ** (2 - digits);
      digits++;
    }
    if (digits < 1 || digits > 9) return NOT_COMMON;
    at += 1 + digits;
  }
  const zone = text.slice(at);
  if (zone === '' ? naive !== 'utc' : zone !== 'Z' && zone !== '+00:00') return NOT_COMMON;
  if (month - 1 > 11 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis);
}

/**
 * The general reader of every shape parseTimestamp accepts (parseTimestamp itself first tries
 * commonShapeMillis, which must agree with this).
 */
export function parseByPattern(value: SqlValue, naive: NaiveTimestamps): number | undefined {
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
