/**
 * What the status page shows, gathered read-only on every refresh: the library's status() (this node,
 * each peer's last runs and pending entries), each direction's route from the config, the last error of
 * each peer with its code, the entries received and sent over time from sync_log, and the latest received
 * notes with their origin (the resonance_notes_origin view). Every list is bounded and long notes are
 * cut, so a refresh costs the same on a database of any size.
 */
import { status } from '../api/index.js';
import type { PeerStatusReport, StatusReport } from '../api/contract.js';
import { loadConfig } from '../config/config-file.js';
import type { PeerConfig } from '../config/schema.js';
import { describeRoute } from '../core/route.js';
import { LOG_TABLE, ORIGIN_VIEW } from '../core/notes-table.js';
import { probeNotesTable, tableExists } from '../store/schema.js';
import type { Database, SqlRow } from '../store/sqlite/driver.js';
import { openDatabase } from '../store/sqlite/open-database.js';

/** Where the page looks: an explicit config file and database, resolved once when the server starts. */
export interface UiTarget {
  configPath: string;
  explicitConfig: boolean;
  dbPath: string;
}

export interface DirectionView {
  direction: 'pull' | 'push';
  route: string;
  pending: number | null;
  /** The last run of this direction: ok, skipped, failed, running, dry-run; null before any. */
  status: string | null;
  at: string | null;
  received: number;
  sent: number;
}

export interface PeerView {
  name: string;
  url: string;
  enabled: boolean;
  transport: 'local' | 'ssh';
  directions: DirectionView[];
  totals: { received: number; sent: number };
  /** The newest failed or skipped run of this peer, if it is newer than its newest ok run. */
  lastError: { at: string; direction: string; code: string | null; message: string } | null;
}

export interface ReceivedNote {
  timestamp: string | null;
  context: string | null;
  source: string | null;
  content: string;
  truncated: boolean;
  originName: string | null;
  originId: string | null;
}

/** Entries per sync_log run: x is Unix seconds (a run's start), received counts pulls, sent counts pushes. */
export interface Series {
  at: number[];
  received: number[];
  sent: number[];
}

export interface Snapshot {
  node: StatusReport['node'];
  db: string;
  entries: number;
  receivedEntries: number;
  peers: PeerView[];
  series: Series;
  notes: ReceivedNote[];
  generatedAt: string;
}

/** Bounds: the chart's last runs, the notes listed, the characters shown of each note. */
export const LIMITS = { runs: 500, notes: 20, noteChars: 280 } as const;

export async function gatherSnapshot(target: UiTarget): Promise<Snapshot> {
  const report = await status({ config: target.configPath, db: target.dbPath });
  const config = loadConfig(target.configPath, { mustExist: target.explicitConfig });
  const routes = new Map(config.peers.map((peer) => [peer.name, peer]));
  const db = openDatabase(target.dbPath, { readOnly: true });
  try {
    return {
      node: report.node,
      db: report.db,
      entries: report.entries,
      receivedEntries: report.receivedEntries,
      peers: report.peers.map((peer) => peerView(peer, routes.get(peer.name), lastError(db, peer.name))),
      series: runSeries(db),
      notes: receivedNotes(db, target.dbPath),
      generatedAt: new Date().toISOString(),
    };
  } finally {
    db.close();
  }
}

function peerView(peer: PeerStatusReport, config: PeerConfig | undefined, error: PeerView['lastError']): PeerView {
  // A run that could not reach the peer is logged as `connect`: it failed (or was skipped) both ways.
  const connect = peer.lastRuns.find((r) => r.direction === 'connect');
  const direction = (name: 'pull' | 'push'): DirectionView => {
    const own = peer.lastRuns.find((r) => r.direction === name);
    const run = connect !== undefined && (own === undefined || connect.startedAt > own.startedAt) ? connect : own;
    const route = config === undefined ? 'unknown (not in the config)' : describeRoute(config[name]);
    return {
      direction: name,
      route,
      pending: peer.pending[name],
      status: run?.status ?? null,
      at: run === undefined ? null : (run.finishedAt ?? run.startedAt),
      received: run?.received ?? 0,
      sent: run?.sent ?? 0,
    };
  };
  return {
    name: peer.name,
    url: peer.url,
    enabled: peer.enabled,
    transport: config?.location.kind === 'local' ? 'local' : 'ssh',
    directions: [direction('pull'), direction('push')],
    totals: peer.totals,
    lastError: error,
  };
}

