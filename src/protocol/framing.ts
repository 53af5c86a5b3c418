/**
 * Splitting a byte stream into frames, and finding the server's preamble behind whatever a remote
 * shell printed first. Both are incremental and accept input cut at any byte: pipes and ssh deliver
 * arbitrary chunks. Memory is bounded by one frame (checked against MAX_FRAME_BYTES from its header,
 * before buffering it) and by MAX_JUNK_BYTES of banner.
 */
import { SyncError } from '../core/errors.js';
import { firstNonBlankLine, visibleExcerpt } from '../core/excerpt.js';
import {
  FRAME_HEADER_BYTES,
  MAX_FRAME_BYTES,
  MAX_JUNK_BYTES,
  MAX_PREAMBLE_LINE,
  PREAMBLE_MAGIC,
  type Frame,
  type Preamble,
} from './protocol.js';

const EMPTY = Buffer.alloc(0);
/** How much of a banner is kept to quote in an error. */
const JUNK_PREVIEW_BYTES = 200;
const MAGIC = Buffer.from(PREAMBLE_MAGIC, 'latin1');

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Total size (header included) of the frame being assembled, once its header is in. */
  private expected: number | undefined;

  /** Bytes of an incomplete frame held back; non-zero at end of stream means it was cut short. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): Frame[] {
    if (chunk.byteLength > 0) {
      this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      this.buffered += chunk.byteLength;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.expected === undefined) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const length = this.peekHeader().readUInt32BE(0);
        if (length < 1) throw new SyncError('PROTOCOL_ERROR', 'agent frame without a message type');
        if (length > MAX_FRAME_BYTES) {
          throw new SyncError(
            'PROTOCOL_ERROR',
            `agent frame of ${length} bytes exceeds the ${MAX_FRAME_BYTES} byte limit; the stream is corrupt or not from resonance-sync`,
          );
        }
        this.expected = 4 + length;
      }
      if (this.buffered < this.expected) break;
      const bytes = this.take(this.expected);
      this.expected = undefined;
      frames.push({ type: bytes[4] as number, payload: bytes.subarray(FRAME_HEADER_BYTES) });
    }
    return frames;
  }

  private peekHeader(): Buffer {
    const first = this.chunks[0] as Buffer;
    return first.length >= FRAME_HEADER_BYTES ? first : Buffer.concat(this.chunks).subarray(0, FRAME_HEADER_BYTES);
  }

  /** The next `count` bytes: without copying when one chunk holds them all (the common case). */
  private take(count: number): Buffer {
    this.buffered -= count;
    const first = this.chunks[0] as Buffer;
    if (first.length >= count) {
      if (first.length === count) this.chunks.shift();
      else this.chunks[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = Buffer.allocUnsafe(count);
    let filled = 0;
    while (filled < count) {
      const chunk = this.chunks[0] as Buffer;
      const used = Math.min(chunk.length, count - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}

export interface PreambleFound {
  preamble: Preamble;
  /** Bytes after the preamble line: the start of the first frame. */
  rest: Buffer;
  junkBytes: number;
}

export class PreambleScanner {
  private pending = EMPTY;
  private discarded = 0;
  /** The first bytes discarded, kept raw: an excerpt must show a NUL or an escape, not drop it. */
  private head = EMPTY;

  /**
   * What was printed before the preamble (or instead of it): its first line that is not blank,
   * quoted and escaped for error messages (see core/excerpt.ts); '' when nothing but blanks came.
   */
  get junkPreview(): string {
    const line = firstNonBlankLine(Buffer.concat([this.head, this.pending]).subarray(0, JUNK_PREVIEW_BYTES));
    return line.length === 0 ? '' : visibleExcerpt(line);
  }

  get junkBytes(): number {
    return this.discarded + this.pending.length;
  }

  push(chunk: Uint8Array): PreambleFound | undefined {
    this.pending = this.pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
    const at = this.pending.indexOf(MAGIC);
    if (at === -1) {
      if (this.discarded + this.pending.length > MAX_JUNK_BYTES + MAGIC.length) throw this.tooMuchJunk();
      // Keep only a tail that could still be the start of the magic.
      const keep = Math.min(this.pending.length, MAGIC.length - 1);
      if (this.head.length < JUNK_PREVIEW_BYTES) {
        this.head = Buffer.concat([this.head, this.pending.subarray(0, this.pending.length - keep)]).subarray(0, JUNK_PREVIEW_BYTES);
      }
      this.discarded += this.pending.length - keep;
      this.pending = this.pending.subarray(this.pending.length - keep);
      return undefined;
    }
    if (this.discarded + at > MAX_JUNK_BYTES) throw this.tooMuchJunk();
    const lineStart = at + MAGIC.length;
    const newline = this.pending.indexOf(0x0a, lineStart);
    if (newline === -1) {
      if (this.pending.length - lineStart > MAX_PREAMBLE_LINE) throw badPreamble(this.pending.subarray(lineStart, lineStart + 40));
      return undefined;
    }
    const line = this.pending.toString('latin1', lineStart, newline);
    const match = /^([0-9]{1,6}) ([\x21-\x7e]{1,64})$/.exec(line);
    if (!match) throw badPreamble(this.pending.subarray(lineStart, newline));
    return {
      preamble: { protocol: Number(match[1]), version: match[2] as string },
      rest: this.pending.subarray(newline + 1),
      junkBytes: this.discarded + at,
    };
  }

  private tooMuchJunk(): SyncError {
    return new SyncError(
      'PROTOCOL_ERROR',
      `the remote printed more than ${MAX_JUNK_BYTES / 1024} KiB before resonance-sync started (a shell banner from ~/.bashrc or similar? make it print only for interactive shells, or check remote_command); it began: ${this.junkPreview}`,
    );
  }
}

function badPreamble(line: Buffer): SyncError {
  return new SyncError(
    'PROTOCOL_ERROR',
    `the remote agent announced itself in an unknown way (${visibleExcerpt(line)}); update resonance-sync on both ends`,
  );
}
