/**
 * Encoders and decoders for every agent message (the table is in protocol.ts). Each decoder reads its
 * payload to the last byte, so a message from a differently-built peer fails loudly, not subtly.
 */
import type {
  ApplyRequest,
  ApplyResult,
  DigestRequest,
  DigestResult,
  EntryHashName,
  FeedBatch,
  FeedRequest,
  FeedRow,
  NodeIdentity,
  ExchangeRecord,
  ReceiveReport,
  ReplicaInfo,
} from '../core/replica.js';
import { isEntryHashName } from '../core/replica.js';
import { SyncError } from '../core/errors.js';
import { checkRowsShape, type RowsExpectation } from '../core/feed-checks.js';
import { localContextsOf, type Route } from '../core/route.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';
import { ErrorScope, MAX_MESSAGE_ROWS, type ErrorMessage, type Hello, type Welcome } from './protocol.js';

export function frameOf(type: number, write?: (writer: Writer) => void, sizeHint?: number): Buffer {
  const writer = new Writer(sizeHint);
  write?.(writer);
  return writer.frame(type);
}

export function decode<T>(payload: Uint8Array, read: (reader: Reader) => T): T {
  const reader = new Reader(payload);
  const value = read(reader);
  reader.end();
  return value;
}

export const writeHello = (w: Writer, h: Hello) =>
  w.uint(h.protocol).string(h.clientVersion).string(h.dbPath).bool(h.homeRelative).optionalString(h.nodeName).bool(h.prepare);
export const readHello = (r: Reader): Hello => ({
  protocol: r.uint(),
  clientVersion: r.string(),
  dbPath: r.string(),
  homeRelative: r.bool(),
  nodeName: r.optionalString(),
  prepare: r.bool(),
});

export const writeWelcome = (w: Writer, m: Welcome) => w.string(m.location).bool(m.readOnly);
export const readWelcome = (r: Reader): Welcome => ({ location: r.string(), readOnly: r.bool() });

export const writeError = (w: Writer, m: ErrorMessage) => w.u8(m.scope).string(m.code).string(m.message);
export const readError = (r: Reader): ErrorMessage => {
  const scope = r.u8();
  if (scope !== ErrorScope.request && scope !== ErrorScope.feed)
    throw new SyncError('PROTOCOL_ERROR', `malformed agent message (error scope ${scope})`);
  return { scope, code: r.string(), message: r.string() };
};

const writeNode = (w: Writer, node: NodeIdentity) => w.string(node.id).string(node.name);
const readNode = (r: Reader): NodeIdentity => ({ id: r.string(), name: r.string() });

function writeNodes(w: Writer, nodes: readonly NodeIdentity[]): void {
  w.uint(nodes.length);
  for (const node of nodes) writeNode(w, node);
}
function readNodes(r: Reader): NodeIdentity[] {
  const count = r.count(2, 'nodes');
  const nodes: NodeIdentity[] = [];
  for (let i = 0; i < count; i++) nodes.push(readNode(r));
  return nodes;
}

export function writeInfo(w: Writer, info: ReplicaInfo): void {
  writeNode(w, info.node);
  w.strings(info.columns).uint(info.maxRowid);
  writeNodes(w, info.knownNodes);
  w.string(info.location);
}
export const readInfo = (r: Reader): ReplicaInfo => ({
  node: readNode(r),
  columns: r.strings(),
  maxRowid: r.uint(),
  knownNodes: readNodes(r),
  location: r.string(),
});

export const writeCursorRequest = (w: Writer, m: { senderId: string; routeKey: string }) => w.string(m.senderId).string(m.routeKey);
export const readCursorRequest = (r: Reader) => ({ senderId: r.string(), routeKey: r.string() });

/** Rows with a per-message origin table and rowid deltas (see protocol.ts). */
export function writeRows(w: Writer, rows: readonly FeedRow[]): void {
  if (rows.length > MAX_MESSAGE_ROWS)
    throw new SyncError(
      'PROTOCOL_ERROR',
      `a message would carry more than ${MAX_MESSAGE_ROWS} entries; lower the batch size (--batch-rows)`,
    );
  const width = rows[0]?.values.length ?? 0;
  const origins = new Map<string, number>();
  for (const row of rows) if (!origins.has(row.origin)) origins.set(row.origin, origins.size);
  w.uint(rows.length)
    .uint(width)
    .strings([...origins.keys()]);
  let previous = 0;
  for (const row of rows) {
    if (row.values.length !== width) throw new SyncError('INTERNAL', `feed rows of different widths (${row.values.length} and ${width})`);
    w.sintNumber(row.rowid - previous).uint(origins.get(row.origin) as number);
    previous = row.rowid;
    for (const value of row.values) w.value(value);
  }
}
/**
 * Rows, checked against what the receiver asked for (`expect`: at most that many, exactly that wide)
 * and against the bytes left, before any row is built: each row takes at least a rowid delta, an
 * origin index and a tag byte per value, so a frame announcing millions of empty rows fails here,
 * not after filling memory with them.
 */
