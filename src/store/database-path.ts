/**
 * What a database path names, checked before anything opens or locks it. SQLite reports a directory
 * or a symlink loop as "unable to open database file", and existsSync() says "no such file" for a
 * loop, so without this check a loop reads "database not found" and a directory gets a stray
 * `<path>-sync.lock` beside it. The words for each case live here, once, for every caller: local
 * files, the agent's served file (protocol/server.ts) and the agentless remote's (sqlite-cli/failures.ts).
 */
import { statSync } from 'node:fs';
import { SyncError } from '../core/errors.js';

/** `file` is anything SQLite may try to open (a regular file, a device): its own errors say the rest. */
export type DatabasePathState = 'file' | 'missing' | 'directory' | 'symlink-loop';

export function databasePathState(path: string): DatabasePathState {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'file';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'symlink-loop';
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    // EACCES and the like: opening it fails with an error that names the cause.
    return 'file';
  }
}

/** `where` names the path as the user knows it: `/x.sqlite3`, or `~/x.sqlite3 on me@phone`. */
export function directoryError(where: string): SyncError {
  return new SyncError('DB_NOT_FOUND', `${where} is a directory, not a database file; name the database file inside it`);
}

export function symlinkLoopError(where: string): SyncError {
  return new SyncError(
    'DB_NOT_FOUND',
    `${where} is a symlink loop (ELOOP): its links never reach a file; fix the link so it points at the database file`,
  );
}

/** The not-found line for a database on this machine. */
export function localNotFoundError(path: string): SyncError {
  return new SyncError(
    'DB_NOT_FOUND',
    `database not found: ${path} (check the path, or create one with: resonance-sync init --create --db ${path})`,
  );
}

/**
 * Throws unless a database can be at `path`: never at a directory or a symlink loop, and at a
 * missing path only when it is about to be created. `notFound` words the missing case for the caller.
 */
export function requireDatabasePath(path: string, options: { create?: boolean; notFound?: (path: string) => SyncError } = {}): void {
  switch (databasePathState(path)) {
    case 'directory':
      throw directoryError(path);
    case 'symlink-loop':
      throw symlinkLoopError(path);
    case 'missing':
      if (!options.create) throw (options.notFound ?? localNotFoundError)(path);
      return;
    case 'file':
      return;
  }
}
