/**
 * A database file's fingerprint for "wrote nothing" checks: its bytes' sha256, the files beside it
 * (no -journal, -wal, -shm or lock left) and its tables. Equal before and after means untouched.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { withDb } from './notes-db.js';

export interface Fingerprint {
  sha256: string;
  siblings: string[];
  tables: string[];
}

export function fingerprint(path: string): Fingerprint {
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  const name = basename(path);
  const siblings = readdirSync(dirname(path))
    .filter((file) => file.startsWith(name))
    .sort();
  // Read after hashing; a read-only look writes nothing either (checked again by the caller's next fingerprint).
  const tables = withDb(path, (db) =>
    db
      .prepare(`SELECT name FROM sqlite_master WHERE type IN ('table', 'view', 'index') ORDER BY name`)
      .all()
      .map((row) => String(row.name)),
  );
  return { sha256, siblings, tables };
}
