/**
 * A Replica on another machine, reached through `ssh HOST resonance-sync serve --stdio --db PATH`.
 * Both directions of a sync share the one connection. Each pushed batch is committed by the remote
 * together with its cursor (LocalReplica.apply there), so a connection lost at any instant loses
 * nothing and duplicates nothing: the next run resumes after the last committed batch.
 */
import { formatPeerUrl } from '../../core/peer-url.js';
import { SyncError } from '../../core/errors.js';
import * as m from '../../protocol/messages.js';
import { MessageType } from '../../protocol/protocol.js';
import { AgentConnection, type AgentConnectOptions, type CursorKey } from './connection.js';
import { readAgentFeed } from './feed.js';
import type { Route } from '../../core/route.js';
import type {
  ApplyRequest,
  ApplyResult,
  DigestRequest,
  DigestResult,
  EntryHashName,
  FeedBatch,
  FeedRequest,
  FeedRow,
  ExchangeRecord,
  ReceiveReport,
  Replica,
  ReplicaInfo,
} from '../../core/replica.js';
import { ENTRY_HASH_NAMES, NOTHING_APPLIED, UnconfirmedWrites, onlyMovesCursor } from '../../core/replica.js';

import type { AgentSource } from './agent-source.js';

export type { AgentConnectOptions } from './connection.js';

export class AgentReplica implements Replica {
  /** The agent runs Node: it computes every entry hash function (since agent protocol 6, which names it). */
  readonly entryHashNames = ENTRY_HASH_NAMES;
  private feedOpen = false;
  /** Requests sent and not yet confirmed (post()). */
  private readonly unconfirmed = new UnconfirmedWrites();
  /**
   * Answers kept so that asking twice costs one round trip: the engine reads the push cursor before
   * the pull and again for the push. Info (the INFO sent with the handshake) answers the first info()
   * only (the agent's own writers move the end of its feed at any time); a cursor is kept until
   * anything is written (only this sync's own batches move it: the agent holds the remote's sync lock
   * against other syncs). LOG writes only the sync log, which neither holds.
   */
  private kept: { info: Promise<ReplicaInfo> | undefined; cursors: Map<string, Promise<number>> } = { info: undefined, cursors: new Map() };

  /** The cursor asked with the handshake: answers the first cursor() call for that key, then kept like any other. */
  private early: { key: CursorKey; answer: Promise<number> } | undefined;

  private constructor(
    private readonly connection: AgentConnection,
    private readonly options: AgentConnectOptions,
  ) {}

  static async connect(options: AgentConnectOptions): Promise<AgentReplica> {
    const replica = new AgentReplica(await AgentConnection.connect(options), options);
    replica.kept.info = replica.connection.takeEarlyInfo();
    replica.early = replica.connection.takeEarlyCursor();
    return replica;
  }

  /** Whether the agent holds its database's sync lock (it takes it for a client that may write). */
  private get locked(): boolean {
    return this.options.prepare && !this.connection.welcome.readOnly;
  }

  /** Something here writes: what was kept may be stale from now on. */
  private forget(): void {
    this.kept = { info: undefined, cursors: new Map() };
    this.early = undefined;
  }

  /** Which agent answered, and where it came from. */
  get agentSource(): AgentSource | undefined {
    return this.connection.source;
  }

  /** Bytes of the single file uploaded while connecting (0 when the remote had it). */
  get uploadedBytes(): number {
    return this.connection.uploadedBytes;
  }

  /** A cached agent that failed its hash and was deleted (then replaced), if any. */
  get replacedCorrupt(): string | undefined {
    return this.connection.replacedCorrupt;
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
    // The INFO sent with the handshake answers the first call only: after that the agent's own writers
    // may have moved the end of its feed, and info() says what the database holds now.
    const early = this.kept.info;
    this.kept.info = undefined;
    const info = await (early ?? this.connection.request(MessageType.INFO, undefined, MessageType.INFO_OK, m.readInfo));
    // Host-qualified: the same path on two machines is two databases, not "the same database".
    return { ...info, location: formatPeerUrl({ ...this.options.location, path: info.location, homeRelative: false }) };
  }

