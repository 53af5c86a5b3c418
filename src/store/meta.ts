/** The node's identity and settings, kept inside its own database so a moved file keeps them. */
import type { Database } from './sqlite/driver.js';
import { tableExists } from './schema.js';
import { META_TABLE } from '../core/notes-table.js';

export interface Meta {
  node_id?: string;
  node_name?: string;
  schema_version?: string;
  dedupe?: string;
  /**
   * Set by `adopt --continue`: the replaced file's feed restarted below this rowid, so a peer whose
   * cursor into this node's feed lies past the file's end (at most this) is not a sign of a restore
   * that must be refilled; the feed is read again from its start instead (it is the small new file).
   */
  continued_below?: string;
}

export function readMeta(db: Database): Meta {
  if (!tableExists(db, META_TABLE)) return {};
  const meta: Record<string, string> = {};
  for (const row of db.prepare(`SELECT key, value FROM ${META_TABLE}`).all()) meta[String(row.key)] = String(row.value);
  return meta as Meta;
}

export function writeMeta(db: Database, key: keyof Meta, value: string): void {
  db.prepare(`INSERT INTO ${META_TABLE} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(key, value);
}
