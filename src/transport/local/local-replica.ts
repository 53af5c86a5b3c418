/** A Replica backed by a database file on this machine: the node's own database, or a local peer. */
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { SyncError } from '../../core/errors.js';
import { BatchWriter, readCursor } from './apply.js';
import { FeedReader, maxRowid } from './feed.js';
import { readMeta } from '../../store/meta.js';
import { isPrepared, isUpToDate, prepareDatabase, SYNC_INDEX_BUILD_LIMIT_BYTES, type DedupeMode } from '../../store/prepare.js';
import { databaseEncoding, probeNotesTable } from '../../store/schema.js';
import { NODES_TABLE, type NotesTableShape } from '../../core/notes-table.js';
import type { Database } from '../../store/sqlite/driver.js';
import { databaseError, openDatabase } from '../../store/sqlite/open-database.js';
import { inTransaction } from '../../store/sqlite/transaction.js';
import { exchangeLogSql, finishLogEntry, recordPeerState, recordReachedAddress, startLogEntry } from '../../store/tracking.js';
import { finishReceivingSql } from '../../store/receive-sql.js';
import type { SyncLog } from '../../core/sync-log.js';
import type { NaiveTimestamps } from '../../core/timestamps.js';
import { bucketDigests, entryHashes, rowsByHash } from '../../store/digest.js';
import { EVERYTHING, type Route } from '../../core/route.js';
import { ENTRY_HASH_NAMES } from '../../core/replica.js';
import { attachedTransfer } from './apply-attached.js';
import { PreviewApply } from './preview-apply.js';
import { WriteLockYielder } from '../../store/write-lock-yield.js';
import type {
  AppliedBatch,
  ApplyRequest,
  AttachableFeedPart,
  AttachableSource,
  DirectReceiveRequest,
  ApplyResult,
  DigestRequest,
  DigestResult,
  EntryHashName,
  ExchangeRecord,
  FeedBatch,
  FeedRequest,
  FeedRow,
  NodeIdentity,
  LoggedReplica,
  ReceiveReport,
  Replica,
  ReplicaInfo,
} from '../../core/replica.js';

/** A route that lets every entry through, device-local contexts too: what is left of a route already applied by the sender. */
const UNFILTERED: Route = { ...EVERYTHING, localContexts: [] };

export interface LocalReplicaOptions {
  /** Prepare the database on first contact, naming the node this if it has no name yet. */
  prepareAs?: { nodeName: string; dedupe?: DedupeMode } | undefined;
  /**
   * A dry run's open: a database never prepared for sync is previewed as it is, under a provisional
   * identity (this name, a fresh id never written), with no cursors and no relay marks, and receives
   * only counts (preview-apply.ts). Without it (and without prepareAs) such a database is refused.
   */
  previewAs?: { nodeName: string } | undefined;
  naiveTimestamps?: NaiveTimestamps;
  busyTimeoutMs?: number;
}

export class LocalReplica implements LoggedReplica {
  readonly path: string;
  readonly db: Database;
  readonly node: NodeIdentity;
  readonly shape: NotesTableShape;
  readonly continuedBelow: number | undefined;
  /** Node computes every entry hash function. */
  readonly entryHashNames = ENTRY_HASH_NAMES;
  private readonly naive: NaiveTimestamps;
  private writer: BatchWriter | undefined;
  /** Set when the database is not prepared and is only being previewed (LocalReplicaOptions.previewAs). */
  private readonly preview: PreviewApply | undefined;
  /**
   * Fairness towards the database's other writers, for every batch this connection receives. Made
   * at open, so agents seen committing while the sync starts make it polite from its first batch.
   */
  private readonly yielder: WriteLockYielder;

  private constructor(path: string, db: Database, node: NodeIdentity, shape: NotesTableShape, naive: NaiveTimestamps, preview: boolean) {
    this.path = path;
    this.db = db;
    this.node = node;
    this.shape = shape;
    this.naive = naive;
    const continued = readMeta(db).continued_below;
    this.continuedBelow = continued === undefined ? undefined : Number(continued);
    this.yielder = new WriteLockYielder(db);
    this.preview = preview ? new PreviewApply(db, shape, naive) : undefined;
  }

