/**
 * The history a node keeps of its own syncs (the users' sync_log table and what it last knew of each
 * peer's cursor). The engine writes it through this narrow interface, never through a database handle.
 */

import type { Refusal } from './refusals.js';

export type Direction = 'pull' | 'push';
/** sync_log also records a peer that could not be reached at all, as direction 'connect'. */
export type LogDirection = Direction | 'connect';
export type LogStatus = 'running' | 'ok' | 'failed' | 'skipped' | 'dry-run';

export interface LogOutcome {
  status: LogStatus;
  received: number;
  sent: number;
  duplicates: number;
  batches: number;
  errorCode?: string | undefined;
  message?: string | undefined;
  /** Entries the receiver's table refused, and why (core/refusals.ts). */
  rejected?: number | undefined;
  refusals?: Refusal[] | undefined;
}

export interface PeerState {
  peerNodeId: string;
  routeKey: string;
  throughRowid: number;
}

export interface SyncLog {
  /** A row written when a direction starts; one left at 'running' tells `status` a run was cut off. */
  start(peer: string, direction: LogDirection): number;
  finish(id: number, outcome: LogOutcome): void;
  /** What the peer had committed of this node's feed after the last push (for `status`). */
  peerState(peer: string, direction: Direction, state: PeerState): void;
  /** The address (one of the peer's URLs) that answered this run, for `status`. */
  reachedAt(peer: string, url: string): void;
}
