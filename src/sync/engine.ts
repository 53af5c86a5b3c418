/**
 * The sync engine: moves one direction at a time from a sender's feed into a receiver, batch by
 * batch. The receiver owns the cursor and commits it with each batch (see store/receive-sql.ts), so
 * pull and push are the same operation with the roles swapped, and both are exactly-once.
 */
import { SyncError, asSyncError } from '../core/errors.js';
import type {
  AppliedBatch,
  DirectReceiveRequest,
  ExchangeRecord,
  FeedRequest,
  LoggedReplica,
  NodeIdentity,
  Replica,
  ReplicaInfo,
} from '../core/replica.js';
import type { Direction } from '../core/sync-log.js';
import { describeRoute, keptHomeRoute, routeKey, type Route } from '../core/route.js';
import { laterOf } from '../core/timestamps.js';
import { describeRefusal, mergeRefusals, refusalFix, type Refusal } from '../core/refusals.js';
import { FeedCheck, checkedApplyResult, checkedCursor, checkedInfo } from '../core/feed-checks.js';
import { trace } from '../core/trace.js';

export interface BatchLimits {
  maxRows: number;
  maxBytes: number;
}

/** Small enough that a batch commits in milliseconds, large enough that commits do not dominate. */
export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxRows: 2000, maxBytes: 4 * 1024 * 1024 };

export interface ProgressEvent {
  direction: Direction;
  peer: string;
  sent: number;
  received: number;
  duplicates: number;
  bytes: number;
  /** Upper bound of entries still to scan, from rowids (routes may skip many of them). */
  remainingRowids: number;
}

export interface SyncOptions {
  peerName: string;
  /** A route per direction, or undefined to skip that direction. */
  pull: Route | undefined;
  push: Route | undefined;
  dryRun: boolean;
  writeSyncNote: boolean;
  limits?: BatchLimits;
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
  /** The remote's info, read by the caller for this very sync (sync-peers.ts): not asked for again. */
  remoteInfo?: ReplicaInfo;
}

export interface DirectionSummary {
  direction: Direction;
  from: NodeIdentity;
  to: NodeIdentity;
  route: string;
  /** Entries sent by the sender (after route and echo filtering). */
  sent: number;
  /** Entries the receiver stored. */
  received: number;
  /** Of those, sync notes written by resonance-sync elsewhere (not counted in this run's own note). */
  syncNotesReceived: number;
  /** Entries the receiver already had (byte-identical), skipped. */
  duplicates: number;
  /** Entries the receiver's schema refused (e.g. NULL source into NOT NULL), passed over and reported. */
  rejected: number;
  /** Why they were refused, by NOT NULL column (null: another constraint); adds up to `rejected`. */
  refusals: Refusal[];
  /** Device-local entries the route would otherwise let through, kept home (counted by dry runs only). */
  keptHome: number | undefined;
  batches: number;
  bytes: number;
  /** Rewound: the sender's feed was read again from the start (the sender or the receiver was replaced or restored). */
  rewound: boolean;
  newestTimestamp: string | undefined;
}

export interface SyncSummary {
  peer: string;
  local: NodeIdentity;
  remote: NodeIdentity;
  dryRun: boolean;
  directions: DirectionSummary[];
}

export async function syncReplicas(local: LoggedReplica, remote: Replica, options: SyncOptions): Promise<SyncSummary> {
  const localInfo = checkedInfo(await local.info());
  const remoteInfo = checkedInfo(options.remoteInfo ?? (await remote.info()));
  if (localInfo.location === remoteInfo.location) {
    throw new SyncError(
      'SAME_DATABASE',
      `the peer ${options.peerName} is this node's own database (${localInfo.location}); name another database`,
    );
  }
  if (localInfo.node.id === remoteInfo.node.id) {
    throw new SyncError(
      'NODE_ID_CONFLICT',
      `${remoteInfo.location} has the same node id as ${localInfo.location}: one is a copy of the other; if a file copier (rsync, adb pull, cp) made it, stop the copier first, or its next copy undoes any fix; then give the copy a new identity with: resonance-sync init --new-identity --db <copy>`,
    );
  }
  const summary: SyncSummary = {
    peer: options.peerName,
    local: localInfo.node,
    remote: remoteInfo.node,
    dryRun: options.dryRun,
    directions: [],
  };
  // A database restored from an older copy has lost entries, its own among them. Whichever side
  // notices (a cursor beyond the end of the other's feed), the direction towards the restored side
  // re-sends everything, echoes included; dedupe keeps that exact.
  const remoteRestored =
    options.pull !== undefined && (await local.cursor(remoteInfo.node.id, routeKey(options.pull))) > remoteInfo.maxRowid;
  const pushCursor = options.push === undefined ? 0 : await remote.cursor(localInfo.node.id, routeKey(options.push));
  // After `adopt --continue` the new file's feed restarts below the peers' cursors by choice: it is
  // read again from its start (it is small), and nothing is sent back for it.
  const continued = local.continuedBelow !== undefined && pushCursor <= local.continuedBelow;
  const localRestored = pushCursor > localInfo.maxRowid && !continued;
  if (options.pull) {
    const ends = {
      from: remote,
      fromInfo: remoteInfo,
      to: local,
      toInfo: localInfo,
      trackingName: options.peerName,
      receiverRestored: localRestored,
    };
    summary.directions.push(await runDirection(local, 'pull', ends, options.pull, options));
  }
  if (options.push) {
    // Re-read: the pull may have added entries to this node's feed that the push must consider.
    const freshLocal = checkedInfo(await local.info());
    const ends = {
      from: local,
      fromInfo: freshLocal,
      to: remote,
      toInfo: remoteInfo,
      trackingName: localInfo.node.name,
      receiverRestored: remoteRestored,
    };
    summary.directions.push(await runDirection(local, 'push', ends, options.push, options));
  }
  // The remote's bookkeeping writes of both directions, confirmed together (Replica.settle).
  await remote.settle?.();
  return summary;
}

