/** The note resonance-sync writes into a receiving database after entries arrive. */

export const SYNC_NOTE_CONTEXT = 'sync';
export const SYNC_NOTE_SOURCE = 'resonance-sync';

export function syncNoteText(count: number, senderName: string): string {
  return `Synced ${count} ${count === 1 ? 'entry' : 'entries'} from ${senderName}`;
}

/**
 * Sync notes travel like any entry, but arriving ones do not count toward a new note; otherwise two
 * nodes that route everything would answer each other's notes forever.
 */
export function isSyncNote(context: unknown, source: unknown, content: unknown): boolean {
  if (source !== SYNC_NOTE_SOURCE) return false;
  // A table without a context column (or a receiver that drops it) still knows our notes by their text.
  return (
    context === SYNC_NOTE_CONTEXT || (context === null && typeof content === 'string' && /^Synced \d+ entr(y|ies) from /.test(content))
  );
}