function lastError(db: Database, peer: string): PeerView['lastError'] {
  if (!tableExists(db, LOG_TABLE)) return null;
  const row = db
    .prepare(
      `SELECT started_at, direction, error_code, message FROM ${LOG_TABLE}
       WHERE peer = ? AND status IN ('failed', 'skipped') AND id > coalesce((SELECT max(id) FROM ${LOG_TABLE} WHERE peer = ? AND status = 'ok'), 0)
       ORDER BY id DESC LIMIT 1`,
    )
    .get(peer, peer);
  if (row === undefined) return null;
  return {
    at: String(row.started_at),
    direction: String(row.direction),
    code: row.error_code === null ? null : String(row.error_code),
    message: row.message === null ? '(no message recorded)' : String(row.message),
  };
}

function runSeries(db: Database): Series {
  const series: Series = { at: [], received: [], sent: [] };
  if (!tableExists(db, LOG_TABLE)) return series;
  const rows = db
    .prepare(
      `SELECT started_at, direction, received, sent FROM (
         SELECT id, started_at, direction, received, sent FROM ${LOG_TABLE} WHERE direction IN ('pull', 'push') ORDER BY id DESC LIMIT ?
       ) ORDER BY id`,
    )
    .all(LIMITS.runs);
  for (const row of rows) {
    const at = Math.floor(Date.parse(String(row.started_at)) / 1000);
    if (!Number.isFinite(at)) continue;
    // uPlot needs strictly increasing x values: runs started within one second share a point.
    const last = series.at.length - 1;
    if (last < 0 || (series.at[last] as number) < at) {
      series.at.push(at);
      series.received.push(0);
      series.sent.push(0);
    }
    const i = series.at.length - 1;
    if (row.direction === 'pull') series.received[i] = (series.received[i] as number) + Number(row.received);
    else series.sent[i] = (series.sent[i] as number) + Number(row.sent);
  }
  return series;
}

function receivedNotes(db: Database, path: string): ReceivedNote[] {
  if (!tableExists(db, ORIGIN_VIEW)) return [];
  const shape = probeNotesTable(db, path);
  const text = (column: string, present: boolean) => (present ? `CAST(${column} AS TEXT)` : 'NULL');
  // The view has no rowid; every shape the users have keeps one as `id INTEGER PRIMARY KEY`.
  const order = shape.rowidAlias === undefined ? 'timestamp DESC' : `"${shape.rowidAlias}" DESC`;
  const rows = db
    .prepare(
      `SELECT CAST(timestamp AS TEXT) AS timestamp, ${text('context', shape.hasContext)} AS context, ${text('source', shape.hasSource)} AS source,
         substr(CAST(content AS TEXT), 1, ?) AS content, origin_id, origin_name
       FROM ${ORIGIN_VIEW} WHERE sync_origin IS NOT NULL ORDER BY ${order} LIMIT ?`,
    )
    .all(LIMITS.noteChars + 1, LIMITS.notes);
  return rows.map(noteFromRow);
}

function noteFromRow(row: SqlRow): ReceivedNote {
  const content = row.content === null ? '' : String(row.content);
  const optional = (value: unknown) => (value === null || value === undefined ? null : String(value));
  return {
    timestamp: optional(row.timestamp),
    context: optional(row.context),
    source: optional(row.source),
    content: content.length > LIMITS.noteChars ? `${content.slice(0, LIMITS.noteChars)}…` : content,
    truncated: content.length > LIMITS.noteChars,
    originName: optional(row.origin_name),
    originId: optional(row.origin_id),
  };
}
