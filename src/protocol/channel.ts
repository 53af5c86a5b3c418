/**
 * Frames over Node streams, for both ends: FrameStream reads a Readable (optionally finding the
 * preamble first) and hands out whole frames in order; writeFrame writes one and waits while the pipe
 * is full. Reading pauses the stream when frames pile up, so a peer that sends faster than we handle
 * fills its own pipe instead of our memory.
 */
import type { Readable, Writable } from 'node:stream';
import { SyncError } from '../core/errors.js';
import { COMPRESSED_FLAG, compressFrame, decompressFrame } from './compression.js';
import { FrameDecoder, PreambleScanner } from './framing.js';
import type { Frame, Preamble } from './protocol.js';

/** Frames held before the stream is paused (the credit window keeps feeds well below this). */
const HIGH_WATER_FRAMES = 8;

export type PreambleResult =
  | { ok: true; preamble: Preamble; junkBytes: number }
  /** The stream ended first: the caller decides why, e.g. from the ssh exit code. `junk` is PreambleScanner.junkPreview. */
  | { ok: false; junk: string; junkBytes: number };

interface Waiter {
  resolve(frame: Frame | undefined | Promise<Frame>): void;
  reject(error: Error): void;
}

export class FrameStream {
  readonly preamble: Promise<PreambleResult>;
  private readonly decoder = new FrameDecoder();
  private scanner: PreambleScanner | undefined;
  private settlePreamble: ((result: PreambleResult) => void) | undefined;
  private failPreamble: ((error: Error) => void) | undefined;
  /** In arrival order; a compressed frame is a promise until it is inflated (off the main thread). */
  private readonly frames: Array<Frame | Promise<Frame>> = [];
  private readonly waiters: Waiter[] = [];
  private ended = false;
  private failure: Error | undefined;

  constructor(
    private readonly input: Readable,
    options: { preamble: boolean },
  ) {
    this.scanner = options.preamble ? new PreambleScanner() : undefined;
    this.preamble = new Promise<PreambleResult>((resolve, reject) => {
      this.settlePreamble = resolve;
      this.failPreamble = reject;
    });
    // Nobody awaits the preamble on the server side; do not report its rejection as unhandled.
    this.preamble.catch(() => undefined);
    if (!this.scanner) this.settlePreamble?.({ ok: true, preamble: { protocol: 0, version: '' }, junkBytes: 0 });
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.once('end', () => this.onEnd());
    input.once('error', (error: Error) =>
      this.fail(new SyncError('CONNECTION_LOST', `reading from the agent failed: ${error.message}`, { cause: error })),
    );
  }

  /** Frames received and not yet taken. */
  get queued(): number {
    return this.frames.length;
  }

  /** The next frame; undefined once the stream ended cleanly between frames. */
  next(): Promise<Frame | undefined> {
    const frame = this.frames.shift();
    if (frame) {
      if (this.frames.length < HIGH_WATER_FRAMES / 2 && this.input.isPaused()) this.input.resume();
      return Promise.resolve(frame);
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private onData(chunk: Buffer): void {
    if (this.failure) return;
    try {
      let data: Uint8Array = chunk;
      if (this.scanner) {
        const found = this.scanner.push(chunk);
        if (!found) return;
        this.scanner = undefined;
        this.settlePreamble?.({ ok: true, preamble: found.preamble, junkBytes: found.junkBytes });
        data = found.rest;
      }
      for (const frame of this.decoder.push(data)) this.deliver(frame);
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private deliver(received: Frame): void {
    const frame = (received.type & COMPRESSED_FLAG) === 0 ? received : decompressFrame(received);
    // A corrupt frame fails whoever takes it; until then nobody must see an unhandled rejection.
    if (frame instanceof Promise) frame.catch(() => undefined);
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(frame);
    else {
      this.frames.push(frame);
      if (this.frames.length >= HIGH_WATER_FRAMES) this.input.pause();
    }
  }

  private onEnd(): void {
    if (this.scanner) {
      this.settlePreamble?.({ ok: false, junk: this.scanner.junkPreview, junkBytes: this.scanner.junkBytes });
      this.scanner = undefined;
    }
    if (this.decoder.pendingBytes > 0) {
      this.fail(
        new SyncError('CONNECTION_LOST', `the agent's output ended in the middle of a message (${this.decoder.pendingBytes} bytes)`),
      );
      return;
    }
    this.ended = true;
    for (const waiter of this.waiters.splice(0)) waiter.resolve(undefined);
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.failPreamble?.(error);
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
    // Whatever comes after a bad frame cannot be trusted; let the pipe drain so the peer is not stuck.
    this.input.resume();
  }
}

/** Each output's frames go out in the order they were handed over, however long compressing takes. */
const lastWrite = new WeakMap<Writable, Promise<unknown>>();

/**
 * Writes one frame (compressed when that pays, see compression.ts), in order behind the frames
 * handed over before it, and waits for the pipe to drain when it is full so memory stays flat.
 */
export function writeFrame(output: Writable, frame: Uint8Array): Promise<void> {
  const compressed = compressFrame(frame);
  const previous = lastWrite.get(output) ?? Promise.resolve();
  const written = Promise.all([compressed, previous]).then(([bytes]) => writeNow(output, bytes));
  lastWrite.set(
    output,
    written.catch(() => undefined),
  );
  return written;
}

function writeNow(output: Writable, frame: Uint8Array): Promise<void> {
  if (output.destroyed || output.writableEnded) {
    return Promise.reject(new SyncError('CONNECTION_LOST', 'the connection to the agent is closed'));
  }
  if (output.write(frame)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (error?: Error) => {
      output.off('drain', onDrain);
      output.off('close', onClose);
      output.off('error', onError);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new SyncError('CONNECTION_LOST', 'the connection to the agent closed while sending'));
    const onError = (error: Error) =>
      done(new SyncError('CONNECTION_LOST', `sending to the agent failed: ${error.message}`, { cause: error }));
    output.once('drain', onDrain);
    output.once('close', onClose);
    output.once('error', onError);
  });
}
