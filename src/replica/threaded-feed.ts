/** Reads a local feed through store/feed-worker.ts, one batch per request, with bounded read-ahead. */
import { Worker } from 'node:worker_threads';
import { SyncError, type ErrorCode } from '../errors.js';
import type { FeedWorkerData, FeedWorkerMessage } from '../store/feed-worker.js';
import type { FeedBatch } from './replica.js';

const WORKER_URL = new URL('../store/feed-worker.js', import.meta.url);

export async function* threadedFeed(data: FeedWorkerData, signal?: AbortSignal): AsyncIterable<FeedBatch> {
  const worker = new Worker(WORKER_URL, { workerData: data });
  const queue: FeedWorkerMessage[] = [];
  let wake: (() => void) | undefined;
  const push = (message: FeedWorkerMessage) => {
    queue.push(message);
    wake?.();
  };
  worker.on('message', push);
  worker.on('error', (error) => push({ type: 'error', code: 'INTERNAL', message: error.message }));
  worker.on('exit', (code) => code !== 0 && push({ type: 'error', code: 'INTERNAL', message: `feed reader stopped (exit ${code})` }));
  try {
    for (;;) {
      signal?.throwIfAborted();
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const message = queue.shift() as FeedWorkerMessage;
      if (message.type === 'end') return;
      if (message.type === 'error') throw new SyncError(message.code as ErrorCode, message.message);
      worker.postMessage('next');
      yield message.batch;
      // Batches can arrive faster than timers fire: let signals (SIGTERM) and progress run between them.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  } finally {
    await worker.terminate();
  }
}
