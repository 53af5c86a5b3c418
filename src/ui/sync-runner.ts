/**
 * "Sync now" from the page: one sync at a time through the library's syncPeers(), its progress events
 * passed on to whoever listens (the page's Server-Sent Events stream), and the outcome kept so a page
 * opened mid-sync (or reloaded) can show it. A second request while one runs joins the running one.
 */
import { syncPeers } from '../api/index.js';
import type { SyncProgress, SyncReport } from '../api/contract.js';
import { asSyncError } from '../core/errors.js';
import type { UiTarget } from './snapshot.js';

export type SyncEvent =
  | { type: 'started'; at: string }
  | { type: 'progress'; progress: SyncProgress }
  | {
      type: 'finished';
      at: string;
      ok: boolean;
      peers: Array<{ peer: string; ok: boolean; received: number; sent: number; error: string | null }>;
    }
  | { type: 'error'; at: string; code: string; message: string };

export class SyncRunner {
  private running: Promise<void> | undefined;
  private readonly listeners = new Set<(event: SyncEvent) => void>();
  private readonly controller = new AbortController();
  last: SyncEvent | undefined;

  constructor(private readonly target: UiTarget) {}

  get busy(): boolean {
    return this.running !== undefined;
  }

  subscribe(listener: (event: SyncEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts a sync unless one runs; resolves when it ends (never rejects: failures become an event). */
  start(): Promise<void> {
    if (this.running !== undefined) return this.running;
    this.emit({ type: 'started', at: new Date().toISOString() });
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops a running sync at its next batch boundary (committed batches stay). */
  async stop(): Promise<void> {
    this.controller.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    try {
      const report = await syncPeers({
        config: this.target.configPath,
        db: this.target.dbPath,
        signal: this.controller.signal,
        onProgress: (progress) => this.emit({ type: 'progress', progress }),
      });
      this.emit(finished(report));
    } catch (thrown) {
      const error = asSyncError(thrown);
      this.emit({ type: 'error', at: new Date().toISOString(), code: error.code, message: error.message });
    }
  }

  private emit(event: SyncEvent): void {
    if (event.type !== 'progress') this.last = event;
    for (const listener of this.listeners) listener(event);
  }
}

function finished(report: SyncReport): SyncEvent {
  return {
    type: 'finished',
    at: new Date().toISOString(),
    ok: report.ok,
    peers: report.peers.map((peer) => ({
      peer: peer.peer,
      ok: peer.ok,
      received: peer.directions.filter((d) => d.direction === 'pull').reduce((sum, d) => sum + d.received, 0),
      sent: peer.directions.filter((d) => d.direction === 'push').reduce((sum, d) => sum + d.received, 0),
      error: peer.error === null ? null : `${peer.error.message} [${peer.error.code}]`,
    })),
  };
}
