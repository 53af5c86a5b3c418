/**
 * Sits between ssh's stdout and the agent's FrameStream while the launcher (launcher.ts) runs: takes
 * out its `\0resonance-sync launcher …` lines and hands them to the connection, and passes everything
 * else through untouched (a shell banner, then the agent's preamble and frames). Once the agent's own
 * preamble has gone by, bytes are passed on without looking. Backpressure is kept: when the frame
 * reader stops taking bytes, ssh's stdout is paused.
 */
import { PassThrough, type Readable } from 'node:stream';
import { SyncError } from '../../core/errors.js';
import { visibleExcerpt } from '../../core/excerpt.js';
import { PREAMBLE_MAGIC } from '../../protocol/protocol.js';
import { LAUNCHER_MAGIC, parseLauncherLine, type LauncherEvent } from './launcher.js';

const COMMON = Buffer.from('\0resonance-sync ', 'latin1');
const LAUNCHER = Buffer.from(LAUNCHER_MAGIC, 'latin1');
const AGENT = Buffer.from(PREAMBLE_MAGIC, 'latin1');
/** A launcher line is short (an event and a path); anything longer is not one of ours. */
const MAX_LINE = 4096;

export class LauncherGate {
  readonly output = new PassThrough();
  private pending: Buffer = Buffer.alloc(0);
  private passing = false;

  constructor(
    input: Readable,
    private readonly onEvent: (event: LauncherEvent) => void,
  ) {
    input.on('data', (chunk: Buffer) => {
      if (this.passing) this.forward(input, chunk);
      else this.scan(input, chunk);
    });
    input.once('end', () => {
      if (this.pending.length > 0) this.output.write(this.pending);
      this.output.end();
    });
    input.once('error', (error) => this.output.destroy(error));
    this.output.on('drain', () => input.resume());
  }

  private forward(input: Readable, bytes: Buffer): void {
    if (bytes.length > 0 && !this.output.write(bytes)) input.pause();
  }

  private scan(input: Readable, chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const at = this.pending.indexOf(COMMON);
      if (at === -1) {
        // Keep a tail that could still begin one of the magics.
        const keep = Math.min(this.pending.length, COMMON.length - 1);
        this.forward(input, this.pending.subarray(0, this.pending.length - keep));
        this.pending = this.pending.subarray(this.pending.length - keep);
        return;
      }
      if (this.pending.length < at + Math.max(LAUNCHER.length, AGENT.length)) {
        this.forward(input, this.pending.subarray(0, at));
        this.pending = this.pending.subarray(at);
        return;
      }
      if (this.pending.subarray(at, at + AGENT.length).equals(AGENT)) {
        this.passing = true;
        this.forward(input, this.pending);
        this.pending = Buffer.alloc(0);
        return;
      }
      if (!this.pending.subarray(at, at + LAUNCHER.length).equals(LAUNCHER)) {
        this.forward(input, this.pending.subarray(0, at + 1));
        this.pending = this.pending.subarray(at + 1);
        continue;
      }
      const end = this.pending.indexOf(0x0a, at);
      if (end === -1) {
        if (this.pending.length - at > MAX_LINE) {
          this.output.destroy(
            new SyncError(
              'PROTOCOL_ERROR',
              `the agent launcher printed an overlong line: ${visibleExcerpt(this.pending.subarray(at, at + 80))}`,
            ),
          );
        }
        this.forward(input, this.pending.subarray(0, at));
        this.pending = this.pending.subarray(at);
        return;
      }
      this.forward(input, this.pending.subarray(0, at));
      const line = this.pending.toString('utf8', at + LAUNCHER.length, end);
      this.pending = this.pending.subarray(end + 1);
      this.onEvent(parseLauncherLine(line));
    }
  }
}
