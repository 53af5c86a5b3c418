/** A Replica wrapper that fails on purpose, inside a batch's transaction or between batches. */
import type {
  AppliedBatch,
  ApplyRequest,
  ApplyResult,
  AttachableSource,
  DigestRequest,
  DigestResult,
  EntryHashName,
  DirectReceiveRequest,
  FeedRow,
  FeedBatch,
  FeedRequest,
  ReceiveReport,
  Replica,
  ReplicaInfo,
} from '../../src/core/replica.js';
import type { SqlValue } from '../../src/core/sql-value.js';
import type { Route } from '../../src/core/route.js';

export interface Faults {
  /** Fail inside the transaction of this apply call (1-based): some rows are written, then rolled back. */
  failInsideApply?: number;
  /** Fail after this many applies committed, before the next one starts. */
  failAfterApplies?: number;
}

export class InjectedFault extends Error {}

export class FaultReplica implements Replica {
  private applies = 0;
  /** Whether a fault was actually injected (then any error of the sync is the expected one). */
  injected = false;
  constructor(
    private readonly inner: Replica,
    private readonly faults: Faults,
  ) {}
  info(): Promise<ReplicaInfo> {
    return this.inner.info();
  }
  readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch> {
    return this.inner.readFeed(request, signal);
  }
  attachable(): AttachableSource | undefined {
    return this.inner.attachable();
  }
  /**
   * The in-SQLite path (both files local) with the faults between batches. A fault inside a batch
   * needs a row no binding can store, so that case takes the row-by-row path, which still proves it.
   */
  receiveDirect(sender: Replica, request: DirectReceiveRequest, signal?: AbortSignal): AsyncIterable<AppliedBatch> | undefined {
    if (this.faults.failInsideApply !== undefined) return undefined;
    const direct = this.inner.receiveDirect(sender, request, signal);
    return direct && this.countingFaults(direct);
  }
  private async *countingFaults(batches: AsyncIterable<AppliedBatch>): AsyncIterable<AppliedBatch> {
    for await (const batch of batches) {
      this.applies++;
      if (this.faults.failAfterApplies !== undefined && this.applies > this.faults.failAfterApplies) {
        this.injected = true;
        throw new InjectedFault('injected failure between batches');
      }
      yield batch;
    }
  }
  cursor(senderId: string, routeKey: string): Promise<number> {
    return this.inner.cursor(senderId, routeKey);
  }
  async apply(request: ApplyRequest): Promise<ApplyResult> {
    this.applies++;
    if (this.faults.failAfterApplies !== undefined && this.applies > this.faults.failAfterApplies) {
      this.injected = true;
      throw new InjectedFault('injected failure between batches');
    }
    if (this.faults.failInsideApply === this.applies && request.rows.length > 0) {
      // A value no binding can store, placed last: earlier rows of the batch are inserted first, then
      // the whole transaction must roll back.
      this.injected = true;
      const poisoned = { rowid: -1, origin: 'poison', values: request.columns.map(() => ({ poison: true }) as unknown as SqlValue) };
      return this.inner.apply({ ...request, rows: [...request.rows, poisoned] });
    }
    return this.inner.apply(request);
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
  finishReceiving(report: ReceiveReport): Promise<void> {
    return this.inner.finishReceiving(report);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
