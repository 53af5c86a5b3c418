/**
 * Worker-thread entry that reads a feed from its own read-only connection, so that for a large
 * delta between two files on this machine reading the sender and writing the receiver overlap
 * instead of taking turns on one thread. It stays at most AHEAD batches ahead of the receiver:
 * memory stays flat whatever the delta.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { asSyncError } from '../errors.js';
import type { FeedRequest } from '../replica/replica.js';
import { FeedReader } from './feed-reader.js';
import type { NotesTableShape } from './schema.js';
import { openDatabase } from './sqlite/open-database.js';

export interface FeedWorkerData {
  path: string;
  shape: NotesTableShape;
  selfId: string;
  request: FeedRequest;
  ahead: number;
}

export type FeedWorkerMessage =
  | { type: 'batch'; batch: import('../replica/replica.js').FeedBatch }
  | { type: 'end' }
  | { type: 'error'; code: string; message: string };

const port = parentPort;
if (port) {
  const data = workerData as FeedWorkerData;
  let credits = data.ahead;
  let wake: (() => void) | undefined;
  port.on('message', () => {
    credits++;
    wake?.();
  });
  const run = async () => {
    const db = openDatabase(data.path, { readOnly: true });
    try {
      for (const batch of new FeedReader(db, data.shape, data.selfId, data.request).batches()) {
        while (credits === 0) await new Promise<void>((resolve) => (wake = resolve));
        credits--;
        port.postMessage({ type: 'batch', batch } satisfies FeedWorkerMessage);
      }
      port.postMessage({ type: 'end' } satisfies FeedWorkerMessage);
    } finally {
      db.close();
    }
  };
  run().catch((error: unknown) => {
    const failure = asSyncError(error, 'DB_ERROR');
    port.postMessage({ type: 'error', code: failure.code, message: failure.message } satisfies FeedWorkerMessage);
  });
}