  static open(path: string, options: LocalReplicaOptions = {}): LocalReplica {
    const db = openDatabase(path, options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs });
    try {
      probeNotesTable(db, path);
      const { prepareAs, previewAs } = options;
      const naive = options.naiveTimestamps ?? 'utc';
      if (!isPrepared(db) && !prepareAs && previewAs) {
        const node = { id: randomUUID(), name: previewAs.nodeName };
        return new LocalReplica(realpathSync(path), db, node, probeNotesTable(db, path), naive, true);
      }
      if (!isPrepared(db)) {
        if (!prepareAs)
          throw new SyncError('DB_NOT_INITIALIZED', `${path} has not been prepared for sync yet; run: resonance-sync init --db ${path}`);
        // Only a small database gets its dedupe index built by a sync: see SYNC_INDEX_BUILD_LIMIT_BYTES.
        const limit = { indexBuildLimitBytes: SYNC_INDEX_BUILD_LIMIT_BYTES };
        prepareDatabase(db, path, { nodeName: prepareAs.nodeName, dedupe: prepareAs.dedupe, ...limit });
      } else if (prepareAs && !isUpToDate(db)) {
        // Prepared by an older version: an open that may write adds what this one needs, keeping the
        // node's name and dedupe choice; a read-only or dry-run open syncs the database as it is.
        prepareDatabase(db, path, { indexBuildLimitBytes: SYNC_INDEX_BUILD_LIMIT_BYTES });
      }
      const meta = readMeta(db);
      const node = { id: String(meta.node_id), name: String(meta.node_name) };
      return new LocalReplica(realpathSync(path), db, node, probeNotesTable(db, path), naive, false);
    } catch (error) {
      db.close();
      throw databaseError(error, path, 'preparing it for sync');
    }
  }

  async info(): Promise<ReplicaInfo> {
    return this.guard('reading it', () => ({
      node: this.node,
      columns: this.shape.userColumns,
      maxRowid: maxRowid(this.db),
      knownNodes: this.preview
        ? []
        : this.db
            .prepare(`SELECT node_id, name FROM ${NODES_TABLE}`)
            .all()
            .map((row) => ({ id: String(row.node_id), name: String(row.name) })),
      location: this.path,
    }));
  }

  async *readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch> {
    // Preparing the feed's statement reads the schema: it can fail like any read.
    const batches = this.guard('reading new entries', () => new FeedReader(this.db, this.shape, this.node.id, request).batches());
    yield* this.paced('reading new entries', batches, signal);
  }

  /** Whether this database is only previewed: never prepared, under a provisional identity. */
  get provisional(): boolean {
    return this.preview !== undefined;
  }

  attachable(): AttachableSource {
    return { path: this.path, shape: this.shape, nodeId: this.node.id };
  }

  receiveDirect(sender: Replica, request: DirectReceiveRequest, signal?: AbortSignal): AsyncIterable<AppliedBatch> | undefined {
    // A previewed receiver only counts, entry by entry (apply), and never takes the write lock.
    if (this.preview) return undefined;
    const source = sender.attachable?.();
    if (source) return this.receiveAttached(source, request, signal);
    const { senderInfo } = request;
    const encoding = () => this.guard('reading it', () => databaseEncoding(this.db));
    const parts = senderInfo ? sender.attachableFeed?.(request.feed, { encoding: encoding(), senderInfo }, signal) : undefined;
    return parts ? this.receiveParts(parts, request, signal) : undefined;
  }

  /**
   * A remote feed downloaded in parts (agentless): each part ATTACHed and moved as a local sender's
   * rows, from its window's start to its end. The sender's route was applied where the rows were
   * read (the download holds only the requested columns, which may lack the route's), so it is not
   * applied again here; the rest of the feed's filter is, harmlessly.
   */
  private async *receiveParts(
    parts: AsyncIterable<AttachableFeedPart>,
    request: DirectReceiveRequest,
    signal?: AbortSignal,
  ): AsyncIterable<AppliedBatch> {
    let rewound = request.receipt.rewound;
    for await (const part of parts) {
      const batches = attachedTransfer(
        { db: this.db, shape: this.shape, selfId: this.node.id, naive: this.naive, yielder: this.yielder },
        {
          senderPath: part.source.path,
          senderShape: part.source.shape,
          senderId: part.source.nodeId,
          feed: { ...request.feed, afterRowid: part.after, route: UNFILTERED },
          feedEnd: part.through,
          privateSender: true,
          receipt: { ...request.receipt, rewound },
          dryRun: request.dryRun,
        },
      );
      try {
        for await (const batch of this.paced('receiving new entries', batches, signal)) {
          rewound = false;
          yield batch;
        }
      } catch (error) {
        throw part.failure(error);
      }
    }
  }

  private async *receiveAttached(
    source: AttachableSource,
    request: DirectReceiveRequest,
    signal?: AbortSignal,
  ): AsyncIterable<AppliedBatch> {
    const batches = attachedTransfer(
      { db: this.db, shape: this.shape, selfId: this.node.id, naive: this.naive, yielder: this.yielder },
      {
        senderPath: source.path,
        senderShape: source.shape,
        senderId: source.nodeId,
        feed: request.feed,
        receipt: request.receipt,
        dryRun: request.dryRun,
      },
    );
    yield* this.paced('receiving new entries', batches, signal);
  }

  /** Steps a batch generator with typed errors, letting timers and signals run between batches. */
  private async *paced<T>(action: string, batches: Generator<T>, signal?: AbortSignal): AsyncIterable<T> {
    try {
      for (;;) {
        signal?.throwIfAborted();
        const next = this.guard(action, () => batches.next());
        if (next.done) return;
        yield next.value;
        // A long sync must stay interruptible.
        await yieldToEventLoop();
      }
    } finally {
      batches.return(undefined); // ends the generator's own cleanup (an attached sender is detached) when the sync stops early
    }
  }

  async cursor(senderId: string, routeKey: string): Promise<number> {
    // A database never prepared has received nothing yet.
    if (this.preview) return 0;
    return this.guard('reading its cursor', () => readCursor(this.db, senderId, routeKey));
  }

  async apply(request: ApplyRequest): Promise<ApplyResult> {
    const { preview } = this;
    if (preview) {
      if (!request.dryRun)
        throw new SyncError('INTERNAL', `${this.path} is only being previewed: it cannot store entries before it is prepared`);
      return this.guard('previewing a batch', () => preview.apply(request));
    }
    return this.guard('writing a batch', () => {
      // Created on first use, inside the guard: its statements are prepared against the schema.
      this.writer ??= new BatchWriter(this.db, this.shape, this.node.id, this.naive, this.yielder);
      return this.writer.apply(request);
    });
  }

  async finishReceiving(report: ReceiveReport): Promise<void> {
    if (this.preview) return; // a dry run records nothing (the engine does not call this in one)
    this.guard('recording the sync', () =>
      inTransaction(this.db, 'IMMEDIATE', () => {
        for (const { sql, params } of finishReceivingSql(this.shape, report)) this.db.prepare(sql).run(...params);
      }),
    );
  }

  async recordExchange(record: ExchangeRecord): Promise<void> {
    if (this.preview) return; // never prepared: no sync_log to write (and a dry run records nothing)
    const { sql, params } = exchangeLogSql(record);
    this.guard('logging the sync', () => this.db.prepare(sql).run(...params));
  }

  async digest(request: DigestRequest): Promise<DigestResult> {
    const { buckets } = request;
    try {
      return buckets === undefined
        ? { buckets: await bucketDigests(this.db, this.shape, request.route, request.hash), hashes: [] }
        : { buckets: [], hashes: await entryHashes(this.db, this.shape, request.route, request.hash, buckets) };
    } catch (error) {
      throw databaseError(error, this.path, 'computing digests');
    }
  }

  async rowsByHash(route: Route, columns: string[], hashes: string[], hash: EntryHashName): Promise<FeedRow[]> {
    return this.guard('reading entries to repair', () =>
      rowsByHash(this.db, this.shape, this.node.id, route, columns, new Set(hashes), hash),
    );
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /** The history of this node's syncs, written with the same typed errors as everything else. */
  readonly syncLog: SyncLog = {
    start: (peer, direction) => this.guard('logging the sync', () => startLogEntry(this.db, peer, direction)),
    finish: (id, outcome) => this.guard('logging the sync', () => finishLogEntry(this.db, id, outcome)),
    peerState: (peer, direction, state) => this.guard("recording the peer's state", () => recordPeerState(this.db, peer, direction, state)),
    reachedAt: (peer, url) => this.guard("recording the peer's address", () => recordReachedAddress(this.db, peer, url)),
  };

  private guard<T>(action: string, work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw databaseError(error, this.path, action);
    }
  }
}
