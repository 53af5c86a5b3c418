/**
 * What a receiver checks of everything another node sends before any of it is used: its identity,
 * its feed's batches, the entries a repair asks for, the cursors and results a remote receiver
 * reports. The rules live here once, over the seam's types, so every transport's data meets the same
 * ones: the engine runs them on each batch whatever carried it, verify on repair entries, the agent
 * server on what a client asks it to store. A violation is a PROTOCOL_ERROR (exit 7), raised before
 * anything of the batch is written. Bounds on raw bytes (counts before allocating, flow-control credit)
 * belong where bytes are read: protocol/reader.ts and messages.ts, transport/agent, and
 * transport/sqlite-cli/delta-file.ts for downloaded delta files.
 *
 * What a batch must be follows from how the feed readers cut them (transport/local/feed.ts, the
 * agentless reader in transport/sqlite-cli): rows in rowid order after the cursor, at most maxRows of
 * them, each with exactly the requested columns; a batch ends as soon as its rows reach maxBytes, so
 * only its last row may carry it past that (a single large note is legitimate), and its cursor moves
 * forward, past its last row, to at most the end of the sender's feed.
 */
import { SyncError } from './errors.js';
import { isNodeId, isNodeName } from './node-name.js';
import type { ApplyRequest, ApplyResult, FeedBatch, FeedRequest, FeedRow, NodeIdentity, ReceiveReport, ReplicaInfo } from './replica.js';
import { valueBytes } from './sql-value.js';

/** Nodes a sender may say it has heard of; a real network has a handful. Each is written with every batch. */
export const MAX_KNOWN_NODES = 10_000;
/** A database location (a path or a peer URL): PATH_MAX with room for the URL around it. */
const MAX_LOCATION_LENGTH = 8192;
/** A timestamp as ApplyResult carries it: Date#toISOString (six-digit years included). */
const ISO_TIMESTAMP = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** What a message of rows may hold: what the receiver asked for. */
export interface RowsExpectation {
  maxRows: number;
  /** Values per row: the number of columns asked for. */
  width: number;
}

/** Text from the other end, short enough to quote in a one-line message. */
export function quoted(value: unknown): string {
  if (typeof value !== 'string') return String(value);
  return value.length > 40 ? `${JSON.stringify(value.slice(0, 40))}… (${value.length} characters)` : JSON.stringify(value);
}

function refused(from: string, what: string): SyncError {
  return new SyncError(
    'PROTOCOL_ERROR',
    `${from} sent ${what}; refused, nothing of it was kept (is resonance-sync there damaged or modified?)`,
  );
}

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** A rowid, a cursor or a feed's end: a non-negative safe integer. */
export function isRowid(value: unknown): value is number {
  return isCount(value);
}

/** A node's own identity: refused unless its id and name have the form this program gives them. */
export function checkIdentity(node: NodeIdentity, from: string, whose: string): void {
  if (!isNodeId(node.id)) throw refused(from, `${whose} node id ${quoted(node.id)}, which is not a node id`);
  if (typeof node.name !== 'string' || !isNodeName(node.name)) {
    throw refused(
      from,
      `${whose} node name ${quoted(node.name)}, which is not a node name (rename that node with: resonance-sync init --node NAME)`,
    );
  }
}

/**
 * Names the sender has heard of, for relayed origins. Entries that are not a node id and a node name
 * are dropped, not refused: they are hearsay about third nodes, perhaps from an older version or a
 * hand-edited table, that the sender cannot correct by syncing; refusing would block every sync with it
 * for ever, while dropping one costs only a display name (resonance_notes_origin shows none for it).
 */
export function usableKnownNodes(nodes: readonly NodeIdentity[], from: string): NodeIdentity[] {
  if (nodes.length > MAX_KNOWN_NODES) throw refused(from, `${nodes.length} known nodes (at most ${MAX_KNOWN_NODES})`);
  return nodes.filter((node) => isNodeId(node.id) && typeof node.name === 'string' && isNodeName(node.name));
}

function describeLocation(location: unknown): string {
  if (typeof location !== 'string' || location.length > MAX_LOCATION_LENGTH || location === '') {
    throw refused('a peer', `a location of ${quoted(location)}`);
  }
  return location;
}

