import { SyncError } from '../core/errors.js';

/**
 * SIGINT/SIGTERM abort the run between batches: the batch in flight commits or rolls back as one,
 * so stopping is always clean. A second signal exits at once (still safe: SQLite rolls back).
 */
export interface Interrupt {
  signal: AbortSignal;
  dispose(): void;
}

export function interruptSignal(): Interrupt {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort(new SyncError('INTERRUPTED', `interrupted by ${name}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
