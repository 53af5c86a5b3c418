/**
 * The agent's side of a session (`resonance-sync serve --stdio`): announces itself, checks the
 * client's HELLO, opens the served database through the seam (a Replica) and answers requests until the client closes stdin. Every
 * failure goes back as an ERROR frame with its SyncError code; stdout carries nothing but the
 * protocol. The database is opened only after the handshake, so even "not found" travels typed.
 */
import { hostname } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { isNodeName, toNodeName } from '../core/node-name.js';
import { checkReport, checkedApplyRequest } from '../core/feed-checks.js';
import { ExitCode, SyncError, asSyncError, type ExitCodeValue } from '../core/errors.js';
import type { FeedBatch, Replica } from '../core/replica.js';
import { requireDatabasePath } from '../store/database-path.js';
import { acquireSyncLock, type SyncLock } from '../store/lock.js';
import type { DedupeMode } from '../store/prepare.js';
import type { NaiveTimestamps } from '../core/timestamps.js';
import { Reader } from './reader.js';
import { FrameStream, writeFrame } from './channel.js';
import * as m from './messages.js';
import { ErrorScope, MessageType, PROTOCOL_VERSION, messageName, preambleLine, type Frame } from './protocol.js';
import { servedDatabase } from './served-database.js';
import { packageVersion } from '../core/version.js';
import { trace } from '../core/trace.js';

export interface ServeOptions {
  input: Readable;
  output: Writable;
  /** The database to serve (`--db`), as given; `~/` means the home directory. */
  db: string | undefined;
  /** Serve only this database (`--allow-db`, for authorized_keys forced commands). */
  allowDb: string | undefined;
  readOnly: boolean;
  /** Names the node if the database gets prepared now (`--name`). */
  name: string | undefined;
  /** This machine's own node settings, when its config names the served database. */
  nodeSettings: (path: string) => { name?: string | undefined; naiveTimestamps?: NaiveTimestamps; dedupe?: DedupeMode };
  /** Opens the served database (a LocalReplica in the CLI): the server knows only the seam. */
  openReplica: (path: string, options: ServedReplicaOptions) => Replica;
}

export interface ServedReplicaOptions {
  /** Prepare the database if it is not yet, naming the node this. */
  prepareAs: { nodeName: string; dedupe?: DedupeMode } | undefined;
  /** A dry run (HELLO's prepare false): a database never prepared is previewed under a provisional identity, unwritten. */
  previewAs?: { nodeName: string } | undefined;
  naiveTimestamps?: NaiveTimestamps;
}

interface OpenFeed {
  batches: AsyncIterator<FeedBatch>;
  credit: number;
}

export async function serveAgent(options: ServeOptions): Promise<ExitCodeValue> {
  const session = new AgentSession(options);
  try {
    return await session.run();
  } finally {
    await session.close();
  }
}

class AgentSession {
  private readonly stream: FrameStream;
  private replica: Replica | undefined;
  /** The served file's real path, for messages. */
  private location: string | undefined;
  private lock: SyncLock | undefined;
  private feed: OpenFeed | undefined;

  constructor(private readonly options: ServeOptions) {
    this.stream = new FrameStream(options.input, { preamble: false });
    // A vanished client shows up as EPIPE here; the pending write reports it, and nothing may crash.
    options.output.on('error', () => undefined);
  }

  async run(): Promise<ExitCodeValue> {
    trace('serve: preamble');
    this.options.output.write(preambleLine(packageVersion()));
    try {
      const first = await this.stream.next();
      if (first === undefined) return ExitCode.ok;
      trace('serve: hello received');
      await this.open(first);
      trace('serve: welcome sent');
      for (;;) {
        if (this.feed && this.feed.credit > 0 && this.stream.queued === 0) {
          await this.pumpFeed(this.feed);
          continue;
        }
        const frame = await this.stream.next();
        if (frame === undefined) {
          trace('serve: eof');
          return ExitCode.ok;
        }
        trace(`serve: got ${messageName(frame.type)}`);
        await this.handle(frame);
        trace(`serve: handled ${messageName(frame.type)}`);
      }
    } catch (thrown) {
      // Fatal: tell the client why (if it still listens), then stop.
      const error = asSyncError(thrown);
      await this.sendError(ErrorScope.request, error).catch(() => undefined);
      return error.exitCode;
    }
  }

