/**
 * One ssh connection to a `resonance-sync serve --stdio` agent: the handshake (skip any shell banner,
 * check the protocol version, HELLO/WELCOME), then requests answered in order plus at most one feed
 * running beside them (see src/protocol/protocol.ts). When the connection breaks, every waiting call
 * fails with the same typed error, derived from ssh's exit status and stderr. Once the agent has
 * announced itself, every wait on it runs under the stall watchdog (ssh/stall-watchdog.ts), except
 * verify's whole-table scans (DIGEST, ROWS_BY_HASH): the agent answers those only when done, after a
 * time that grows with the database (35 s for 1M notes on a desktop, more on a phone), and the protocol
 * has no way to say "still working" meanwhile.
 */
import { ErrorScope, MessageType, PROTOCOL_VERSION, messageName, type Frame, type Welcome } from '../../protocol/protocol.js';
import { FrameStream, writeFrame } from '../../protocol/channel.js';
import * as m from '../../protocol/messages.js';
import type { Reader } from '../../protocol/reader.js';
import type { Writer } from '../../protocol/writer.js';
import { packageVersion } from '../../core/version.js';
import { SyncError, isErrorCode } from '../../core/errors.js';
import type { ReplicaInfo } from '../../core/replica.js';
import { connectTimeoutSeconds, destinationOf, sshFailure, stderrTail } from '../ssh/ssh-command.js';
import type { AgentBundle } from './agent-bundle.js';
import { agentCommand, type AgentCommandOptions } from './agent-command.js';
import { LauncherGate } from './launcher-gate.js';
import { launcherUnavailable, type AgentSource } from './agent-source.js';
import { startSsh, type SshProcess } from '../ssh/ssh-process.js';
import { trace } from '../../core/trace.js';
import { StallWatchdog, stallTimeoutMs, stalledError } from '../ssh/stall-watchdog.js';

export interface AgentConnectOptions extends AgentCommandOptions {
  env?: NodeJS.ProcessEnv;
  /** Aborting closes the connection at once. */
  signal?: AbortSignal | undefined;
  /** The configured stall timeout (peer, else global), if any; RESONANCE_SYNC_STALL_TIMEOUT overrides it. */
  stallTimeoutMs?: number | undefined;
  /**
   * HELLO (which makes the agent take the remote's sync lock) waits for this: ssh connects and the
   * agent starts meanwhile, while this side locks and opens its own database. A rejection ends the
   * connection with that error.
   */
  ready?: Promise<void> | undefined;
  /**
   * The cursor the sync will ask for first (its push cursor on the agent), known once `ready` settles:
   * asked right behind the handshake's INFO, so its answer follows at once instead of a round trip
   * later. Undefined (or returning undefined): nothing is asked ahead.
   */
  firstCursor?: (() => CursorKey | undefined) | undefined;
}

/** Which cursor: the sender's node id and the route's key. */
export interface CursorKey {
  senderId: string;
  routeKey: string;
}

/** What a request's wait is for, in stall messages. */
const ACTIONS = new Map<number, string>([
  [MessageType.INFO, 'reading it'],
  [MessageType.CURSOR, 'reading its cursor'],
  [MessageType.APPLY, 'writing a batch'],
  [MessageType.FINISH, 'recording the sync'],
  [MessageType.LOG, 'logging the sync'],
  [MessageType.DIGEST, 'computing digests'],
  [MessageType.ROWS_BY_HASH, 'reading entries to repair'],
]);

export interface RequestOptions {
  /** The remote reads its whole table before answering (verify): no stall timeout on the answer. */
  scansWholeTable?: boolean;
}

/** How long an interrupted sync may take to reach a batch boundary before the connection is cut. */
const ABORT_GRACE_MS = 10_000;

type Pending = { resolve(frame: Frame): void; reject(error: Error): void };

