/**
 * The reading half of the agent protocol's byte codec (format in protocol.ts): bounds-checked, so any
 * malformed input becomes a PROTOCOL_ERROR, never a crash, a huge allocation or a silently wrong value.
 */
import { SyncError } from '../core/errors.js';
import type { SqlValue } from '../core/sql-value.js';
import { ValueTag } from './protocol.js';

function malformed(what: string): SyncError {
  return new SyncError('PROTOCOL_ERROR', `malformed agent message (${what}); are both ends running resonance-sync?`);
}

export class Reader {
  private offset = 0;
  private readonly view: Buffer;

  constructor(payload: Uint8Array) {
    this.view = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  }

  /** Bytes of the payload not read yet. */
  get remaining(): number {
    return this.view.length - this.offset;
  }

  /**
   * A count of things that each take at least `minBytes` of what follows: refused before anything is
   * allocated for them when the rest of the payload cannot hold that many.
   */
  count(minBytes: number, what: string): number {
    const count = this.uint();
    if (count * minBytes > this.remaining) throw malformed(`${count} ${what} cannot fit in the ${this.remaining} bytes left`);
    return count;
  }

  private take(bytes: number, what: string): number {
    if (bytes > this.view.length - this.offset) throw malformed(`${what} runs past the end of the frame`);
    const at = this.offset;
    this.offset += bytes;
    return at;
  }

  u8(): number {
    return this.view[this.take(1, 'a byte')] as number;
  }

  bool(): boolean {
    const byte = this.u8();
    if (byte > 1) throw malformed(`boolean ${byte}`);
    return byte === 1;
  }

  uint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; ; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      scale *= 0x80;
      if (i >= 7) throw malformed('an integer is too long');
    }
    if (!Number.isSafeInteger(value)) throw malformed('an integer exceeds 2^53');
    return value;
  }

  /**
   * A zigzag LEB128 of at most 7 bytes (49 bits, exact in a double) as a number; undefined, with
   * nothing read, when it is longer. Most values are small: this spares them bigint arithmetic per byte.
   */
  private smallSint(): number | undefined {
    const start = this.offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      scale *= 0x80;
    }
    this.offset = start;
    return undefined;
  }

  /** sint() as a number (a rowid delta; beyond 2^53 it is inexact, as Number() of the bigint is). */
  sintNumber(): number {
    return this.smallSint() ?? Number(this.sint());
  }

  sint(): bigint {
    const small = this.smallSint();
    if (small !== undefined) return BigInt(small);
    let value = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.u8();
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7n;
      if (shift > 63n) throw malformed('an INTEGER is too long');
    }
    const decoded = value & 1n ? -((value + 1n) >> 1n) : value >> 1n;
    if (decoded > 0x7fffffffffffffffn || decoded < -0x8000000000000000n) throw malformed('an INTEGER exceeds 64 bits');
    return decoded;
  }

  f64(): number {
    return this.view.readDoubleBE(this.take(8, 'a REAL'));
  }

  string(): string {
    const header = this.uint();
    const bytes = Math.floor(header / 2);
    const utf16 = header % 2 === 1;
    if (utf16 && bytes % 2 === 1) throw malformed('odd UTF-16 length');
    const at = this.take(bytes, 'a string');
    return this.view.toString(utf16 ? 'utf16le' : 'utf8', at, at + bytes);
  }

  optionalString(): string | undefined {
    return this.bool() ? this.string() : undefined;
  }

  /** A list of strings; `max`, when given, bounds how many (checked before reading any). */
  strings(max = Number.MAX_SAFE_INTEGER): string[] {
    const count = this.count(1, 'strings');
    if (count > max) throw malformed(`${count} strings where at most ${max} fit`);
    const values: string[] = [];
    for (let i = 0; i < count; i++) values.push(this.string());
    return values;
  }

  bytes(): Uint8Array {
    const length = this.uint();
    const at = this.take(length, 'a BLOB');
    // A copy: the frame's memory may be shared with the rest of the stream.
    return new Uint8Array(this.view.subarray(at, at + length));
  }

  value(): SqlValue {
    const tag = this.u8();
    switch (tag) {
      case ValueTag.null:
        return null;
      case ValueTag.integer:
        return this.sint();
      case ValueTag.real:
        return this.f64();
      case ValueTag.text:
        return this.string();
      case ValueTag.blob:
        return this.bytes();
      default:
        throw malformed(`value tag ${tag}`);
    }
  }

  /** Every message is read to its last byte; leftovers mean the two ends disagree about the format. */
  end(): void {
    if (this.offset !== this.view.length) throw malformed(`${this.view.length - this.offset} unexpected trailing bytes`);
  }
}
