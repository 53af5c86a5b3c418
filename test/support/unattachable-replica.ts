/**
 * A Replica wrapper that hides that its database is a file on this machine: a local receiver then
 * cannot ATTACH it and takes the general path (readFeed + apply), as it does for a remote sender.
 * Everything else is passed through untouched.
 */
import type {
  AppliedBatch,
  ApplyRequest,
  ApplyResult,
  DigestRequest,
  DigestResult,
  EntryHashName,
  FeedBatch,
  FeedRequest,
  FeedRow,
  ReceiveReport,
  Replica,
  ReplicaInfo,
} from '../../src/core/replica.js';
import type { Route } from '../../src/core/route.js';

export class UnattachableReplica implements Replica {
  constructor(private readonly inner: Replica) {}
  attachable(): undefined {
    return undefined;
  }
  receiveDirect(): AsyncIterable<AppliedBatch> | undefined {
    return undefined;
  }
  info(): Promise<ReplicaInfo> {
    return this.inner.info();
  }
  readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch> {
    return this.inner.readFeed(request, signal);
  }
  cursor(senderId: string, routeKey: string): Promise<number> {
    return this.inner.cursor(senderId, routeKey);
  }
  apply(request: ApplyRequest): Promise<ApplyResult> {
    return this.inner.apply(request);
  }
  finishReceiving(report: ReceiveReport): Promise<void> {
    return this.inner.finishReceiving(report);
  }
  digest(request: DigestRequest): Promise<DigestResult> {
    return this.inner.digest(request);
  }
  get entryHashNames(): readonly EntryHashName[] {
    return this.inner.entryHashNames;
  }
  rowsByHash(route: Route, columns: string[], hashes: string[], hash: EntryHashName): Promise<FeedRow[]> {
    return this.inner.rowsByHash(route, columns, hashes, hash);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