  async close(): Promise<void> {
    await this.feed?.batches.return?.().catch(() => undefined);
    this.feed = undefined;
    await this.replica?.close();
    this.replica = undefined;
    this.lock?.release();
    this.lock = undefined;
  }

  private async open(frame: Frame): Promise<void> {
    if (frame.type !== MessageType.HELLO)
      throw new SyncError('PROTOCOL_ERROR', `expected HELLO from the client, got ${messageName(frame.type)}`);
    // The version comes first and is read alone: the rest of a foreign HELLO may mean something else.
    const protocol = new Reader(frame.payload).uint();
    if (protocol !== PROTOCOL_VERSION) {
      throw new SyncError(
        'PROTOCOL_VERSION',
        `the client speaks agent protocol ${protocol}, this agent (resonance-sync ${packageVersion()}) speaks ${PROTOCOL_VERSION}; install the same resonance-sync version on both machines`,
      );
    }
    const hello = m.decode(frame.payload, m.readHello);
    const path = servedDatabase(hello, this.options);
    const writable = hello.prepare && !this.options.readOnly;
    // Before the lock: a missing file, a directory or a symlink loop gets its own line and no lock file beside it.
    requireDatabasePath(path, {
      notFound: () =>
        new SyncError(
          'DB_NOT_FOUND',
          `database not found: ${path} (check the path in the peer URL, or create it there with: resonance-sync init --create --db ${path})`,
        ),
    });
    const settings = this.options.nodeSettings(path);
    // Like a local peer: one sync per database at a time, and the lock covers preparing it.
    this.lock = writable ? acquireSyncLock(path) : undefined;
    // The client's suggestion is remote input: used only when it is a proper node name.
    const suggested = hello.nodeName !== undefined && isNodeName(hello.nodeName) ? hello.nodeName : undefined;
    const nodeName = this.options.name ?? settings.name ?? suggested ?? toNodeName(hostname());
    this.replica = this.options.openReplica(path, {
      prepareAs: writable ? { nodeName, ...(settings.dedupe ? { dedupe: settings.dedupe } : {}) } : undefined,
      previewAs: hello.prepare ? undefined : { nodeName },
      ...(settings.naiveTimestamps ? { naiveTimestamps: settings.naiveTimestamps } : {}),
    });
    trace('serve: database opened');
    const location = (await this.replica.info()).location;
    this.location = location;
    await this.send(MessageType.WELCOME, (w) => m.writeWelcome(w, { location, readOnly: this.options.readOnly }));
  }

  private async handle(frame: Frame): Promise<void> {
    const replica = this.replica as Replica;
    try {
      switch (frame.type) {
        case MessageType.INFO: {
          m.decode(frame.payload, () => undefined);
          const info = await replica.info();
          return await this.send(MessageType.INFO_OK, (w) => m.writeInfo(w, info));
        }
        case MessageType.CURSOR: {
          const request = m.decode(frame.payload, m.readCursorRequest);
          const cursor = await replica.cursor(request.senderId, request.routeKey);
          return await this.send(MessageType.CURSOR_OK, (w) => w.uint(cursor));
        }
        case MessageType.APPLY: {
          // What a client asks us to store is checked like any batch a receiver gets (core/feed-checks.ts).
          const request = checkedApplyRequest(m.decode(frame.payload, m.readApply), 'the client');
          this.refuseIfReadOnly('receive entries');
          const result = await replica.apply(request);
          return await this.send(MessageType.APPLY_OK, (w) => m.writeApplyResult(w, result));
        }
        case MessageType.DIGEST: {
          const request = m.decode(frame.payload, m.readDigestRequest);
          const result = await replica.digest(request);
          return await this.send(MessageType.DIGEST_OK, (w) => m.writeDigestResult(w, result));
        }
        case MessageType.ROWS_BY_HASH: {
          const request = m.decode(frame.payload, m.readRowsByHash);
          const rows = await replica.rowsByHash(request.route, request.columns, request.hashes, request.hash);
          return await this.send(MessageType.ROWS_BY_HASH_OK, (w) => m.writeRows(w, rows));
        }
        case MessageType.LOG: {
          const record = m.decode(frame.payload, m.readExchange);
          // The client's own name for itself: used only when it is a proper node name.
          if (!isNodeName(record.peer)) throw new SyncError('PROTOCOL_ERROR', `a LOG for ${JSON.stringify(record.peer)}, not a node name`);
          // A read-only agent writes nothing, its history included.
          if (!this.options.readOnly) await replica.recordExchange?.(record);
          return await this.send(MessageType.LOG_OK);
        }
        case MessageType.FINISH: {
          const report = m.decode(frame.payload, m.readReport);
          checkReport(report, 'the client');
          this.refuseIfReadOnly('record a sync');
          await replica.finishReceiving(report);
          return await this.send(MessageType.FINISH_OK);
        }
        default:
          return await this.handleFeedControl(frame, replica);
      }
    } catch (thrown) {
      const error = asSyncError(thrown);
      if (error.code === 'PROTOCOL_ERROR' || error.code === 'CONNECTION_LOST') throw error;
      await this.sendError(ErrorScope.request, error);
    }
  }

