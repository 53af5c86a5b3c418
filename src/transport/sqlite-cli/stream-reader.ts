/**
 * Pull-style reading of the remote session's stdout: lines (bounded, for headers) and exact byte
 * counts (to memory for small replies, or straight into a file for downloads, so memory stays flat
 * however big a delta is). Pulling through the stream's async iterator keeps ssh's output paused
 * while we are busy, which is the backpressure that slows the remote rather than filling memory.
 */
import { writeSync } from 'node:fs';
import type { Readable } from 'node:stream';

export class StreamEnded extends Error {
  constructor() {
    super('the remote output ended');
  }
}

export class StreamReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;

  /** `onBytes` hears of every chunk as it is taken from the stream (the stall watchdog's "progress"). */
  constructor(
    stream: Readable,
    private readonly onBytes: () => void = () => undefined,
  ) {
    this.chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Waits for more bytes; false at the end of the stream. */
  private async more(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.chunks.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.onBytes();
    this.pending = this.pending.length === 0 ? next.value : Buffer.concat([this.pending, next.value]);
    return true;
  }

  /**
   * The next line without its "\n"; undefined at the end of the stream. A line longer than
   * `maxBytes` is returned cut at that length with `cut` set, so a caller skipping junk stays bounded.
   */
  async readLine(maxBytes: number): Promise<{ line: Buffer; cut: boolean } | undefined> {
    for (;;) {
      const newline = this.pending.indexOf(0x0a);
      if (newline !== -1 && newline <= maxBytes) {
        const line = this.pending.subarray(0, newline);
        this.pending = this.pending.subarray(newline + 1);
        return { line, cut: false };
      }
      if (this.pending.length > maxBytes) {
        const line = this.pending.subarray(0, maxBytes);
        this.pending = this.pending.subarray(maxBytes);
        return { line, cut: true };
      }
      if (!(await this.more())) {
        if (this.pending.length === 0) return undefined;
        const line = this.pending;
        this.pending = Buffer.alloc(0);
        return { line, cut: false };
      }
    }
  }

  /** Exactly `size` bytes into memory. */
  async readExact(size: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    await this.consume(size, (part) => parts.push(part));
    return Buffer.concat(parts);
  }

  /** Exactly `size` bytes appended to an open file. */
  async copyExact(size: number, fd: number): Promise<void> {
    await this.consume(size, (part) => {
      for (let offset = 0; offset < part.length; ) offset += writeSync(fd, part, offset);
    });
  }

  private async consume(size: number, sink: (part: Buffer) => void): Promise<void> {
    let left = size;
    while (left > 0) {
      if (this.pending.length === 0 && !(await this.more())) throw new StreamEnded();
      const part = this.pending.subarray(0, Math.min(left, this.pending.length));
      this.pending = this.pending.subarray(part.length);
      left -= part.length;
      sink(part);
    }
  }
}