interface Ends {
  from: Replica;
  fromInfo: ReplicaInfo;
  to: Replica;
  toInfo: ReplicaInfo;
  trackingName: string;
  /** The receiver was restored from an older copy: send its whole feed again, its own entries too. */
  receiverRestored: boolean;
}

/** One direction, logged in the local database's sync_log whatever happens. */
async function runDirection(
  local: LoggedReplica,
  direction: Direction,
  ends: Ends,
  route: Route,
  options: SyncOptions,
): Promise<DirectionSummary> {
  trace(`engine: ${direction} begins`);
  const logId = options.dryRun ? undefined : local.syncLog.start(options.peerName, direction);
  const summary: DirectionSummary = {
    direction,
    from: ends.fromInfo.node,
    to: ends.toInfo.node,
    route: describeRoute(route),
    sent: 0,
    received: 0,
    syncNotesReceived: 0,
    duplicates: 0,
    rejected: 0,
    keptHome: undefined,
    refusals: [],
    batches: 0,
    bytes: 0,
    rewound: false,
    newestTimestamp: undefined,
  };
  try {
    const through = await transfer(ends, route, options, summary);
    trace(`engine: ${direction} transferred`);
    if (!options.dryRun) {
      await ends.to.finishReceiving({
        sender: ends.fromInfo.node,
        trackingName: ends.trackingName,
        received: summary.received - summary.syncNotesReceived,
        newestTimestamp: summary.newestTimestamp,
        success: true,
        writeSyncNote: options.writeSyncNote,
      });
      if (direction === 'push')
        local.syncLog.peerState(options.peerName, 'push', {
          peerNodeId: ends.toInfo.node.id,
          routeKey: routeKey(route),
          throughRowid: through,
        });
    }
    const note = summary.rejected ? refusalNote(summary, options.peerName) : undefined;
    if (!options.dryRun) await recordOnPassiveEnd(direction, ends, { status: 'ok', ...counts(summary), message: note });
    if (logId !== undefined) local.syncLog.finish(logId, { status: 'ok', ...counts(summary), message: note });
    return summary;
  } catch (thrown) {
    const error = asSyncError(thrown);
    if (!options.dryRun) {
      await ends.to
        .finishReceiving({
          sender: ends.fromInfo.node,
          trackingName: ends.trackingName,
          received: summary.received,
          newestTimestamp: summary.newestTimestamp,
          success: false,
          writeSyncNote: options.writeSyncNote,
        })
        .catch(() => undefined); // the receiver may be the very thing that failed
      await recordOnPassiveEnd(direction, ends, {
        status: 'failed',
        ...counts(summary),
        errorCode: error.code,
        message: error.message,
      }).catch(
        () => undefined, // as may the peer
      );
    }
    if (logId !== undefined)
      local.syncLog.finish(logId, { status: 'failed', ...counts(summary), errorCode: error.code, message: error.message });
    throw error;
  }
}

/**
 * The peer's own sync_log row for this direction, filed under this node's name, so a sync started on
 * one device shows in the other's `status` and `log` too ('pull' there when it received).
 */
async function recordOnPassiveEnd(direction: Direction, ends: Ends, outcome: ExchangeRecord['outcome']): Promise<void> {
  const [passive, initiator] = direction === 'pull' ? [ends.from, ends.toInfo] : [ends.to, ends.fromInfo];
  await passive.recordExchange?.({ peer: initiator.node.name, direction: direction === 'pull' ? 'push' : 'pull', outcome });
}

function counts(summary: DirectionSummary) {
  return {
    received: summary.received,
    sent: summary.sent,
    duplicates: summary.duplicates,
    batches: summary.batches,
    rejected: summary.rejected,
    refusals: summary.refusals,
  };
}

/** "2 entries refused by selesta's table: 2 with NULL source (NOT NULL there); fix: …" (sync_log's message). */
export function refusalNote(summary: Pick<DirectionSummary, 'rejected' | 'refusals' | 'to' | 'direction'>, peer: string): string {
  const reasons = summary.refusals.map(describeRefusal).join(', ');
  const fixes = summary.refusals.map((refusal) => refusalFix(refusal, summary.to.name, summary.direction, peer)).join('; ');
  return `${summary.rejected} entries refused by ${summary.to.name}'s table: ${reasons}; passed over, not retried; fix: ${fixes}`;
}

