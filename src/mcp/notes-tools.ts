/**
 * The note tools: `recent_notes` and `search_notes` read this node's database (read-only, bounded in
 * entries and in characters per note), `add_note` writes one note as an agent would. Each call opens
 * the database and closes it again, so the server holds no connection between calls (a rotation or
 * a restore of the file is seen at the next call) and never blocks a sync or an agent.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { loadConfig } from '../config/config-file.js';
import { configPathFrom, databasePathFrom } from '../config/locate.js';
import type { Config } from '../config/schema.js';
import { SyncError } from '../core/errors.js';
import { parseTimestamp, sqliteNow } from '../core/timestamps.js';
import { addNote } from '../store/add-note.js';
import { queryNotes, type NotesQuery } from '../store/notes-query.js';
import { openDatabase } from '../store/sqlite/open-database.js';
import type { Target } from '../api/index.js';
import { jsonResult, toolCall } from './tool-result.js';

/** Bounds on what one call returns: at most MAX_LIMIT notes of at most MAX_CHARS characters each (2 M characters). */
export const MAX_LIMIT = 100;
export const MAX_CHARS = 20_000;
/** The largest note `add_note` writes: an agent's note, not a file (the users' largest notes are 10 MB; those stay theirs to write). */
export const MAX_NOTE_CHARS = 1_000_000;

const filters = {
  origin: z
    .string()
    .min(1)
    .optional()
    .describe("Only entries first written by this node (a node name; this node's own name for its local entries)"),
  context: z
    .string()
    .min(1)
    .optional()
    .describe('Only entries whose context matches this SQLite GLOB (an exact name matches itself; * and ? are wildcards)'),
  source: z.string().min(1).optional().describe('Only entries whose source matches this SQLite GLOB'),
  since: z.string().min(1).optional().describe('Only entries at or after this time (2025-11-30 22:00:00, ISO 8601, or epoch seconds)'),
  until: z.string().min(1).optional().describe('Only entries before this time'),
  limit: z.number().int().min(1).max(MAX_LIMIT).default(20).describe(`How many entries at most, newest first (1-${MAX_LIMIT})`),
  maxChars: z
    .number()
    .int()
    .min(1)
    .max(MAX_CHARS)
    .default(2000)
    .describe(`Characters shown of each note at most (1-${MAX_CHARS}); longer ones are cut with a marker and give contentLength`),
};

type Filters = z.infer<z.ZodObject<typeof filters>>;

function located(target: Target): { config: Config; dbPath: string } {
  const configPath = configPathFrom(target.config);
  const config = loadConfig(configPath, { mustExist: target.config !== undefined });
  return { config, dbPath: databasePathFrom(config, target.db, configPath) };
}

function timeArgument(name: string, value: string | undefined, config: Config): number | undefined {
  if (value === undefined) return undefined;
  const millis = parseTimestamp(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value, config.node.naiveTimestamps);
  if (millis === undefined)
    throw new SyncError('USAGE', `${name} "${value}" is no time; give e.g. 2025-11-30 22:00:00 or 2025-11-30T22:00:00Z`);
  return millis;
}

function readNotes(target: Target, args: Filters, text?: string) {
  const { config, dbPath } = located(target);
  const query: NotesQuery = {
    origin: args.origin,
    context: args.context,
    source: args.source,
    sinceMs: timeArgument('since', args.since, config),
    untilMs: timeArgument('until', args.until, config),
    text,
    limit: args.limit,
    maxChars: args.maxChars,
    naiveTimestamps: config.node.naiveTimestamps,
  };
  const db = openDatabase(dbPath, { readOnly: true });
  try {
    return jsonResult({ db: dbPath, ...queryNotes(db, dbPath, query) });
  } finally {
    db.close();
  }
}

const READ_ONLY = { readOnlyHint: true, idempotentHint: true, openWorldHint: false } as const;

export function registerNoteTools(server: McpServer, target: Target, options: { readOnly: boolean }): void {
  server.registerTool(
    'recent_notes',
    {
      title: 'Recent notes',
      description:
        "The newest entries of resonance_notes in this node's database (newest written or received first), with who first wrote each (origin), filtered by origin, context, source and time. Returns {notes: [{id, timestamp, context, source, origin, content, contentLength, truncated}], more}.",
      inputSchema: filters,
      annotations: { title: 'Recent notes', ...READ_ONLY },
    },
    (args) => toolCall(() => readNotes(target, args)),
  );
  server.registerTool(
    'search_notes',
    {
      title: 'Search notes',
      description:
        'Entries of resonance_notes whose content contains the text (case-insensitive for ASCII letters; a full scan, newest first), with the same filters and result as recent_notes.',
      inputSchema: {
        text: z.string().min(1).max(1000).describe('Text the content must contain (% and _ are matched literally)'),
        ...filters,
      },
      annotations: { title: 'Search notes', ...READ_ONLY },
    },
    ({ text, ...args }) => toolCall(() => readNotes(target, args, text)),
  );
  if (options.readOnly) return;
  server.registerTool(
    'add_note',
    {
      title: 'Add a note',
      description:
        "Writes one entry into this node's resonance_notes, stamped now (UTC, as SQLite's CURRENT_TIMESTAMP), as one of your agents would; the next sync carries it to the other devices as its routes say. An identical entry (same timestamp, content and source) is not written twice. Returns {id, timestamp, added}.",
      inputSchema: {
        content: z.string().min(1).max(MAX_NOTE_CHARS).describe(`The note (at most ${MAX_NOTE_CHARS} characters)`),
        context: z
          .string()
          .min(1)
          .max(200)
          .optional()
          .describe('What the note is about, as the other agents name it (e.g. leo_development)'),
        source: z.string().min(1).max(200).optional().describe("Who wrote it (an agent's name); left out, the table's default applies"),
      },
      annotations: { title: 'Add a note', readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ content, context, source }) =>
      toolCall(() => {
        if (content.trim() === '') throw new SyncError('USAGE', 'content is blank; give the note text');
        const { dbPath } = located(target);
        const db = openDatabase(dbPath);
        try {
          return jsonResult({ db: dbPath, ...addNote(db, dbPath, { timestamp: sqliteNow(), content, context, source }) });
        } finally {
          db.close();
        }
      }),
  );
}