/** What a failed connect leaves for the auto mode's fallback line: the agent's stderr and how far it got. */
export interface AgentStartFailure {
  /** The agent never announced itself (missing, failed to start, or the launcher could not run one). */
  beforeAgent: boolean;
  source: AgentSource | undefined;
  stderrTail: string;
}
const startFailures = new WeakMap<Error, AgentStartFailure>();

export function agentStartFailure(error: unknown): AgentStartFailure | undefined {
  return error instanceof Error ? startFailures.get(error) : undefined;
}

export class AgentConnection {
  readonly destination: string;
  welcome: Welcome = { location: '', readOnly: false };
  private readonly process: SshProcess;
  private readonly stream: FrameStream;
  private readonly watchdog: StallWatchdog;
  /** Requests written and not yet answered, oldest first. */
  private readonly pending: Pending[] = [];
  private feedSink: ((frame: Frame | Error) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private broken: SyncError | undefined;
  private closing = false;
  private started = false;
  private junk = '';
  /** Which agent answered, once known (the launcher says; a configured command is the user's). */
  source: AgentSource | undefined;
  /** Bytes of the single file sent in this connection (0 when the remote's cache had it). */
  uploadedBytes = 0;
  private readonly bundle: AgentBundle | undefined;
  private readonly hello: Buffer;
  private unavailable: { reason: string; detail: string } | undefined;
  /** INFO, sent with the handshake; handed out once (takeEarlyInfo). */
  private earlyInfo: Promise<ReplicaInfo> | undefined;
  /** The cursor asked with the handshake (firstCursor); handed out once (takeEarlyCursor). */
  private earlyCursor: { key: CursorKey; answer: Promise<number> } | undefined;
  /** Settles when HELLO is on its way: an upload must come after it (the launcher skips it first). */
  private helloWritten: Promise<void>;
  private markHelloWritten: () => void = () => undefined;
  private removedCorrupt: string | undefined;

  private constructor(private readonly options: AgentConnectOptions) {
    const env = options.env ?? process.env;
    this.destination = destinationOf(options.location);
    // Checked before ssh starts: a bad RESONANCE_SYNC_STALL_TIMEOUT must not leave a connection behind.
    const timeoutMs = stallTimeoutMs(env, options.stallTimeoutMs);
    this.helloWritten = new Promise((resolve) => (this.markHelloWritten = resolve));
    const { argv, hello, bundle } = agentCommand(options, env);
    this.hello = hello;
    this.bundle = bundle;
    if (options.remoteCommand !== undefined) this.source = { kind: 'configured', path: options.remoteCommand, version: undefined };
    this.process = startSsh(argv, env);
    const stdout =
      options.remoteCommand !== undefined
        ? this.process.child.stdout
        : new LauncherGate(this.process.child.stdout, (e) => this.onLauncher(e.event, e.detail)).output;
    this.stream = new FrameStream(stdout, { preamble: true });
    this.watchdog = new StallWatchdog({
      timeoutMs,
      output: this.process.child.stdin,
      onStall: (action) => {
        const error = stalledError(this.destination, this.watchdog.timeoutMs, action);
        void this.breakWith(error);
        return error;
      },
    });
    // Beside FrameStream's own listener: counts arrivals without changing how the stream flows.
    this.process.child.stdout.on('data', () => this.watchdog.progress());
  }

  static async connect(options: AgentConnectOptions): Promise<AgentConnection> {
    const connection = new AgentConnection(options);
    try {
      await connection.handshake();
      return connection;
    } catch (error) {
      connection.watchdog.stop();
      const outcome = await connection.process.kill();
      if (error instanceof Error) {
        startFailures.set(error, { beforeAgent: !connection.started, source: connection.source, stderrTail: stderrTail(outcome.stderr) });
      }
      throw error;
    }
  }

  /** A line from the launcher (launcher.ts), before the agent starts. */
  private onLauncher(event: string, detail: string): void {
    const stdin = this.process.child.stdin;
    const space = detail.indexOf(' ');
    const [word, rest] = space === -1 ? [detail, ''] : [detail.slice(0, space), detail.slice(space + 1)];
    if (event === 'upload' && this.bundle) {
      // The remote skips the HELLO sent ahead, takes exactly the file, then the agent reads HELLO again.
      const bytes = this.bundle.bytes;
      this.uploadedBytes = bytes.length;
      void this.helloWritten.then(() => {
        stdin.write(bytes);
        stdin.write(this.hello);
      });
    } else if (event === 'exec') {
      const kind = word === 'installed' ? 'installed' : 'uploaded';
      this.source = { kind, path: rest, version: undefined, ...(word === 'uploaded' ? { uploadedNow: true } : {}) };
    } else if (event === 'unavailable') {
      this.unavailable = { reason: word, detail: rest };
    } else if (event === 'corrupt') {
      this.removedCorrupt = detail;
    }
  }

  /** The answer to the INFO sent during the handshake, the first time; undefined after that. */
  takeEarlyInfo(): Promise<ReplicaInfo> | undefined {
    const early = this.earlyInfo;
    this.earlyInfo = undefined;
    return early;
  }

  /** The cursor asked during the handshake and its answer, the first time; undefined after that. */
  takeEarlyCursor(): { key: CursorKey; answer: Promise<number> } | undefined {
    const early = this.earlyCursor;
    this.earlyCursor = undefined;
    return early;
  }

  /** The agent's cursor for what it received from `key.senderId` along `key.routeKey`. */
  cursor(key: CursorKey): Promise<number> {
    return this.request(
      MessageType.CURSOR,
      (w) => m.writeCursorRequest(w, key),
      MessageType.CURSOR_OK,
      (r) => r.uint(),
    );
  }

  /** A cached agent that failed its hash and was deleted (and replaced), if any. */
  get replacedCorrupt(): string | undefined {
    return this.removedCorrupt;
  }

  private async handshake(): Promise<void> {
    const { location } = this.options;
    // ssh is connecting already; HELLO waits only for this side to be ready to sync.
    if (this.options.ready) await this.withinDeadline(this.options.ready);
    // Sent before the agent answers: ssh buffers it, and the handshake costs one round trip less.
    this.process.child.stdin.write(this.hello);
    this.markHelloWritten();
    // Until the agent announces itself, ssh is connecting and logging in: nothing can arrive yet, so
    // that is bounded as a whole (unreachable); after it, the agent must keep making progress.
    const seconds = connectTimeoutSeconds(this.options.env ?? process.env) * 3;
    const found = await this.withinDeadline(this.stream.preamble, seconds);
    trace('agent: preamble received');
    if (!found.ok) {
      this.junk = found.junk;
      throw await this.failure();
    }
    // No launcher line before the preamble: sshd ran a forced command (authorized_keys) instead of ours.
    if (this.source === undefined) this.source = { kind: 'forced command', path: undefined, version: undefined };
    this.source.version = found.preamble.version;
    if (found.preamble.protocol !== PROTOCOL_VERSION) {
      const upgradeWhere = found.preamble.protocol < PROTOCOL_VERSION ? `on ${location.host}` : 'on this machine';
      throw new SyncError(
        'PROTOCOL_VERSION',
        `protocol mismatch: resonance-sync ${found.preamble.version} on ${this.destination} speaks agent protocol ${found.preamble.protocol}, this resonance-sync ${packageVersion()} speaks ${PROTOCOL_VERSION}; upgrade resonance-sync ${upgradeWhere}`,
      );
    }
    this.started = true;
    // Opening the database may prepare it on first contact (7 s for 1M notes on a desktop): a wait on
    // a working remote, so the stall timeout bounds it rather than the connect deadline. Watched before
    // the requests below, so that a stall here is named for it.
    const welcome = this.withinDeadline(this.awaitRemote(this.stream.next(), 'opening the database'));
    // The agent runs, so no launcher reads our stdin any more: INFO goes now, and its answer follows
    // WELCOME at once instead of a round trip later (answers come in order; the replica's first
    // info() takes it). Its wait runs under the stall watchdog like the WELCOME's.
    this.earlyInfo = this.request(MessageType.INFO, undefined, MessageType.INFO_OK, m.readInfo);
    this.earlyInfo.catch(() => undefined); // a failed connect rejects it with nobody left to ask
    // Likewise the cursor the sync reads first: it travels with INFO, and its answer right behind.
    const key = this.options.firstCursor?.();
    if (key) {
      this.earlyCursor = { key: { senderId: key.senderId, routeKey: key.routeKey }, answer: this.cursor(key) };
      this.earlyCursor.answer.catch(() => undefined); // likewise
    }
    const first = await welcome;
    if (first === undefined) throw await this.failure();
    if (first.type === MessageType.ERROR) throw this.remoteError(first);
    if (first.type !== MessageType.WELCOME)
      throw new SyncError('PROTOCOL_ERROR', `expected WELCOME from ${this.destination}, got ${messageName(first.type)}`);
    this.welcome = m.decode(first.payload, m.readWelcome);
    trace('agent: welcome received');
    void this.dispatch();
  }

  /** Waits for the agent while connecting, but not forever: a hung ssh or a silent remote is "unreachable". */
  private async withinDeadline<T>(promise: Promise<T>, seconds?: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const signal = this.options.signal;
    const stop = new Promise<never>((_, reject) => {
      if (seconds !== undefined) {
        const unreachable = new SyncError(
          'PEER_UNREACHABLE',
          `no answer from the agent on ${this.destination} within ${seconds} s; skipped`,
        );
        timer = setTimeout(() => reject(unreachable), seconds * 1000);
      }
      onAbort = () => reject(new SyncError('INTERRUPTED', `interrupted while connecting to ${this.destination}`));
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([promise, stop]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Routes each frame from the agent to the feed or to the waiting request, until the stream ends. */
  private async dispatch(): Promise<void> {
    // The engine stops at the next batch boundary and closes us cleanly; this only cuts a connection
    // that stays stuck after an interrupt (the batch in flight commits or rolls back as one either way).
    let abortTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      abortTimer = setTimeout(
        () => void this.breakWith(new SyncError('INTERRUPTED', `interrupted; the connection to ${this.destination} was closed`)),
        ABORT_GRACE_MS,
      );
      abortTimer.unref();
    };
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const frame = await this.stream.next();
        if (frame === undefined) break;
        const forFeed =
          frame.type === MessageType.FEED_BATCH ||
          frame.type === MessageType.FEED_END ||
          (frame.type === MessageType.ERROR && frame.payload[0] === ErrorScope.feed);
        const target = forFeed ? this.feedSink : this.pending[0]?.resolve;
        // An error nobody asked about is the agent giving up (its last word before exiting).
        if (!target && frame.type === MessageType.ERROR) throw this.remoteError(frame);
        if (!target) throw new SyncError('PROTOCOL_ERROR', `unexpected ${messageName(frame.type)} from the agent on ${this.destination}`);
        if (!forFeed) this.pending.shift();
        target(frame);
      }
      if (!this.closing) await this.breakWith(await this.failure());
    } catch (error) {
      // A malformed frame speaks for itself; a stream cut short is explained by ssh's exit status.
      const own = error instanceof SyncError && error.code !== 'CONNECTION_LOST';
      await this.breakWith(own ? error : await this.failure());
    } finally {
      clearTimeout(abortTimer);
      this.options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async breakWith(error: SyncError): Promise<void> {
    if (this.broken) return;
    this.broken = error;
    this.watchdog.stop();
    for (const pending of this.pending.splice(0)) pending.reject(error);
    this.feedSink?.(error);
    if (this.process.running) await this.process.kill();
  }

  /** Why the agent went away, from ssh's exit status (waiting for it briefly). */
  private async failure(): Promise<SyncError> {
    // Cut by us (a stall): that is the reason, whatever ssh's exit status says.
    if (this.broken) return this.broken;
    if (this.unavailable) return launcherUnavailable(this.destination, this.unavailable.reason, this.unavailable.detail);
    const outcome = await Promise.race([
      this.process.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000).unref()),
    ]);
    const final = outcome ?? (await this.process.kill());
    return sshFailure(final, {
      location: this.options.location,
      started: this.started,
      junk: this.junk,
      remoteCommand: this.options.remoteCommand,
    });
  }

  remoteError(frame: Frame): SyncError {
    const error = m.decode(frame.payload, m.readError);
    // A newer agent may know codes we do not; they still fail as a remote error, message intact.
    return new SyncError(isErrorCode(error.code) ? error.code : 'REMOTE_ERROR', `${this.destination}: ${error.message}`);
  }

  /**
   * Waits for something the agent must produce (an answer, a feed frame, room for what we send) under
   * the stall watchdog: fails with PEER_STALLED, and the connection is cut, if nothing moves for the
   * stall timeout.
   */
  awaitRemote<T>(wait: Promise<T>, action: string): Promise<T> {
    return this.watchdog.watch(wait, action);
  }

  /**
   * One request and its answer. Each is written at once, behind those before it, and answers come
   * back in the order of their requests (the agent handles one frame at a time), so a caller may ask
   * the next question before the last one is answered: the handshake sends its INFO and first
   * CURSOR together, and pays one round trip for both.
   */
  request<T>(
    type: number,
    write: ((w: Writer) => void) | undefined,
    answer: number,
    read: (reader: Reader) => T,
    options: RequestOptions = {},
  ): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.broken) throw this.broken;
      trace(`agent: request ${messageName(type)}`);
      const reply = new Promise<Frame>((resolve, reject) => this.pending.push({ resolve, reject }));
      // If sending fails, the reply is rejected too, with nobody left to await it.
      reply.catch(() => undefined);
      if (options.scansWholeTable) {
        await this.send(type, write);
        return this.answer(await reply, answer, read);
      }
      // The wait for the answer is watched before the send's own, so it is the oldest and names a
      // stall ("writing a batch"); the frame itself is handed to the pipe now, in call order.
      let sent: Promise<void> = Promise.resolve();
      const exchange = Promise.resolve().then(async () => {
        await sent;
        return reply;
      });
      const watched = this.awaitRemote(exchange, ACTIONS.get(type) ?? `waiting for ${messageName(answer)}`);
      sent = this.send(type, write);
      sent.catch(() => undefined); // awaited by the exchange
      return this.answer(await watched, answer, read);
    };
    const result = run();
    // close() waits for every request asked so far.
    this.queue = Promise.all([this.queue, result.catch(() => undefined)]);
    return result;
  }

  private answer<T>(frame: Frame, answer: number, read: (reader: Reader) => T): T {
    trace(`agent: answer ${messageName(frame.type)}`);
    if (frame.type === MessageType.ERROR) throw this.remoteError(frame);
    if (frame.type !== answer)
      throw new SyncError('PROTOCOL_ERROR', `expected ${messageName(answer)} from ${this.destination}, got ${messageName(frame.type)}`);
    return m.decode(frame.payload, read);
  }

  async send(type: number, write?: (w: Writer) => void, sizeHint?: number): Promise<void> {
    if (this.broken) throw this.broken;
    try {
      // A full pipe waits for the agent to take our bytes: a frozen agent never does.
      await this.awaitRemote(writeFrame(this.process.child.stdin, m.frameOf(type, write, sizeHint)), 'sending to it');
    } catch {
      // The write side noticed first; the real reason comes from ssh's exit.
      await this.breakWith(await this.failure());
      throw this.broken;
    }
  }

  /** Receives the open feed's frames (and a connection failure); undefined when no feed is open. */
  setFeedSink(sink: ((frame: Frame | Error) => void) | undefined): void {
    this.feedSink = sink;
    if (sink && this.broken) sink(this.broken);
  }

  get brokenError(): SyncError | undefined {
    return this.broken;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    trace('agent: close');
    this.closing = true;
    // Let queued requests finish first; then EOF tells the agent to close its database and exit.
    await this.queue;
    this.watchdog.stop();
    await this.process.close();
  }
}
