/**
 * Progress of a running sync, for a person watching it. On a terminal (stdout and stderr both TTYs,
 * not --quiet) a long sync shows one bar per peer and direction on stderr, with counts and rate; a
 * sync that ends within a moment shows none, so everyday runs stay as short as before. Without a
 * terminal nothing is drawn: cron logs and pipes get only the summary. With --verbose and no terminal,
 * a plain progress line every few seconds instead, so a slow unattended run can be followed in its log.
 *
 * The total is an estimate: the sender's rowids still ahead of the cursor, which routes may skip.
 */
import type { TransportKind } from '../core/replica.js';
import { createRequire } from 'node:module';
import type { MultiBar, SingleBar } from 'cli-progress';
import type { PeerConfig } from '../config/schema.js';
import type { ProgressEvent } from '../sync/engine.js';

export interface ProgressContext {
  quiet: boolean;
  verbose: boolean;
  /** Whether a person is watching: see isInteractive. */
  isTTY: boolean;
}

export interface ProgressOptions {
  stream?: NodeJS.WritableStream;
  now?: () => number;
  /** Bars appear only once a peer's sync has run this long (default 300 ms). */
  showAfterMs?: number;
  /** With --verbose and no terminal: the time between plain progress lines (default 5 s). */
  lineEveryMs?: number;
}

/** Arrow-function members, so they can be handed to syncPeers unbound. */
export interface ProgressReporter {
  onPeerStart: (peer: PeerConfig, transport: TransportKind) => void;
  onProgress: (event: ProgressEvent) => void;
  /** Removes the bars (call before printing the summary); idempotent. */
  finish: () => void;
}

/** Bars need cursor movement on the stream they are drawn on, and someone reading stdout. */
export function isInteractive(
  env: NodeJS.ProcessEnv = process.env,
  stdout: { isTTY?: boolean } = process.stdout,
  stderr: { isTTY?: boolean } = process.stderr,
): boolean {
  return Boolean(stdout.isTTY && stderr.isTTY) && env.TERM !== 'dumb';
}

interface DirectionState {
  startedAt: number;
  event: ProgressEvent;
  bar: SingleBar | undefined;
  lastLineAt: number;
}

/**
 * cli-progress is loaded only when bars are drawn: every process that imports the CLI (cron runs, and
 * the ssh agent a phone starts for each sync) would otherwise pay for loading it and never draw.
 */
function loadCliProgress(): typeof import('cli-progress') {
  return createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
}

/** Made when a bar or line is first drawn: an Intl formatter made at load cost every `sync` its set-up before ssh could start. */
let numberFormat: Intl.NumberFormat | undefined;
const number = {
  format(value: number): string {
    numberFormat ??= new Intl.NumberFormat('en-US');
    return numberFormat.format(value);
  },
};
const RENDER_EVERY_MS = 125;

function payloadOf(state: DirectionState, now: number) {
  const { event } = state;
  const seconds = Math.max((now - state.startedAt) / 1000, 0.001);
  return {
    label: `${event.peer} ${event.direction}`,
    sentText: number.format(event.sent),
    totalText: number.format(event.sent + event.remainingRowids),
    rate: number.format(Math.round(event.sent / seconds)),
    inserted: number.format(event.received),
    duplicates: number.format(event.duplicates),
  };
}

export function createProgress(context: ProgressContext, options: ProgressOptions = {}): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const showAfterMs = options.showAfterMs ?? 300;
  const lineEveryMs = options.lineEveryMs ?? 5000;
  const drawBars = context.isTTY && !context.quiet;
  const writeLines = context.verbose && !context.quiet && !drawBars;
  const directions = new Map<string, DirectionState>();
  let multibar: MultiBar | undefined;
  let peerStartedAt = now();
  let lastActivity = peerStartedAt;
  let finished = false;
  let renderedAt = 0;
  // A second Ctrl-C exits at once (interrupt.ts): give the terminal its line wrapping back.
  const restoreTerminal = () => stream.write('\x1B[?7h');

  const detail = (line: string) => {
    if (multibar) multibar.log(`${line}\n`);
    else stream.write(`${line}\n`);
  };

  const ensureMultibar = (): MultiBar => {
    if (multibar) return multibar;
    multibar = new (loadCliProgress().MultiBar)({
      stream,
      format: '{label} [{bar}] {percentage}% | {sentText}/~{totalText} entries | {rate}/s | {inserted} new, {duplicates} dup',
      barsize: 24,
      hideCursor: false, // a cursor left hidden by a killed process is worse than a visible one
      clearOnComplete: true, // the summary that follows is the record
      gracefulExit: false, // interrupt.ts owns SIGINT/SIGTERM
    });
    process.once('exit', restoreTerminal);
    return multibar;
  };

  /** Shows a finished direction at 100% (its estimate counted rowids that routes skipped). */
  const complete = (state: DirectionState) => {
    const done = Math.max(state.event.sent, 1);
    state.bar?.setTotal(done);
    state.bar?.update(done, payloadOf(state, now()));
  };

  const onPeerStart = (peer: PeerConfig, transport: TransportKind) => {
    for (const state of directions.values()) complete(state);
    peerStartedAt = lastActivity = now();
    if (context.verbose) detail(`${peer.name}: ${transport} ${peer.url}`);
  };

  const onProgress = (event: ProgressEvent) => {
    if (finished) return;
    const at = now();
    const key = `${event.peer}\0${event.direction}`;
    let state = directions.get(key);
    if (!state) {
      for (const other of directions.values()) complete(other);
      state = { startedAt: lastActivity, event, bar: undefined, lastLineAt: at };
      directions.set(key, state);
    }
    state.event = event;
    lastActivity = at;
    if (drawBars && at - peerStartedAt >= showAfterMs) {
      const total = event.sent + event.remainingRowids;
      if (!state.bar) state.bar = ensureMultibar().create(Math.max(total, 1), event.sent, payloadOf(state, at));
      else {
        state.bar.setTotal(Math.max(total, 1));
        state.bar.update(event.sent, payloadOf(state, at));
      }
      // cli-progress redraws from a timer, but a fast local sync can keep the event loop busy
      // with worker messages for seconds, starving timers: redraw from here, at most 8 times a second.
      if (at - renderedAt >= RENDER_EVERY_MS) {
        renderedAt = at;
        multibar?.update();
      }
    } else if (writeLines && (at - state.lastLineAt >= lineEveryMs || event.remainingRowids === 0)) {
      state.lastLineAt = at;
      const p = payloadOf(state, at);
      stream.write(`${p.label}: ${p.sentText} sent of ~${p.totalText}, ${p.inserted} new, ${p.duplicates} dup, ${p.rate}/s\n`);
    }
  };

  const finish = () => {
    if (finished) return;
    finished = true;
    if (multibar) {
      multibar.stop();
      process.off('exit', restoreTerminal);
    }
  };

  return { onPeerStart, onProgress, finish };
}