/** Streams the sender's feed into the receiver; returns the cursor reached. */
async function transfer(ends: Ends, route: Route, options: SyncOptions, summary: DirectionSummary): Promise<number> {
  const key = routeKey(route);
  let after = checkedCursor(await ends.to.cursor(ends.fromInfo.node.id, key), ends.toInfo.location);
  if (after > ends.fromInfo.maxRowid || ends.receiverRestored) {
    // The sender's feed is shorter than what we already read (it was replaced or restored from an
    // older copy), or the receiver was restored: re-read it all; dedupe makes that safe.
    after = 0;
    summary.rewound = true;
  }
  // The sender held nothing past the cursor when it was asked (its info, read for this sync): no
  // feed is opened. That saves a round trip on every sync that finds nothing new in a direction, and
  // agentless a remote query and download. Entries its agents write from here on go next time, as
  // they would had they come a moment after the feed's end.
  if (after >= ends.fromInfo.maxRowid) {
    if (options.dryRun) summary.keptHome = 0;
    return after;
  }
  const limits = options.limits ?? DEFAULT_BATCH_LIMITS;
  const feed: FeedRequest = {
    afterRowid: after,
    receiverId: ends.receiverRestored ? '' : ends.toInfo.node.id,
    route,
    columns: ends.fromInfo.columns.filter((name) => ends.toInfo.columns.includes(name)),
    maxRows: limits.maxRows,
    maxBytes: limits.maxBytes,
  };
  const receipt = { sender: ends.fromInfo.node, routeKey: key, rewound: summary.rewound, knownNodes: ends.fromInfo.knownNodes };
  const batches =
    ends.to.receiveDirect(ends.from, { feed, senderInfo: ends.fromInfo, receipt, dryRun: options.dryRun }, options.signal) ??
    movedBatches(ends, feed, receipt, options);
  if (options.dryRun) summary.keptHome = await countKeptHome(ends, feed, options.signal);
  let through = after;
  for await (const batch of batches) {
    options.signal?.throwIfAborted();
    through = batch.throughRowid;
    const { result } = batch;
    summary.batches++;
    summary.sent += batch.sent;
    summary.bytes += batch.bytes;
    summary.received += result.received;
    summary.syncNotesReceived += result.syncNotes;
    summary.duplicates += result.duplicates;
    summary.rejected += result.rejected;
    summary.refusals = mergeRefusals(
      summary.refusals,
      result.refusals ?? (result.rejected ? [{ column: null, count: result.rejected }] : []),
    );
    summary.newestTimestamp = laterOf(summary.newestTimestamp, result.newestTimestamp);
    options.onProgress?.({
      direction: summary.direction,
      peer: options.peerName,
      sent: summary.sent,
      received: summary.received,
      duplicates: summary.duplicates,
      bytes: summary.bytes,
      remainingRowids: Math.max(0, ends.fromInfo.maxRowid - through),
    });
  }
  return through;
}

/**
 * How many entries of the sender's feed, from the cursor on, stay home because they are device-local:
 * the same feed with the route's device-local rule inverted, read (and checked) like any other.
 */
async function countKeptHome(ends: Ends, feed: FeedRequest, signal: AbortSignal | undefined): Promise<number> {
  const request = { ...feed, route: keptHomeRoute(feed.route) };
  const check = new FeedCheck(request, ends.fromInfo, () => ends.from.info());
  let count = 0;
  for await (const batch of ends.from.readFeed(request, signal)) {
    await check.batch(batch);
    count += batch.rows.length;
  }
  return count;
}

/**
 * The general path: the engine reads the sender's feed and hands each batch to the receiver. Every
 * batch is checked before the receiver sees it, and every result after (core/feed-checks.ts).
 */
async function* movedBatches(
  ends: Ends,
  feed: FeedRequest,
  receipt: DirectReceiveRequest['receipt'],
  options: SyncOptions,
): AsyncIterable<AppliedBatch> {
  let rewound = receipt.rewound;
  const check = new FeedCheck(feed, ends.fromInfo, () => ends.from.info());
  for await (const batch of ends.from.readFeed(feed, options.signal)) {
    options.signal?.throwIfAborted();
    await check.batch(batch);
    trace('engine: batch checked');
    const applied = await ends.to.apply({
      ...receipt,
      columns: feed.columns,
      rows: batch.rows,
      throughRowid: batch.throughRowid,
      rewound,
      dryRun: options.dryRun,
    });
    const result = checkedApplyResult(batch.rows.length, applied, ends.toInfo.location);
    trace(`engine: batch stored (${batch.rows.length} entries)`);
    rewound = false;
    yield { sent: batch.rows.length, bytes: batch.bytes, throughRowid: batch.throughRowid, result };
  }
}
