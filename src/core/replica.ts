/**
 * The seam between the sync engine and a database it syncs: a Replica can describe itself, send
 * its feed (its entries in insertion order, after a cursor, filtered by a route) and receive
 * batches, committing each batch together with the cursor that covers it. The local database, a
 * local peer file, and remote databases over SSH all implement it, and one contract test suite runs
 * against each.
 */
import type { NotesTableShape } from './notes-table.js';
import type { SqlValue } from './sql-value.js';
import type { Route } from './route.js';
import type { Direction, LogOutcome, SyncLog } from './sync-log.js';
import type { Refusal } from './refusals.js';

/** How a peer is reached: shown to people, and a stable value of `transport` in the JSON output. */
export type TransportKind = 'local file' | 'ssh agent' | 'ssh sqlite3';

export interface NodeIdentity {
  id: string;
  name: string;
}

export interface ReplicaInfo {
  node: NodeIdentity;
  /** Columns whose values can travel (no rowid alias, no origin column). */
  columns: string[];
  /** Highest rowid in the feed now; a cursor above it means the database was replaced or restored. */
  maxRowid: number;
  /** Names of the nodes this one has heard of, so relayed origins keep a human name. */
  knownNodes: NodeIdentity[];
  /** Where the replica lives, for messages and for spotting a database synced with itself. */
  location: string;
}

export interface FeedRequest {
  /** Send entries with rowid greater than this. */
  afterRowid: number;
  /** The receiving node: entries that originated there are not sent back (echo). */
  receiverId: string;
  route: Route;
  /** Columns to send, in this order (the engine picks those both sides have). */
  columns: string[];
  maxRows: number;
  maxBytes: number;
}

export interface FeedRow {
  /** The sender's rowid (for progress and diagnostics; the receiver assigns its own). */
  rowid: number;
  /** The node the entry was first written on (never empty: the sender fills in its own id). */
  origin: string;
  values: SqlValue[];
}

export interface FeedBatch {
  rows: FeedRow[];
  /** Every feed entry up to this rowid has been considered: the cursor to commit with this batch. */
  throughRowid: number;
  /** Approximate payload size, for progress and limits. */
  bytes: number;
}

export interface ApplyRequest {
  sender: NodeIdentity;
  routeKey: string;
  columns: string[];
  rows: FeedRow[];
  /** The cursor to commit with the rows; negative for a repair batch (verify --repair), which moves no cursor. */
  throughRowid: number;
  /**
   * Set on the first batch of a rewound direction (the sender's feed read again from the start, because
   * the sender was replaced or restored, or the receiver was): the cursor may go down.
   */
  rewound: boolean;
  knownNodes: NodeIdentity[];
  /** Check and count, then roll back. */
  dryRun: boolean;
}

export interface ApplyResult {
  /** Entries this database stored (new to it). */
  received: number;
  duplicates: number;
  /** Entries this database's own constraints refuse (e.g. NULL into a NOT NULL column), passed over. */
  rejected: number;
  /** Why, adding up to `rejected` (core/refusals.ts); absent or empty when none was. */
  refusals?: Refusal[] | undefined;
  /** Inserted entries that are themselves sync notes (they do not count toward "Synced N entries"). */
  syncNotes: number;
  /** The newest received entry's time, normalized to UTC, if any was readable. */
  newestTimestamp: string | undefined;
}

/**
 * A batch of a sync that only moves the cursor (no entries; not verify's repair batches, which have
 * throughRowid -1): its answer, NOTHING_APPLIED, is known before it runs, so a remote replica may
 * send it and leave its confirmation to settle() (see Replica.apply).
 */
export function onlyMovesCursor(request: ApplyRequest): boolean {
  return request.rows.length === 0 && request.throughRowid >= 0;
}

/** What a batch that only moves the cursor answers (onlyMovesCursor). */
export const NOTHING_APPLIED: Readonly<ApplyResult> = {
  received: 0,
  duplicates: 0,
  rejected: 0,
  refusals: [],
  syncNotes: 0,
  newestTimestamp: undefined,
};

/**
 * Answers to writes sent and not waited for, for Replica.settle(): each failure is kept for settle()
 * (never an unhandled rejection), which waits for them all and fails with the first.
 */
export class UnconfirmedWrites {
  private answers: Promise<unknown>[] = [];

  add(answer: Promise<unknown>): void {
    answer.catch(() => undefined);
    this.answers.push(answer);
  }

  async settle(): Promise<void> {
    const answers = this.answers;
    this.answers = [];
    await Promise.all(answers);
  }
}

export interface ReceiveReport {
  sender: NodeIdentity;
  /** The name the receiver files this sync under in sync_tracking (the peer's configured name). */
  trackingName: string;
  /** Entries received this run, for the note "Synced N entries from <node>". */
  received: number;
  newestTimestamp: string | undefined;
  success: boolean;
  writeSyncNote: boolean;
}

/**
 * The passive end's own record of one direction the other end ran (a phone-started sync, seen from the
 * desktop's agent or its sqlite3): a sync_log row, filed under the initiating node's name.
 */
export interface ExchangeRecord {
  /** The initiating node's name. */
  peer: string;
  /** From this end's side: 'pull' when it received, 'push' when it sent. */
  direction: Direction;
  outcome: LogOutcome & { status: 'ok' | 'failed' };
}

/**
 * The functions an entry hash (verify's digests, store/digest.ts) can be taken with, each the first 8
 * bytes of that digest of the entry's identity key. Both ends of one comparison must use the same:
 * SHA-256 where both ends run Node (it costs 0.4-0.5 µs an entry there against SHA3-256's 1.2, where
 * the CPU hashes SHA-256 in hardware, as x86 and ARMv8 ones with the crypto extensions do), SHA3-256
 * with an agentless peer, whose sqlite3 shell has no other hash.
 */
