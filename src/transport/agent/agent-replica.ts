/**
 * A Replica on another machine, reached through `ssh HOST resonance-sync serve --stdio --db PATH`.
 * Both directions of a sync share the one connection. Each pushed batch is committed by the remote
 * together with its cursor (LocalReplica.apply there), so a connection lost at any instant loses
 * nothing and duplicates nothing: the next run resumes after the last committed batch.
 */
import { formatPeerUrl } from '../../core/peer-url.js';
import { SyncError } from '../../core/errors.js';
import * as m from '../../protocol/messages.js';
import { FEED_CREDIT, MessageType, messageName, type Frame } from '../../protocol/protocol.js';
import { AgentConnection, type AgentConnectOptions } from './connection.js';
import type { Route } from '../../core/route.js';
import type { ApplyRequest, ApplyResult, DigestRequest, DigestResult, FeedBatch, FeedRequest, FeedRow, ReceiveReport, Replica, ReplicaInfo } from '../../core/replica.js';

export type { AgentConnectOptions } from './connection.js';

export class AgentReplica implements Replica {
  private feedOpen = false;

  private constructor(
    private readonly connection: AgentConnection,
    private readonly options: AgentConnectOptions,
  ) {}

  static async connect(options: AgentConnectOptions): Promise<AgentReplica> {
    return new AgentReplica(await AgentConnection.connect(options), options);
  }

  /** Whether the remote refuses writes (`serve --read-only`). */
  get readOnly(): boolean {
    return this.connection.welcome.readOnly;
  }

  /** A remote database: nothing here can ATTACH it. */
  attachable(): undefined {
    return undefined;
  }

  /** Rows from elsewhere reach a remote only through apply. */
  receiveDirect(): undefined {
    return undefined;
  }

  async info(): Promise<ReplicaInfo> {
    const info = await this.connection.request(MessageType.INFO, undefined, MessageType.INFO_OK, m.readInfo);
    // Host-qualified: the same path on two machines is two databases, not "the same database".
    return { ...info, location: formatPeerUrl({ ...this.options.location, path: info.location, homeRelative: false }) };
  }

  cursor(senderId: string, routeKey: string): Promise<number> {
    return this.connection.request(MessageType.CURSOR, (w) => m.writeCursorRequest(w, { senderId, routeKey }), MessageType.CURSOR_OK, (r) => r.uint());
  }

  apply(request: ApplyRequest): Promise<ApplyResult> {
    return this.connection.request(MessageType.APPLY, (w) => m.writeApply(w, request), MessageType.APPLY_OK, m.readApplyResult);
  }

  digest(request: DigestRequest): Promise<DigestResult> {
    // Verify's digests read the whole table before the agent answers: no stall timeout (connection.ts).
    return this.connection.request(MessageType.DIGEST, (w) => m.writeDigestRequest(w, request), MessageType.DIGEST_OK, m.readDigestResult, {
      scansWholeTable: true,
    });
  }

  rowsByHash(route: Route, columns: string[], hashes: string[]): Promise<FeedRow[]> {
    return this.connection.request(MessageType.ROWS_BY_HASH, (w) => m.writeRowsByHash(w, { route, columns, hashes }), MessageType.ROWS_BY_HASH_OK, m.readRows, {
      scansWholeTable: true,
    });
  }

  async finishReceiving(report: ReceiveReport): Promise<void> {
    await this.connection.request(MessageType.FINISH, (w) => m.writeReport(w, report), MessageType.FINISH_OK, () => undefined);
  }

  /**
   * Streams the remote feed. The agent runs ahead by at most FEED_CREDIT batches: each batch taken
   * from here grants it one more, so a slow consumer slows the sender instead of filling memory.
   */
  async *readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch> {
    if (this.feedOpen) throw new SyncError('INTERNAL', 'one feed at a time per agent connection');
    this.feedOpen = true;
    const inbox = new Inbox();
    this.connection.setFeedSink((item) => inbox.push(item));
    let ended = false;
    try {
      await this.connection.send(MessageType.FEED_OPEN, (w) => m.writeFeedOpen(w, request, FEED_CREDIT));
      for (;;) {
        signal?.throwIfAborted();
        // We asked for this batch (the agent holds credit for it): silence here is a stalled agent.
        const frame = await this.connection.awaitRemote(inbox.next(), 'reading new entries');
        if (frame.type === MessageType.FEED_END || frame.type === MessageType.ERROR) {
          ended = true;
          if (frame.type === MessageType.ERROR) throw this.connection.remoteError(frame);
          return;
        }
        if (frame.type !== MessageType.FEED_BATCH) throw new SyncError('PROTOCOL_ERROR', `unexpected ${messageName(frame.type)} in a feed`);
        yield m.decode(frame.payload, m.readBatch);
        await this.connection.send(MessageType.FEED_CREDIT, (w) => w.uint(1));
      }
    } finally {
      if (!ended && !this.connection.brokenError) await this.cancelFeed(inbox);
      this.connection.setFeedSink(undefined);
      this.feedOpen = false;
    }
  }

  /** The consumer stopped early: tell the agent, and skip what it sent meanwhile up to the feed's end. */
  private async cancelFeed(inbox: Inbox): Promise<void> {
    try {
      await this.connection.send(MessageType.FEED_CANCEL);
      for (;;) {
        const frame = await this.connection.awaitRemote(inbox.next(), 'ending the feed');
        if (frame.type === MessageType.FEED_END || frame.type === MessageType.ERROR) return;
      }
    } catch {
      // The connection broke meanwhile; every later call reports that.
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** The feed's frames in arrival order; a connection failure is delivered as an Error and thrown. */
class Inbox {
  private readonly items: Array<Frame | Error> = [];
  private wake: (() => void) | undefined;

  push(item: Frame | Error): void {
    this.items.push(item);
    this.wake?.();
    this.wake = undefined;
  }

  async next(): Promise<Frame> {
    while (this.items.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    const item = this.items.shift() as Frame | Error;
    if (item instanceof Error) {
      // Keep it: whoever asks next (say, cancelFeed) must see the failure too, not wait forever.
      this.items.unshift(item);
      throw item;
    }
    return item;
  }
}
