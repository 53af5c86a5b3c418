/** What the page receives from /api/state: the server's Snapshot (src/ui/snapshot.ts), typed for the browser. */
import type { Snapshot } from '../snapshot.js';
import type { SyncEvent } from '../sync-runner.js';

export type { DirectionView, PeerView, ReceivedNote, Series, Snapshot } from '../snapshot.js';
export type { SyncEvent } from '../sync-runner.js';

export type StateResponse =
  | { ok: true; snapshot: Snapshot; sync: { busy: boolean; last: SyncEvent | null } }
  | { ok: false; error: { code: string; message: string } };
