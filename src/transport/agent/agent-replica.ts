/**
 * A Replica on another machine, reached through `ssh HOST resonance-sync serve --stdio --db PATH`.
 * Both directions of a sync share the one connection. Each pushed batch is committed by the remote
 * together with its cursor (LocalReplica.apply there), so a connection lost at any instant loses
 * nothing and duplicates nothing: the next run resumes after the last committed batch.
 */
import { formatPeerUrl } from '../../core/peer-url.js';
import { SyncError } from '../../core/errors.js';
import * as m from '../../protocol/messages.js';
import type { Writer } from '../../protocol/writer.js';
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
    return this.connection.request(MessageType.DIGEST, (w) => m.writeDigestRequest(w, request), MessageType.DIGEST_OK, m.readDigestResult);
  }

  rowsByHash(route: Route, columns: string[], hashes: string[]): Promise<FeedRow[]> {
    // No more entries than hashes asked for, each as wide as the columns: checked before any is built.
    const expect = { maxRows: hashes.length, width: columns.length };
    const write = (w: Writer) => m.writeRowsByHash(w, { route, columns, hashes });
    return this.connection.request(MessageType.ROWS_BY_HASH, write, MessageType.ROWS_BY_HASH_OK, (r) => m.readRows(r, expect, this.peer));
  }

  async finishReceiving(report: ReceiveReport): Promise<void> {
    await this.connection.request(MessageType.FINISH, (w) => m.writeReport(w, report), MessageType.FINISH_OK, () => undefined);
  }

  /**
   * Streams the remote feed. The agent runs ahead by at most FEED_CREDIT batches: each batch taken
   * from here grants it one more, so a slow consumer slows the sender instead of filling memory. The
   * credit is enforced as frames arrive: a batch beyond it, or one that is not what was asked for
   * (more rows, other widths: checked before any row is built), breaks the connection with a
   * PROTOCOL_ERROR, so what an agent sends can never pile up here.
   */
  async *readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch> {
    if (this.feedOpen) throw new SyncError('INTERNAL', 'one feed at a time per agent connection');
    this.feedOpen = true;
    const inbox = new Inbox();
    const expect = { maxRows: request.maxRows, width: request.columns.length };
    let credit = FEED_CREDIT;
    // Runs as each frame arrives; what it throws ends the connection with that error (AgentConnection).
    this.connection.setFeedSink((item) => {
      if (item instanceof Error || item.type !== MessageType.FEED_BATCH) return inbox.push(item);
      if (credit === 0) {
        throw new SyncError('PROTOCOL_ERROR', `${this.peer} sent a feed batch beyond the ${FEED_CREDIT} it was given room for (flow control); refused`);
      }
      credit--;
      inbox.push(m.decode(item.payload, (r) => m.readBatch(r, expect, this.peer)));
    });
    let ended = false;
    try {
      await this.connection.send(MessageType.FEED_OPEN, (w) => m.writeFeedOpen(w, request, FEED_CREDIT));
      for (;;) {
        signal?.throwIfAborted();
        const item = await inbox.next();
        if (!('type' in item)) {
          yield item;
          // Counted before it is sent: the agent may answer with a batch before send() returns.
          credit++;
          await this.connection.send(MessageType.FEED_CREDIT, (w) => w.uint(1));
          continue;
        }
        if (item.type === MessageType.FEED_END || item.type === MessageType.ERROR) {
          ended = true;
          if (item.type === MessageType.ERROR) throw this.connection.remoteError(item);
          return;
        }
        throw new SyncError('PROTOCOL_ERROR', `unexpected ${messageName(item.type)} in a feed`);
      }
    } finally {
      if (!ended && !this.connection.brokenError) await this.cancelFeed(inbox);
      this.connection.setFeedSink(undefined);
      this.feedOpen = false;
    }
  }

  /** How messages name the agent. */
  private get peer(): string {
    return `the agent on ${this.connection.destination}`;
  }

  /** The consumer stopped early: tell the agent, and skip what it sent meanwhile up to the feed's end. */
  private async cancelFeed(inbox: Inbox): Promise<void> {
    try {
      await this.connection.send(MessageType.FEED_CANCEL);
      for (;;) {
        const item = await inbox.next();
        if ('type' in item && (item.type === MessageType.FEED_END || item.type === MessageType.ERROR)) return;
      }
    } catch {
      // The connection broke meanwhile; every later call reports that.
    }
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** A feed batch (decoded on arrival) or the frame that ends the feed. */
type FeedItem = FeedBatch | Frame;

/** The feed's items in arrival order; a connection failure is delivered as an Error and thrown. */
class Inbox {
  private readonly items: Array<FeedItem | Error> = [];
  private wake: (() => void) | undefined;

  push(item: FeedItem | Error): void {
    this.items.push(item);
    this.wake?.();
    this.wake = undefined;
  }

  async next(): Promise<FeedItem> {
    while (this.items.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    const item = this.items.shift() as FeedItem | Error;
    if (item instanceof Error) {
      // Keep it: whoever asks next (say, cancelFeed) must see the failure too, not wait forever.
      this.items.unshift(item);
      throw item;
    }
    return item;
  }
}