  cursor(senderId: string, routeKey: string): Promise<number> {
    const key = JSON.stringify([senderId, routeKey]);
    const kept = this.kept.cursors.get(key);
    if (kept) return kept;
    const early = this.early?.key.senderId === senderId && this.early.key.routeKey === routeKey ? this.early.answer : undefined;
    if (early) this.early = undefined;
    const cursor = early ?? this.connection.cursor({ senderId, routeKey });
    // Without the agent's lock another sync may move it: asked again each time.
    if (this.locked) this.kept.cursors.set(key, cursor);
    return cursor;
  }

  async apply(request: ApplyRequest): Promise<ApplyResult> {
    this.forget();
    const applied = this.connection.request(MessageType.APPLY, (w) => m.writeApply(w, request), MessageType.APPLY_OK, m.readApplyResult);
    // A batch of a sync without entries (the push past the echoes of what the pull brought) only
    // moves the agent's cursor: its answer is known, so it is confirmed with the bookkeeping (post()).
    if (!onlyMovesCursor(request)) return applied;
    this.post(applied);
    return { ...NOTHING_APPLIED };
  }

  digest(request: DigestRequest): Promise<DigestResult> {
    this.forget();
    // Verify's digests read the whole table before the agent answers: no stall timeout (connection.ts).
    return this.connection.request(MessageType.DIGEST, (w) => m.writeDigestRequest(w, request), MessageType.DIGEST_OK, m.readDigestResult, {
      scansWholeTable: true,
    });
  }

  rowsByHash(route: Route, columns: string[], hashes: string[], hash: EntryHashName): Promise<FeedRow[]> {
    this.forget();
    // No more entries than hashes asked for, each as wide as the columns: checked before any is built.
    const expect = { maxRows: hashes.length, width: columns.length };
    return this.connection.request(
      MessageType.ROWS_BY_HASH,
      (w) => m.writeRowsByHash(w, { route, columns, hashes, hash }),
      MessageType.ROWS_BY_HASH_OK,
      (r) => m.readRows(r, expect, this.peer),
      {
        scansWholeTable: true,
      },
    );
  }

  /** Sent, not waited for: see post(). */
  async finishReceiving(report: ReceiveReport): Promise<void> {
    this.forget();
    this.post(
      this.connection.request(
        MessageType.FINISH,
        (w) => m.writeReport(w, report),
        MessageType.FINISH_OK,
        () => undefined,
      ),
    );
  }

  /** Sent, not waited for: see post(). */
  async recordExchange(record: ExchangeRecord): Promise<void> {
    this.post(
      this.connection.request(
        MessageType.LOG,
        (w) => m.writeExchange(w, record),
        MessageType.LOG_OK,
        () => undefined,
      ),
    );
  }

  /**
   * A request whose answer is known (the bookkeeping: FINISH, LOG, a batch without entries), sent at
   * once and answered in order behind the others, but not waited for: a sync's bookkeeping costs the
   * one round trip of settle() instead of one per write. Its failure is settle()'s (the engine's
   * last step) and fails the sync. The agent answers each request on its own, so one sent after a
   * failed one still runs there (its sync_log row of the direction, say).
   */
  private post(answer: Promise<unknown>): void {
    this.unconfirmed.add(answer);
  }

  settle(): Promise<void> {
    return this.unconfirmed.settle();
  }

  /** Streams the remote feed (feed.ts); one feed at a time per connection. */
  async *readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch> {
    if (this.feedOpen) throw new SyncError('INTERNAL', 'one feed at a time per agent connection');
    this.feedOpen = true;
    this.kept.info = undefined;
    try {
      yield* readAgentFeed(this.connection, request, this.peer, signal);
    } finally {
      this.feedOpen = false;
    }
  }

  /** How messages name the agent. */
  private get peer(): string {
    return `the agent on ${this.connection.destination}`;
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
