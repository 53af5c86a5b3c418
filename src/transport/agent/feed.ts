/**
 * Where the agent transport reads rows: the client half of the protocol's feed (FEED_OPEN, FEED_BATCH,
 * FEED_CREDIT, FEED_CANCEL, FEED_END; see protocol/protocol.ts). The rows are written by the receiver
 * this side hands them to; a push is written on the far side by transport/local through protocol/server.ts.
 */
import { SyncError } from '../../core/errors.js';
import { trace } from '../../core/trace.js';
import type { FeedBatch, FeedRequest } from '../../core/replica.js';
import * as m from '../../protocol/messages.js';
import { FEED_CREDIT, MessageType, messageName, type Frame } from '../../protocol/protocol.js';
import type { AgentConnection } from './connection.js';

/**
 * Streams the remote feed. The agent runs ahead by at most FEED_CREDIT batches: each batch taken
 * from here grants it one more, so a slow consumer slows the sender instead of filling memory. The
 * credit is enforced as frames arrive: a batch beyond it, or one that is not what was asked for
 * (more rows, other widths: checked before any row is built), breaks the connection with a
 * PROTOCOL_ERROR, so what an agent sends can never pile up here.
 */
export async function* readAgentFeed(
  connection: AgentConnection,
  request: FeedRequest,
  peer: string,
  signal?: AbortSignal,
): AsyncIterable<FeedBatch> {
  const inbox = new Inbox();
  const expect = { maxRows: request.maxRows, width: request.columns.length };
  let credit = FEED_CREDIT;
  // Runs as each frame arrives; what it throws ends the connection with that error (AgentConnection).
  connection.setFeedSink((item) => {
    if (item instanceof Error || item.type !== MessageType.FEED_BATCH) return inbox.push(item);
    if (credit === 0)
      throw new SyncError(
        'PROTOCOL_ERROR',
        `${peer} sent a feed batch beyond the ${FEED_CREDIT} it was given room for (flow control); refused`,
      );
    credit--;
    trace('agent: feed batch arrived');
    inbox.push(m.decode(item.payload, (r) => m.readBatch(r, expect, peer)));
    trace('agent: feed batch decoded');
  });
  let ended = false;
  try {
    trace('agent: feed opened');
    await connection.send(MessageType.FEED_OPEN, (w) => m.writeFeedOpen(w, request, FEED_CREDIT));
    for (;;) {
      signal?.throwIfAborted();
      // We asked for this batch (the agent holds credit for it): silence here is a stalled agent.
      const item = await connection.awaitRemote(inbox.next(), 'reading new entries');
      if (!('type' in item)) {
        yield item;
        trace('agent: feed batch stored');
        // Counted before it is sent: the agent may answer with a batch before send() returns.
        credit++;
        await connection.send(MessageType.FEED_CREDIT, (w) => w.uint(1));
        continue;
      }
      if (item.type === MessageType.FEED_END || item.type === MessageType.ERROR) {
        ended = true;
        if (item.type === MessageType.ERROR) throw connection.remoteError(item);
        return;
      }
      throw new SyncError('PROTOCOL_ERROR', `unexpected ${messageName(item.type)} in a feed`);
    }
  } finally {
    if (!ended && !connection.brokenError) await cancelFeed(connection, inbox);
    connection.setFeedSink(undefined);
  }
}

/** The consumer stopped early: tell the agent, and skip what it sent meanwhile up to the feed's end. */
async function cancelFeed(connection: AgentConnection, inbox: Inbox): Promise<void> {
  try {
    await connection.send(MessageType.FEED_CANCEL);
    for (;;) {
      const item = await connection.awaitRemote(inbox.next(), 'ending the feed');
      if ('type' in item && (item.type === MessageType.FEED_END || item.type === MessageType.ERROR)) return;
    }
  } catch {
    // The connection broke meanwhile; every later call reports that.
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