export const ENTRY_HASH_NAMES = ['sha256', 'sha3-256'] as const;
export type EntryHashName = (typeof ENTRY_HASH_NAMES)[number];

export function isEntryHashName(name: string): name is EntryHashName {
  return (ENTRY_HASH_NAMES as readonly string[]).includes(name);
}

/** What `verify` needs of a replica: digests of what it holds, and entries by hash for a repair. */
export interface DigestRequest {
  route: Route;
  /** The entry hash function: one both replicas compute (Replica.entryHashNames). */
  hash: EntryHashName;
  /** Undefined: one digest per bucket. Given: the entry hashes in just these buckets. */
  buckets?: string[] | undefined;
}

export interface DigestResult {
  buckets: Array<{ bucket: string; count: number; digest: string }>;
  hashes: string[];
}

/** A database file on this machine, which a receiver on this machine can ATTACH and read in SQL. */
export interface AttachableSource {
  path: string;
  shape: NotesTableShape;
  nodeId: string;
}

export interface DirectReceiveRequest {
  feed: FeedRequest;
  /** The sender's info as the engine read it for this sync: what a feed's cursors are checked against. */
  senderInfo?: ReplicaInfo | undefined;
  /** Everything of an ApplyRequest but the rows and their cursor, which the receiver finds itself. */
  receipt: Pick<ApplyRequest, 'sender' | 'routeKey' | 'rewound' | 'knownNodes'>;
  dryRun: boolean;
}

/**
 * One part of a remote sender's feed, downloaded to a file on this machine (agentless: a delta file
 * shaped like a notes table) and checked, which a receiver here can ATTACH and move in SQL.
 */
export interface AttachableFeedPart {
  source: AttachableSource;
  /** The part covers the sender's feed in (after, through]: once its rows are moved, the cursor may stand at through. */
  after: number;
  through: number;
  /** What to report when moving its rows failed: the sender's fault when the file turns out damaged, else `error`. */
  failure(error: unknown): unknown;
}

/** One committed batch, however it travelled. */
export interface AppliedBatch {
  /** Entries the sender let through (route, echoes). */
  sent: number;
  bytes: number;
  throughRowid: number;
  result: ApplyResult;
}

export interface Replica {
  info(): Promise<ReplicaInfo>;
  /** The database as a file on this machine that a receiver here can ATTACH; undefined for a remote one. */
  attachable(): AttachableSource | undefined;
  /**
   * Receives the sender's feed by reading it itself, when it can (both files on this machine):
   * batch for batch the same as readFeed + apply, without the rows passing through JavaScript.
   * Undefined when it cannot; the engine then moves the rows.
   */
  receiveDirect(sender: Replica, request: DirectReceiveRequest, signal?: AbortSignal): AsyncIterable<AppliedBatch> | undefined;
  /**
   * The feed as parts a receiver on this machine can ATTACH (a remote that downloads it as files),
   * each checked as readFeed's batches are; undefined when it has none or the receiver's text
   * encoding is not its own. Optional: only the agentless replica has it.
   */
  attachableFeed?(
    request: FeedRequest,
    receiver: { encoding: string; senderInfo: ReplicaInfo },
    signal?: AbortSignal,
  ): AsyncIterable<AttachableFeedPart> | undefined;
  readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch>;
  /** The receiver-owned cursor: how far into the sender's feed this replica has committed. */
  cursor(senderId: string, routeKey: string): Promise<number>;
  /**
   * Stores a batch and moves the cursor with it, in one transaction; resolved once that committed.
   * A batch without entries (it only moves the cursor) may instead be confirmed by settle(), like
   * the bookkeeping writes below: its result is known before it runs.
   */
  apply(request: ApplyRequest): Promise<ApplyResult>;
  /** After a direction ends: sync_tracking, and the sync note when entries arrived. */
  finishReceiving(report: ReceiveReport): Promise<void>;
  /** Records, on this (passive) end, a direction the other end ran with it; not in dry runs. Optional: test doubles may lack it. */
  recordExchange?(record: ExchangeRecord): Promise<void>;
  /**
   * A replica whose finishReceiving and recordExchange (and apply of a batch without entries) only
   * send their writes (the agentless one: each write runs on the remote as soon as it arrives, but
   * waiting for each would cost a round trip) waits here for them all and fails with the first one's
   * failure. The engine calls it once a sync's directions are done. Optional: replicas that wait in
   * those calls have nothing to settle.
   */
  settle?(): Promise<void>;
  /** The entry hash functions its digests can be taken with, the fastest for it first. */
  readonly entryHashNames: readonly EntryHashName[];
  /** What `verify` needs: digests of what the replica holds (per bucket, or entry hashes in some buckets). */
  digest(request: DigestRequest): Promise<DigestResult>;
  /** Entries by their hash (taken with `hash`), for `verify --repair`. */
  rowsByHash(route: Route, columns: string[], hashes: string[], hash: EntryHashName): Promise<FeedRow[]>;
  close(): Promise<void>;
}

/** The node's own database, which also keeps the history of its syncs (sync_log, peer state). */
export interface LoggedReplica extends Replica {
  readonly syncLog: SyncLog;
  /**
   * Set when this node's replaced database was adopted with `adopt --continue`: peers' cursors into
   * its feed up to this rowid lie past the new file's end because of that choice, not a restore, so
   * they get the new file's entries again but send nothing back for it.
   */
  readonly continuedBelow?: number | undefined;
}
