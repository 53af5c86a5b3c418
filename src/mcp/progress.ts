/**
 * A sync's progress as MCP `notifications/progress`, sent only when the client asked for them by
 * giving the request a progressToken. `progress` counts the entries sent so far over every peer and
 * direction of the call, so it only grows (the spec requires it); no `total` is given, since routes
 * make the number of entries to come unknown until they are read. Each event of the library
 * (one per committed batch) that moved the count becomes one notification.
 */
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { SyncProgress } from '../api/index.js';

export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

export function progressNotifier(extra: ToolExtra): ((event: SyncProgress) => void) | undefined {
  const progressToken = extra._meta?.progressToken;
  if (progressToken === undefined) return undefined;
  const sentBefore = new Map<string, number>();
  let progress = 0;
  return (event) => {
    const key = `${event.peer}\u0000${event.direction}`;
    const moved = event.sent - (sentBefore.get(key) ?? 0);
    sentBefore.set(key, event.sent);
    if (moved <= 0) return;
    progress += moved;
    const message = `${event.peer} ${event.direction}: ${event.received} stored, ${event.duplicates} already there, at most ${event.remainingRowids} left to read`;
    // A notification that cannot be sent (the client went away) must not fail the sync itself.
    extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress, message } }).catch(() => undefined);
  };
}