/** A replica's self-description, checked; the known nodes come back without the unusable ones. */
export function checkedInfo(info: ReplicaInfo): ReplicaInfo {
  const from = describeLocation(info.location);
  checkIdentity(info.node, from, 'its');
  if (!isRowid(info.maxRowid)) throw refused(from, `${quoted(info.maxRowid)} as the end of its feed`);
  if (new Set(info.columns).size !== info.columns.length || info.columns.some((name) => typeof name !== 'string' || name === '')) {
    throw refused(from, 'a column list with empty or repeated names');
  }
  return { ...info, knownNodes: usableKnownNodes(info.knownNodes, from) };
}

/** A cursor a receiver reports: where in the sender's feed it has committed. */
export function checkedCursor(cursor: number, from: string): number {
  if (!isRowid(cursor)) throw refused(from, `${quoted(cursor)} as its cursor`);
  return cursor;
}

/** The header of a message of rows, before any row is built: no more rows than asked, each as wide as asked. */
export function checkRowsShape(expect: RowsExpectation, count: number, width: number, from: string): void {
  if (count > expect.maxRows) throw refused(from, `${count} entries in one message where at most ${expect.maxRows} were asked`);
  if (count > 0 && width !== expect.width) throw refused(from, `entries of ${width} values where ${expect.width} columns were asked`);
}

/** One entry: as wide as asked, from an origin that is a node id. */
function checkRow(row: FeedRow, width: number, from: string): void {
  if (row.values.length !== width) throw refused(from, `an entry of ${row.values.length} values where ${width} columns were asked`);
  if (!isNodeId(row.origin)) throw refused(from, `an entry whose origin ${quoted(row.origin)} is not a node id`);
}

/** Entries in strictly increasing rowid order within (after, through]. */
function checkRowids(rows: readonly FeedRow[], after: number, through: number, from: string): void {
  let previous = after;
  for (const row of rows) {
    if (!isRowid(row.rowid) || row.rowid <= previous || row.rowid > through) {
      throw refused(from, `entry rowid ${quoted(row.rowid)} after ${previous}, out of order or beyond the batch's cursor ${through}`);
    }
    previous = row.rowid;
  }
}

function rowBytes(row: FeedRow): number {
  let bytes = 0;
  for (const value of row.values) bytes += valueBytes(value);
  return bytes;
}

/**
 * One feed batch against the request and the cursor before it (`after`), without the sender's feed
 * end (FeedCheck adds that): throws unless it is a batch the sender's feed reader could have cut.
 */
export function checkFeedBatch(request: FeedRequest, after: number, batch: FeedBatch, from: string): void {
  const { rows } = batch;
  checkRowsShape(
    { maxRows: request.maxRows, width: request.columns.length },
    rows.length,
    rows[0]?.values.length ?? request.columns.length,
    from,
  );
  if (!isRowid(batch.throughRowid) || batch.throughRowid <= after) {
    throw refused(from, `a batch whose cursor ${quoted(batch.throughRowid)} does not move forward from ${after}`);
  }
  checkRowids(rows, after, batch.throughRowid, from);
  let bytes = 0;
  for (const [index, row] of rows.entries()) {
    // The reader stops as soon as a batch reaches maxBytes: only the last row may carry it past.
    if (index > 0 && bytes >= request.maxBytes)
      throw refused(from, `more entries after ${bytes} bytes in one batch where ${request.maxBytes} were asked`);
    checkRow(row, request.columns.length, from);
    if (request.receiverId !== '' && row.origin === request.receiverId)
      throw refused(from, "an entry of this node's own, which it asked not to get back");
    bytes += rowBytes(row);
  }
  if (batch.bytes !== bytes) throw refused(from, `a batch declared as ${quoted(batch.bytes)} bytes holding ${bytes}`);
}

/**
 * The batches of one feed, in order: each checked against the request, the batch before it, and the
 * end of the sender's feed. The sender's info was read when the sync began and a live sender keeps
 * growing (its agents write meanwhile), so a cursor beyond that end is not yet a lie: the sender's
 * info is read again, once per such batch, and only a cursor beyond its current end is refused. (A
 * sender whose newest entries are deleted during the sync may be refused once; the next run resumes.)
 */
export class FeedCheck {
  private through: number;
  private feedEnd: number;
  private readonly from: string;

  constructor(
    private readonly request: FeedRequest,
    private readonly sender: ReplicaInfo,
    private readonly rereadInfo: () => Promise<ReplicaInfo>,
  ) {
    this.from = sender.location;
    this.through = request.afterRowid;
    this.feedEnd = sender.maxRowid;
  }