export function readRows(r: Reader, expect?: RowsExpectation, from = 'the other end'): FeedRow[] {
  const count = r.uint();
  const width = r.uint();
  if (expect) checkRowsShape(expect, count, width, from);
  if (count > MAX_MESSAGE_ROWS || count * (2 + width) > r.remaining) {
    throw new SyncError('PROTOCOL_ERROR', `malformed agent message (${count} rows of ${width} values cannot fit in ${r.remaining} bytes)`);
  }
  // Every origin in the table is some row's: a longer table is padding.
  const origins = r.strings(count);
  const rows: FeedRow[] = [];
  let rowid = 0;
  for (let i = 0; i < count; i++) {
    rowid += r.sintNumber();
    const origin = origins[r.uint()];
    if (origin === undefined || !Number.isSafeInteger(rowid))
      throw new SyncError('PROTOCOL_ERROR', 'malformed agent message (bad row header)');
    const values = [];
    for (let j = 0; j < width; j++) values.push(r.value());
    rows.push({ rowid, origin, values });
  }
  return rows;
}

/** The device-local list always travels resolved, so the agent applies exactly the client's (protocol 3). */
function writeRoute(w: Writer, route: Route): void {
  w.strings(route.includeContext).strings(route.excludeContext).strings(route.includeSource).strings(route.excludeSource);
  w.strings([...localContextsOf(route)]).bool(route.onlyKeptHome ?? false);
}
const readRoute = (r: Reader): Route => ({
  includeContext: r.strings(),
  excludeContext: r.strings(),
  includeSource: r.strings(),
  excludeSource: r.strings(),
  localContexts: r.strings(),
  onlyKeptHome: r.bool(),
});

export function writeApply(w: Writer, a: ApplyRequest): void {
  writeNode(w, a.sender);
  w.string(a.routeKey).strings(a.columns);
  writeRows(w, a.rows);
  w.sint(BigInt(a.throughRowid)).bool(a.rewound);
  writeNodes(w, a.knownNodes);
  w.bool(a.dryRun);
}
export function readApply(r: Reader): ApplyRequest {
  const sender = readNode(r);
  const routeKey = r.string();
  const columns = r.strings();
  // As wide as the columns it names; as many as the frame and MAX_MESSAGE_ROWS allow.
  const rows = readRows(r, { maxRows: MAX_MESSAGE_ROWS, width: columns.length }, 'the client');
  return { sender, routeKey, columns, rows, throughRowid: Number(r.sint()), rewound: r.bool(), knownNodes: readNodes(r), dryRun: r.bool() };
}

export function writeDigestRequest(w: Writer, request: DigestRequest): void {
  writeRoute(w, request.route);
  w.string(request.hash);
  w.bool(request.buckets !== undefined).strings(request.buckets ?? []);
}
export function readDigestRequest(r: Reader): DigestRequest {
  const route = readRoute(r);
  const hash = readEntryHashName(r);
  const hasBuckets = r.bool();
  const buckets = r.strings();
  return { route, hash, buckets: hasBuckets ? buckets : undefined };
}
export function writeDigestResult(w: Writer, result: DigestResult): void {
  w.uint(result.buckets.length);
  for (const bucket of result.buckets) w.string(bucket.bucket).uint(bucket.count).string(bucket.digest);
  w.strings(result.hashes);
}
export function readDigestResult(r: Reader): DigestResult {
  const buckets = Array.from({ length: r.count(3, 'digest buckets') }, () => ({ bucket: r.string(), count: r.uint(), digest: r.string() }));
  return { buckets, hashes: r.strings() };
}
export interface RowsByHashRequest {
  route: Route;
  columns: string[];
  hashes: string[];
  hash: EntryHashName;
}
export function writeRowsByHash(w: Writer, request: RowsByHashRequest): void {
  writeRoute(w, request.route);
  w.string(request.hash).strings(request.columns).strings(request.hashes);
}
export function readRowsByHash(r: Reader): RowsByHashRequest {
  const route = readRoute(r);
  const hash = readEntryHashName(r);
  return { route, hash, columns: r.strings(), hashes: r.strings() };
}

