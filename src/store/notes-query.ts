/**
 * Reading a node's own notes for a person or an agent (the MCP server's read tools): the newest
 * entries first, filtered by origin node, context and source globs, a time range and a text search,
 * always bounded in count and in characters per note. Read-only: it never writes, and never adds an
 * index or a full-text table to the user's database (a search scans, as a LIKE must).
 *
 * Two passes, so a 10 MB note costs only what is shown of it: the first walks the matching rows newest
 * first without their content (the time range is checked here, in JS, because agents write many
 * timestamp shapes that only core/timestamps.ts reads alike); the second fetches an excerpt and the
 * length of each chosen note.
 */
import { NODES_TABLE, NOTES_TABLE, ORIGIN_COLUMN } from '../core/notes-table.js';
import type { SqlValue } from '../core/sql-value.js';
import { parseTimestamp, type NaiveTimestamps } from '../core/timestamps.js';
import { readMeta } from './meta.js';
import { probeNotesTable, tableExists } from './schema.js';
import type { Database } from './sqlite/driver.js';

export interface NotesQuery {
  /** Only entries first written by this node (its name; this node's own name for local entries). */
  origin?: string | undefined;
  /** SQLite GLOB on context, as in routes (an exact name matches itself). */
  context?: string | undefined;
  /** SQLite GLOB on source. */
  source?: string | undefined;
  /** Only entries whose timestamp reads as at or after / before this time (ms since the epoch). */
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  /** Entries whose content contains this text (SQLite LIKE: case-insensitive for ASCII letters only). */
  text?: string | undefined;
  /** How many entries at most, newest (by insertion) first. */
  limit: number;
  /** Characters shown of each note's content at most; the rest is cut with a marker. */
  maxChars: number;
  /** How a timestamp without a zone is read (the node's naive_timestamps). */
  naiveTimestamps: NaiveTimestamps;
}

export interface NoteView {
  /** The entry's rowid in this database (the `id` column when the table has one). */
  id: number;
  timestamp: string | number | null;
  context: string | null;
  source: string | null;
  /** The name of the node that first wrote it (null when this database was never prepared by resonance-sync). */
  origin: string | null;
  /** The content, cut after maxChars characters with TRUNCATION_MARKER and a count; null when NULL. */
  content: string | null;
  /** The content's full length in characters (bytes for a BLOB). */
  contentLength: number;
  truncated: boolean;
}

/** What ends a cut note, followed by "<shown> of <total> characters]". */
export const TRUNCATION_MARKER = '\n…[truncated: ';

/** LIKE's wildcards and its escape character, escaped so the text is matched literally. */
export function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

export interface NotesPage {
  notes: NoteView[];
  /** More entries match beyond `limit` (ask again with a narrower filter or an earlier `until`). */
  more: boolean;
}

export function queryNotes(db: Database, path: string, query: NotesQuery): NotesPage {
  const shape = probeNotesTable(db, path);
  const prepared = shape.hasOrigin && tableExists(db, NODES_TABLE);
  const localName = readMeta(db).node_name ?? null;
  // As the view resonance_notes_origin names origins: a received entry by its node, a local one by this node.
  const originSql = prepared ? `coalesce(o.name, CASE WHEN n.${ORIGIN_COLUMN} IS NULL THEN ? END)` : '?';
  const join = prepared ? `LEFT JOIN ${NODES_TABLE} o ON o.node_id = n.${ORIGIN_COLUMN}` : '';
  const contextSql = shape.hasContext ? 'n.context' : 'NULL';
  const sourceSql = shape.hasSource ? 'n.source' : 'NULL';
  const where: string[] = [];
  const params: SqlValue[] = [localName];
  if (query.origin !== undefined) {
    where.push(`${originSql} = ?`);
    params.push(localName, query.origin);
  }
  if (query.context !== undefined) {
    where.push(`ifnull(${contextSql} GLOB ?, 0)`);
    params.push(query.context);
  }
  if (query.source !== undefined) {
    where.push(`ifnull(${sourceSql} GLOB ?, 0)`);
    params.push(query.source);
  }
  if (query.text !== undefined) {
    where.push(`n.content LIKE ? ESCAPE '\\'`);
    params.push(likePattern(query.text));
  }
  const sql = `SELECT n.rowid AS rid, n.timestamp AS timestamp, ${contextSql} AS context, ${sourceSql} AS source, ${originSql} AS origin
    FROM ${NOTES_TABLE} n ${join} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY n.rowid DESC`;
  const timed = query.sinceMs !== undefined || query.untilMs !== undefined;
  const chosen: Array<Omit<NoteView, 'content' | 'contentLength' | 'truncated'>> = [];
  let more = false;
  for (const row of db.prepare(sql).iterate(...params)) {
    if (timed && !inRange(row.timestamp ?? null, query)) continue;
    if (chosen.length >= query.limit) {
      more = true;
      break;
    }
    chosen.push({
      id: Number(row.rid),
      timestamp: typeof row.timestamp === 'string' || typeof row.timestamp === 'number' ? row.timestamp : textOrNull(row.timestamp),
      context: textOrNull(row.context),
      source: textOrNull(row.source),
      origin: textOrNull(row.origin),
    });
  }
  const excerpt = db.prepare(
    `SELECT typeof(content) AS type, length(content) AS length, substr(content, 1, ?) AS excerpt FROM ${NOTES_TABLE} WHERE rowid = ?`,
  );
  return { notes: chosen.map((note) => ({ ...note, ...contentOf(excerpt.get(query.maxChars, note.id), query.maxChars) })), more };
}

function inRange(timestamp: SqlValue, query: NotesQuery): boolean {
  const millis = parseTimestamp(timestamp, query.naiveTimestamps);
  if (millis === undefined) return false;
  return (query.sinceMs === undefined || millis >= query.sinceMs) && (query.untilMs === undefined || millis < query.untilMs);
}

function textOrNull(value: SqlValue | undefined): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Uint8Array) return `[binary, ${value.byteLength} bytes]`;
  return String(value);
}

function contentOf(row: Record<string, SqlValue> | undefined, maxChars: number): Pick<NoteView, 'content' | 'contentLength' | 'truncated'> {
  if (row === undefined || row.type === 'null') return { content: null, contentLength: 0, truncated: false };
  const length = Number(row.length);
  if (row.type === 'blob') return { content: `[binary, ${length} bytes]`, contentLength: length, truncated: false };
  const shown = String(row.excerpt ?? '');
  if (length <= maxChars) return { content: shown, contentLength: length, truncated: false };
  return { content: `${shown}${TRUNCATION_MARKER}${maxChars} of ${length} characters]`, contentLength: length, truncated: true };
}