  async batch(batch: FeedBatch): Promise<void> {
    checkFeedBatch(this.request, this.through, batch, this.from);
    if (batch.throughRowid > this.feedEnd) {
      const fresh = checkedInfo(await this.rereadInfo());
      if (fresh.node.id !== this.sender.node.id) throw refused(this.from, `a new identity (${fresh.node.id}) in the middle of a sync`);
      this.feedEnd = Math.max(this.feedEnd, fresh.maxRowid);
      if (batch.throughRowid > this.feedEnd)
        throw refused(this.from, `a batch whose cursor ${batch.throughRowid} is beyond the end of its own feed (${this.feedEnd})`);
    }
    this.through = batch.throughRowid;
  }
}

/** What a receiver reports of a batch of `sent` entries: each received, a duplicate, or rejected. */
export function checkedApplyResult(sent: number, result: ApplyResult, from: string): ApplyResult {
  const { received, duplicates, rejected, syncNotes, newestTimestamp } = result;
  const counted =
    [received, duplicates, rejected, syncNotes].every(isCount) && received + duplicates + rejected === sent && syncNotes <= received;
  if (!counted) {
    throw refused(
      from,
      `a result of ${quoted(received)} received, ${quoted(duplicates)} duplicates, ${quoted(rejected)} rejected, ${quoted(syncNotes)} sync notes for ${sent} entries`,
    );
  }
  if (newestTimestamp !== undefined && !(received > 0 && isTimestamp(newestTimestamp))) {
    throw refused(from, `${quoted(newestTimestamp)} as the newest time of ${received} received entries`);
  }
  // Why entries were refused: reasons that add up to the refused count, each a column name or none.
  const refusals = result.refusals ?? [];
  const explained = refusals.reduce((sum, r) => sum + (isCount(r.count) && r.count > 0 ? r.count : Number.NaN), 0);
  const named = refusals.every((r) => r.column === null || (typeof r.column === 'string' && r.column.length > 0 && r.column.length <= 255));
  if (result.refusals !== undefined && !(named && explained === rejected)) {
    throw refused(from, `reasons for ${explained} refused entries where ${quoted(rejected)} were refused`);
  }
  return result;
}

function isTimestamp(text: unknown): boolean {
  return typeof text === 'string' && ISO_TIMESTAMP.test(text) && !Number.isNaN(Date.parse(text));
}

/**
 * Entries for `verify --repair`: no more than the hashes asked for, each as wide as asked. Their
 * rowids are not checked: a repair finds entries anywhere, below any cursor, even at rowid 0 or
 * below, and the receiver never uses them.
 */
export function checkRepairRows(expect: RowsExpectation, rows: readonly FeedRow[], from: string): void {
  checkRowsShape(expect, rows.length, rows[0]?.values.length ?? expect.width, from);
  for (const row of rows) checkRow(row, expect.width, from);
}

/**
 * A batch a client asks the agent to store (the agent's side of APPLY): the sender's identity, rows
 * as wide as the columns named, origins that are node ids, a cursor covering its rows or the repair
 * marker -1. Comes back with the unusable known nodes dropped.
 */
export function checkedApplyRequest(request: ApplyRequest, from: string): ApplyRequest {
  checkIdentity(request.sender, from, "the sender's");
  if (new Set(request.columns).size !== request.columns.length) throw refused(from, 'a column list with repeated names');
  if (!(Number.isSafeInteger(request.throughRowid) && request.throughRowid >= -1))
    throw refused(from, `${quoted(request.throughRowid)} as a cursor`);
  // A feed's entries come in rowid order up to their cursor; a repair's (-1) from anywhere.
  if (request.throughRowid >= 0) checkRowids(request.rows, 0, request.throughRowid, from);
  for (const row of request.rows) checkRow(row, request.columns.length, from);
  return { ...request, knownNodes: usableKnownNodes(request.knownNodes, from) };
}

/** The end of a direction, as a client reports it to the agent: the name a sync note will carry. */
export function checkReport(report: ReceiveReport, from: string): void {
  checkIdentity(report.sender, from, "the sender's");
  if (!isNodeName(report.trackingName)) throw refused(from, `${quoted(report.trackingName)} as the name to file the sync under`);
  if (!isCount(report.received)) throw refused(from, `${quoted(report.received)} as a number of entries`);
  if (report.newestTimestamp !== undefined && !isTimestamp(report.newestTimestamp))
    throw refused(from, `${quoted(report.newestTimestamp)} as a time`);
}
