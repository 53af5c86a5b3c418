/**
 * The writing half of the agent protocol's byte codec (format in protocol.ts): a growable buffer that
 * builds a whole frame in one piece (header slot reserved up front, so a 10 MB note is copied once).
 * SQL values keep their exact SQLite type: bigint is INTEGER, number is REAL, and every JS string,
 * even one with a lone surrogate, survives exactly.
 */
import { SyncError } from '../core/errors.js';
import type { SqlValue } from '../core/sql-value.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES, ValueTag } from './protocol.js';

const TWO_POW_32 = 1n << 32n;
/** Below this magnitude a zigzag value is exact in a double: sintNumber's arithmetic stays in numbers. */
const NUMBER_ZIGZAG_LIMIT = 2 ** 52;

/**
 * False when the string holds a lone surrogate, which UTF-8 cannot carry; such strings travel as
 * UTF-16LE instead. String.prototype.isWellFormed (ES2024, in every Node this runs on) answers a
 * one-byte string at once and scans others natively, where a `/\p{Surrogate}/u` test walked every
 * note's text in the regexp engine (about a tenth of encoding a batch).
 */
const isWellFormed = (value: string): boolean => (value as string & { isWellFormed(): boolean }).isWellFormed();

export class Writer {
  private buffer: Buffer;
  private length = FRAME_HEADER_BYTES;

  constructor(initialCapacity = 256) {
    this.buffer = Buffer.allocUnsafe(Math.max(initialCapacity, FRAME_HEADER_BYTES + 16));
  }

  private reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    if (needed > MAX_FRAME_BYTES + FRAME_HEADER_BYTES) {
      throw new SyncError(
        'PROTOCOL_ERROR',
        `a message would exceed the ${MAX_FRAME_BYTES / 1024 / 1024} MiB frame limit; lower the batch size (--batch-rows)`,
      );
    }
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }

  u8(value: number): this {
    this.reserve(1);
    this.buffer[this.length++] = value;
    return this;
  }

  bool(value: boolean): this {
    return this.u8(value ? 1 : 0);
  }

  /** Unsigned LEB128 for non-negative safe integers (rowids, counts, lengths). */
  uint(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new SyncError('INTERNAL', `cannot encode ${value} as an unsigned integer`);
    this.reserve(8);
    let rest = value;
    while (rest >= 0x80) {
      this.buffer[this.length++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buffer[this.length++] = rest;
    return this;
  }

  /** sint() of a safe integer (a rowid delta): the same bytes, without bigint arithmetic when it is not huge. */
  sintNumber(value: number): this {
    if (!Number.isSafeInteger(value)) throw new SyncError('INTERNAL', `cannot encode ${value} as an integer`);
    if (Math.abs(value) >= NUMBER_ZIGZAG_LIMIT) return this.sint(BigInt(value));
    return this.uint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  /** Zigzag LEB128 over bigint: small magnitudes stay small, and all 64-bit values are exact. */
  sint(value: bigint): this {
    let rest = value >= 0n ? value << 1n : (-value << 1n) - 1n;
    this.reserve(10);
    // Plain numbers below 2^32 are much cheaper than bigint arithmetic, and most values are small.
    while (rest >= TWO_POW_32) {
      this.buffer[this.length++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    let small = Number(rest);
    while (small >= 0x80) {
      this.buffer[this.length++] = (small & 0x7f) | 0x80;
      small >>>= 7;
    }
    this.buffer[this.length++] = small;
    return this;
  }

  f64(value: number): this {
    this.reserve(8);
    this.buffer.writeDoubleBE(value, this.length);
    this.length += 8;
    return this;
  }

  string(value: string): this {
    const utf16 = !isWellFormed(value);
    const bytes = utf16 ? value.length * 2 : Buffer.byteLength(value, 'utf8');
    this.uint(bytes * 2 + (utf16 ? 1 : 0));
    this.reserve(bytes);
    this.length += this.buffer.write(value, this.length, bytes, utf16 ? 'utf16le' : 'utf8');
    return this;
  }

  optionalString(value: string | undefined): this {
    this.bool(value !== undefined);
    return value === undefined ? this : this.string(value);
  }

  strings(values: readonly string[]): this {
    this.uint(values.length);
    for (const value of values) this.string(value);
    return this;
  }

  bytes(value: Uint8Array): this {
    this.uint(value.byteLength);
    this.reserve(value.byteLength);
    this.buffer.set(value, this.length);
    this.length += value.byteLength;
    return this;
  }

  value(value: SqlValue): this {
    if (value === null) return this.u8(ValueTag.null);
    if (typeof value === 'bigint') return this.u8(ValueTag.integer).sint(value);
    // A JS number is a REAL: exact integers always arrive as bigint (exactIntegers reads).
    if (typeof value === 'number') return this.u8(ValueTag.real).f64(value);
    if (typeof value === 'string') return this.u8(ValueTag.text).string(value);
    return this.u8(ValueTag.blob).bytes(value);
  }

  /** The finished frame: header filled in, sharing this writer's memory. */
  frame(type: number): Buffer {
    this.buffer.writeUInt32BE(this.length - 4, 0);
    this.buffer[4] = type;
    return this.buffer.subarray(0, this.length);
  }
}