/** An entry hash function's name, one this side knows (the client names one both ends compute). */
function readEntryHashName(r: Reader): EntryHashName {
  const name = r.string();
  if (!isEntryHashName(name))
    throw new SyncError('PROTOCOL_ERROR', `an entry hash function this agent does not know: ${JSON.stringify(name)}`);
  return name;
}

export function writeApplyResult(w: Writer, a: ApplyResult): void {
  w.uint(a.received).uint(a.duplicates).uint(a.rejected).uint(a.syncNotes).optionalString(a.newestTimestamp);
  const refusals = a.refusals ?? [];
  w.uint(refusals.length);
  for (const refusal of refusals) w.optionalString(refusal.column ?? undefined).uint(refusal.count);
}
export const readApplyResult = (r: Reader): ApplyResult => ({
  received: r.uint(),
  duplicates: r.uint(),
  rejected: r.uint(),
  syncNotes: r.uint(),
  newestTimestamp: r.optionalString(),
  refusals: Array.from({ length: r.count(2, 'refusals') }, () => ({ column: r.optionalString() ?? null, count: r.uint() })),
});

export function writeExchange(w: Writer, record: ExchangeRecord): void {
  const { outcome } = record;
  w.string(record.peer).string(record.direction).string(outcome.status);
  w.uint(outcome.received)
    .uint(outcome.sent)
    .uint(outcome.duplicates)
    .uint(outcome.batches)
    .uint(outcome.rejected ?? 0);
  w.optionalString(outcome.errorCode).optionalString(outcome.message);
  const refusals = outcome.refusals ?? [];
  w.uint(refusals.length);
  for (const refusal of refusals) w.optionalString(refusal.column ?? undefined).uint(refusal.count);
}
/** What the client says it ran with this agent: remote input, checked here as far as its shape goes. */
export const readExchange = (r: Reader): ExchangeRecord => {
  const peer = r.string();
  const direction = r.string();
  const status = r.string();
  if (direction !== 'pull' && direction !== 'push')
    throw new SyncError('PROTOCOL_ERROR', `a LOG with direction ${JSON.stringify(direction)}`);
  if (status !== 'ok' && status !== 'failed') throw new SyncError('PROTOCOL_ERROR', `a LOG with status ${JSON.stringify(status)}`);
  return {
    peer,
    direction,
    outcome: {
      status,
      received: r.uint(),
      sent: r.uint(),
      duplicates: r.uint(),
      batches: r.uint(),
      rejected: r.uint(),
      errorCode: r.optionalString(),
      message: r.optionalString(),
      refusals: Array.from({ length: r.count(2, 'refusals') }, () => ({ column: r.optionalString() ?? null, count: r.uint() })),
    },
  };
};

export function writeReport(w: Writer, report: ReceiveReport): void {
  writeNode(w, report.sender);
  w.string(report.trackingName)
    .uint(report.received)
    .optionalString(report.newestTimestamp)
    .bool(report.success)
    .bool(report.writeSyncNote);
}
export const readReport = (r: Reader): ReceiveReport => ({
  sender: readNode(r),
  trackingName: r.string(),
  received: r.uint(),
  newestTimestamp: r.optionalString(),
  success: r.bool(),
  writeSyncNote: r.bool(),
});

export function writeFeedOpen(w: Writer, request: FeedRequest, credit: number): void {
  w.uint(request.afterRowid).string(request.receiverId);
  writeRoute(w, request.route);
  w.strings(request.columns).uint(request.maxRows).uint(request.maxBytes).uint(credit);
}
export const readFeedOpen = (r: Reader): { request: FeedRequest; credit: number } => ({
  request: {
    afterRowid: r.uint(),
    receiverId: r.string(),
    route: readRoute(r),
    columns: r.strings(),
    maxRows: r.uint(),
    maxBytes: r.uint(),
  },
  credit: r.uint(),
});

export function writeBatch(w: Writer, batch: FeedBatch): void {
  writeRows(w, batch.rows);
  w.uint(batch.throughRowid).uint(batch.bytes);
}
export const readBatch = (r: Reader, expect?: RowsExpectation, from?: string): FeedBatch => ({
  rows: readRows(r, expect, from),
  throughRowid: r.uint(),
  bytes: r.uint(),
});

/** A size hint for a batch's frame, so the writer rarely has to grow (and copy) its buffer. */
export function batchSizeHint(bytes: number, rows: number): number {
  return Math.min(bytes + rows * 24 + 1024, 64 * 1024 * 1024);
}