  private async handleFeedControl(frame: Frame, replica: Replica): Promise<void> {
    switch (frame.type) {
      case MessageType.FEED_OPEN: {
        const { request, credit } = m.decode(frame.payload, m.readFeedOpen);
        if (this.feed) throw new SyncError('PROTOCOL_ERROR', 'the client opened a second feed before the first ended');
        this.feed = { batches: replica.readFeed(request)[Symbol.asyncIterator](), credit };
        return;
      }
      case MessageType.FEED_CREDIT: {
        const more = m.decode(frame.payload, (r) => r.uint());
        // Credit may arrive after the feed ended; it is simply not needed any more.
        if (this.feed) this.feed.credit += more;
        return;
      }
      case MessageType.FEED_CANCEL: {
        m.decode(frame.payload, () => undefined);
        const feed = this.feed;
        if (!feed) return; // it ended already, and its FEED_END is on the way
        this.feed = undefined;
        await feed.batches.return?.();
        return await this.send(MessageType.FEED_END);
      }
      default:
        throw new SyncError('PROTOCOL_ERROR', `unexpected ${messageName(frame.type)} from the client`);
    }
  }

  /** Sends the next batch (or the end of the feed); called only while the client has room. */
  private async pumpFeed(feed: OpenFeed): Promise<void> {
    let next: IteratorResult<FeedBatch>;
    try {
      next = await feed.batches.next();
    } catch (thrown) {
      this.feed = undefined;
      return await this.sendError(ErrorScope.feed, asSyncError(thrown));
    }
    if (next.done) {
      this.feed = undefined;
      return await this.send(MessageType.FEED_END);
    }
    feed.credit--;
    const batch = next.value;
    trace(`serve: feed batch read (${batch.rows.length} entries)`);
    // Not awaited at once: the next batch is read while this one is compressed and sent (writeFrame
    // keeps frames in order). One write in flight at a time keeps memory at a couple of batches.
    const written = writeFrame(
      this.options.output,
      m.frameOf(MessageType.FEED_BATCH, (w) => m.writeBatch(w, batch), m.batchSizeHint(batch.bytes, batch.rows.length)),
    );
    trace('serve: feed batch encoded');
    written.catch(() => undefined); // awaited below, on the next batch
    const previous = this.feedWrite;
    this.feedWrite = written;
    await previous;
  }

  private refuseIfReadOnly(action: string): void {
    if (this.options.readOnly) {
      throw new SyncError(
        'REMOTE_READ_ONLY',
        `the remote serves ${this.location ?? 'its database'} read-only (serve --read-only), so it cannot ${action}; sync this peer with --pull-only`,
      );
    }
  }

  /** The last feed batch handed to writeFrame; its failure surfaces with the next batch or the end. */
  private feedWrite: Promise<void> = Promise.resolve();

  private send(type: number, write?: Parameters<typeof m.frameOf>[1]): Promise<void> {
    return writeFrame(this.options.output, m.frameOf(type, write));
  }

  private sendError(scope: ErrorScope, error: SyncError): Promise<void> {
    return this.send(MessageType.ERROR, (w) => m.writeError(w, { scope, code: error.code, message: error.message }));
  }
}
