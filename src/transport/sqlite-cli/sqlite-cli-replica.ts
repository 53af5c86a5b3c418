/**
 * A Replica on another machine that has only sshd and the sqlite3 CLI (mode = "sqlite3"): the
 * agentless transport. One ssh session runs one remote sqlite3 for the whole sync (see
 * transport/sqlite-cli/session.ts); rows cross it only inside delta databases, never as parsed
 * text, so they arrive byte-exact. Reads are downloads of many batches at once; each pushed batch is
 * one remote write transaction that commits its rows together with the cursor that covers them, so a
 * connection lost at any instant loses nothing and duplicates nothing.
 */
import { basename, extname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatPeerUrl } from '../../core/peer-url.js';
import { SyncError } from '../../core/errors.js';
import { quoted } from '../../core/feed-checks.js';
import { toNodeName } from '../../core/node-name.js';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../../store/sqlite/open-database.js';
import { valueBytes } from '../../core/sql-value.js';
import { attributeRefusals, refusedColumnOf } from '../../core/refusals.js';
import type { Route } from '../../core/route.js';
import { tallyArrivals, type ArrivedEntry } from '../../core/arrivals.js';
import type { NaiveTimestamps } from '../../core/timestamps.js';
import { cursorSql } from '../../store/receive-sql.js';
import { WriteLockYieldPolicy } from '../../store/write-lock-yield.js';
import type { SshLocation } from '../ssh/ssh-command.js';
import { applyPlan, applyRequest, finishSql, type ApplyResultRow } from './apply.js';
import { Download, ScratchDir, buildUpload, feedDownloadColumns, valueColumns } from './delta-file.js';
import { describeRemoteDb } from './failures.js';
import { bucketDigestsSql, entryHashesSql, feedDownloadSql, hashDownloadSql } from './feed.js';
import { DATA_VERSION_SQL } from './remote-schema.js';
import { RemoteState, type DownloadLimits } from './remote-state.js';
import { CliSession, type RequestPart } from './session.js';
import { exchangeLogSql } from '../../store/tracking.js';
import { inlineParams } from './sql-literals.js';
import { FeedCheck } from '../../core/feed-checks.js';
import { trace } from '../../core/trace.js';
import type { NotesTableShape } from '../../core/notes-table.js';
import type {
  ApplyRequest,
  AttachableFeedPart,
  ApplyResult,
  DigestRequest,
  DigestResult,
  EntryHashName,
  FeedBatch,
  FeedRequest,
  FeedRow,
  ExchangeRecord,
  ReceiveReport,
  Replica,
  ReplicaInfo,
} from '../../core/replica.js';
import { NOTHING_APPLIED, UnconfirmedWrites, onlyMovesCursor } from '../../core/replica.js';

export interface SqliteCliConnectOptions {
  location: SshLocation;
  /** The remote sqlite3 command: the peer's remote_command in mode "sqlite3" (default `sqlite3`). */
  sqlite3Command?: string | undefined;
  /** Names the remote node if it is prepared on first contact (default: the database file's name). */
  nodeName: string | undefined;
  /** Prepare an unprepared remote and take its sync lock; false in dry runs, which write nothing. */
  prepare: boolean;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  busyTimeoutMs?: number;
  naiveTimestamps?: NaiveTimestamps;
  download?: Partial<DownloadLimits>;
  /** The configured stall timeout (peer, else global), if any; RESONANCE_SYNC_STALL_TIMEOUT overrides it. */
  stallTimeoutMs?: number | undefined;
  /** Locking the remote database waits for this (ssh connects meanwhile); a rejection ends the session. */
  ready?: Promise<void> | undefined;
}

/** A feed download's table as a sender's notes table (delta-file.ts feedDownloadColumns): what a receiver ATTACHing it reads. */
function downloadedNotesShape(columns: readonly string[]): NotesTableShape {
  return {
    allColumns: feedDownloadColumns(columns),
    rowidAlias: undefined,
    userColumns: [...columns],
    hasSource: columns.includes('source'),
    hasOrigin: true,
    hasContext: columns.includes('context'),
    requiredColumns: [],
  };
}

export class SqliteCliReplica implements Replica {
  /** The shell's only hash is sha3() (its SQL computes the entry hashes: feed.ts). */
  readonly entryHashNames: readonly EntryHashName[] = ['sha3-256'];
  /** Fairness towards the remote's own writers, which share its write lock with our batches. */
  private readonly yieldPolicy = new WriteLockYieldPolicy();
  /** The remote connection's PRAGMA data_version as last seen (first, when connecting). */
  private dataVersion: number | undefined;
  /** Bookkeeping writes sent and not yet confirmed (post()). */
  private readonly unconfirmed = new UnconfirmedWrites();

  private constructor(
    private readonly session: CliSession,
    private readonly scratch: ScratchDir,
    private readonly state: RemoteState,
    private readonly options: SqliteCliConnectOptions,
  ) {
    // Agents seen committing while the sync starts make it polite from its first batch, as locally.
    this.dataVersion = state.connectedDataVersion;
  }

  static async connect(options: SqliteCliConnectOptions): Promise<SqliteCliReplica> {
    const session = CliSession.open({
      location: options.location,
      sqlite3Command: options.sqlite3Command,
      env: options.env ?? process.env,
      signal: options.signal,
      busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      stallTimeoutMs: options.stallTimeoutMs,
    });
    // Asked for before the remote answers, so that its round trip overlaps the connection's.
    const probe = RemoteState.probe(session);
    probe.catch(() => undefined); // read by load(), after connected() reported a failed start
    let scratch: ScratchDir | undefined;
    try {
      scratch = new ScratchDir(); // while ssh connects
      await session.connected();
      const nodeName = options.nodeName ?? toNodeName(basename(options.location.path, extname(options.location.path)));
      const state = await RemoteState.load(session, scratch, probe, {
        ...options,
        nodeName,
        busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      });
      return new SqliteCliReplica(session, scratch, state, options);
    } catch (error) {
      await session.close().catch(() => undefined);
      scratch?.remove();
      throw error;
    }
  }

  /** The remote sqlite3's version (for doctor/status output). */
  get sqliteVersion(): string {
    return this.session.version;
  }

  /** A remote database: nothing here can ATTACH it. */
  attachable(): undefined {
    return undefined;
  }

  /** Rows from elsewhere reach a remote only through apply. */
  receiveDirect(): undefined {
    return undefined;
  }

  async info(): Promise<ReplicaInfo> {
    const info = await this.state.info(this.session);
    // Host-qualified: the same path on two machines is two databases, not "the same database".
    const location = formatPeerUrl({ ...this.options.location, path: this.state.probe.file, homeRelative: false });
    return { node: this.state.node, columns: this.state.shape.userColumns, maxRowid: info.maxRowid, knownNodes: info.knownNodes, location };
  }

  async cursor(senderId: string, routeKey: string): Promise<number> {
    const cached = this.state.cachedCursor(senderId, routeKey);
    if (cached !== undefined) return cached;
    const { sql, params } = cursorSql(senderId, routeKey);
    const rows = await this.session.json<{ t: number }>('reading its cursor', { query: inlineParams(sql, params) });
    return Number(rows[0]?.t ?? 0);
  }

  /**
   * Downloads the feed in chunks of many batches (one round trip each, the next one fetched while
   * this one is consumed) and hands them out in the engine's batch sizes from the file on disk.
   */
  async *readFeed(request: FeedRequest, signal?: AbortSignal): AsyncIterable<FeedBatch> {
    for await (const { download, after, through } of this.downloads(request)) {
      for (const batch of this.batches(download, request, after, through)) {
        signal?.throwIfAborted();
        yield batch;
      }
    }
  }

  /**
   * The feed as downloaded files a receiver here ATTACHes (see Replica.attachableFeed): the same
   * downloads as readFeed's, one fetched ahead, each checked in SQL before it is handed out for
   * everything readFeed's consumer checks row by row (FeedCheck, feedRow): its tables and columns,
   * its size, its window and rowids, its origins, and the cursor it lets the receiver commit
   * against the end of the remote's feed (read again when beyond it). Only for a receiver whose
   * database has the remote's text encoding: ATTACH needs the same.
   */
  attachableFeed(
    request: FeedRequest,
    receiver: { encoding: string; senderInfo: ReplicaInfo },
    signal?: AbortSignal,
  ): AsyncIterable<AttachableFeedPart> | undefined {
    if (this.state.encoding === undefined || this.state.encoding !== receiver.encoding) return undefined;
    return this.downloadedParts(request, receiver.senderInfo, signal);
  }

  private async *downloadedParts(request: FeedRequest, senderInfo: ReplicaInfo, signal?: AbortSignal): AsyncIterable<AttachableFeedPart> {
    const check = new FeedCheck(request, senderInfo, () => this.info());
    const shape = downloadedNotesShape(request.columns);
    const checked = async (download: Download, after: number, through: number) => {
      download.checkOrigins(request.receiverId);
      const encoding = download.encoding();
      if (encoding !== this.state.encoding)
        throw new SyncError(
          'PROTOCOL_ERROR',
          `${this.where} sent a delta file in ${quoted(encoding)} where its database is in ${quoted(this.state.encoding)}; refused, nothing of it was kept`,
        );
      // As readFeed's last batch of the download would be checked (it has none when the window did not move).
      if (through > after) await check.batch({ rows: [], throughRowid: through, bytes: 0 });
    };
    for await (const { download, after, through } of this.downloads(request, checked)) {
      signal?.throwIfAborted();
      if (through <= after) continue;
      trace(`sqlite3: download after ${after} handed to the receiver`);
      yield {
        source: { path: download.path, shape, nodeId: this.state.node.id },
        after,
        through,
        failure: (error) => download.failure(error),
      };
      trace(`sqlite3: download after ${after} moved`);
    }
  }

  /**
   * The feed's downloads in order, each with the window (after, through] it covers: the next one is
   * asked for once this one passed `check`, and arrives while this one is used; each is closed (its
   * file deleted) when the consumer moves on.
   */
  private async *downloads(
    request: FeedRequest,
    check: (download: Download, after: number, through: number) => Promise<void> | void = () => undefined,
  ): AsyncIterable<{ download: Download; after: number; through: number }> {
    this.state.forgetInfo();
    let after = request.afterRowid;
    let coming = this.download(request, after);
    let next: Promise<Download> | undefined = coming;
    try {
      for (;;) {
        const current = await coming;
        next = undefined;
        try {
          const { through, more } = current.feedWindow(after, this.state.limits.maxRows);
          await check(current, after, through);
          if (more) next = coming = this.download(request, through);
          yield { download: current, after, through };
          after = through;
          if (!more) return;
        } finally {
          current.close();
        }
      }
    } finally {
      // The consumer stopped early, or a check failed: let a download already under way finish, and drop it.
      if (next)
        await next.then(
          (download) => download.close(),
          () => undefined,
        );
    }
  }

  private *batches(download: Download, request: FeedRequest, after: number, through: number): Generator<FeedBatch> {
    let rows: FeedRow[] = [];
    let bytes = 0;
    let reached = after;
    for (const values of download.rows()) {
      const row = download.feedRow(values, this.state.node.id);
      rows.push(row);
      bytes += row.values.reduce<number>((sum, value) => sum + valueBytes(value), 0);
      if (rows.length >= request.maxRows || bytes >= request.maxBytes) {
        yield { rows, throughRowid: row.rowid, bytes };
        reached = row.rowid;
        rows = [];
        bytes = 0;
      }
    }
    if (rows.length > 0 || through > reached) yield { rows, throughRowid: through, bytes };
  }

  private async download(request: FeedRequest, after: number): Promise<Download> {
    const localPath = this.scratch.file(`feed-${after}.sqlite3`);
    const limits = this.state.limits;
    const download = { ...request, afterRowid: after, maxRows: limits.maxRows, maxBytes: limits.maxBytes, scanRowids: limits.scanRowids };
    const arrivals = this.state.hasArrivals ? 'main' : undefined;
    await this.session.download('reading new entries', {
      before: (file) => [feedDownloadSql(this.state.shape, download, arrivals, file)],
      localPath,
    });
    return new Download(localPath, { kind: 'feed', columns: feedDownloadColumns(request.columns), from: this.where });
  }

  /** The remote database, for messages. */
  private get where(): string {
    return describeRemoteDb(this.options.location);
  }

  async apply(request: ApplyRequest): Promise<ApplyResult> {
    const plan = applyPlan(this.state.shape, request);
    const upload = request.rows.length === 0 ? undefined : buildUpload(this.scratch.file('upload.sqlite3'), request.rows, plan.positions);
    this.state.forgetCursors();
    const sql = applyRequest(this.state.node.id, request, plan, upload, this.state.hasArrivals, this.state.previewSetup);
    if (onlyMovesCursor(request)) {
      // A batch of a sync without entries (a push moving past the echoes of what it just received, or
      // past what its route keeps back) only moves the remote's cursor: what it answers is known
      // before it runs, so it is sent like the bookkeeping writes and confirmed with them at the sync's
      // end (post(), settle()), one round trip less. Its transaction is as short as a write can be: no
      // writer waits on it. (verify's repair batches, throughRowid -1, are waited for as ever.)
      this.post('writing a batch', sql);
      return { ...NOTHING_APPLIED };
    }
    const [row] = await this.session.json<ApplyResultRow>('writing a batch', sql);
    if (!row) throw new SyncError('PROTOCOL_ERROR', `no result for a batch from ${describeRemoteDb(this.options.location)}`);
    await this.yieldWriteLock(Number(row.held_ms ?? 0), row.data_version);
    // What arrived, from the values sent: the entries the remote reports as newly stored.
    const [timestampAt, contextAt, sourceAt, contentAt] = ['timestamp', 'context', 'source', 'content'].map((name) =>
      request.columns.indexOf(name),
    ) as [number, number, number, number];
    const arrived = (row.new_seqs ?? '')
      .split(',')
      .filter((seq) => seq !== '')
      .map((seq): ArrivedEntry => {
        const values = request.rows[Number(seq)]?.values ?? [];
        const at = (index: number) => (index < 0 ? null : (values[index] ?? null));
        return [at(timestampAt), at(contextAt), at(sourceAt), at(contentAt)];
      });
    const inserted = Number(row.inserted ?? 0);
    const duplicates = Number(row.duplicates ?? 0);
    const rejected = Number(row.total ?? 0) - inserted - duplicates;
    // Why, from the values sent: an entry with a NULL in one of the remote's NOT NULL columns was refused.
    const refusals =
      rejected > 0
        ? attributeRefusals(
            rejected,
            request.rows.map((entry) =>
              refusedColumnOf(
                this.state.shape,
                plan.columns,
                plan.positions.map((at) => entry.values[at] ?? null),
              ),
            ),
          )
        : [];
    return {
      received: inserted,
      duplicates,
      rejected,
      refusals,
      ...tallyArrivals(arrived, this.options.naiveTimestamps ?? 'utc'),
    };
  }

  /**
   * Stays off the remote's write lock as long as the policy says, as a local receiver would: told
   * how long the batch held it and whether the remote's other writers committed, which between
   * batches only the remote can tell (its PRAGMA data_version, read by our long-lived sqlite3).
   */
  private async yieldWriteLock(heldMs: number, dataVersion: number): Promise<void> {
    let gap = this.yieldPolicy.released(heldMs, this.othersCommitted(dataVersion));
    while (gap > 0) {
      await sleep(gap);
      const [now] = await this.session.json<{ v: number }>('letting its other writers in', { query: DATA_VERSION_SQL });
      gap = this.yieldPolicy.stayedOff(this.othersCommitted(now?.v));
    }
  }

  private othersCommitted(dataVersion: number | undefined): boolean {
    if (dataVersion === undefined) return false;
    const moved = this.dataVersion !== undefined && dataVersion !== this.dataVersion;
    this.dataVersion = dataVersion;
    return moved;
  }

  /** Sent, not waited for: see post(). */
  async finishReceiving(report: ReceiveReport): Promise<void> {
    this.state.forgetCursors();
    this.post('recording the sync', finishSql(this.state.shape, report));
  }

  /** Sent, not waited for: see post(). */
  async recordExchange(record: ExchangeRecord): Promise<void> {
    if (this.state.previewSetup) return; // never prepared: no sync_log to write
    const { sql, params } = exchangeLogSql(record);
    this.post('logging the sync', `${inlineParams(sql, params)};`);
  }

  /**
   * A bookkeeping write (sync_tracking and the sync note, a sync_log row, a batch without entries),
   * sent at once and run by the remote as soon as it arrives, in its own transaction as before, but
   * not waited for: the bookkeeping of a whole sync costs one round trip (settle()) instead of one per
   * write. A write that fails ends the session (-bail), so nothing sent after it runs, and the next
   * request, or settle(), reports that failure with this write's action.
   */
  private post(action: string, request: string | { before: RequestPart[]; query: string; after: string[] }): void {
    // Reported by settle(), or by the next request (the session is broken).
    this.unconfirmed.add(this.session.json(action, typeof request === 'string' ? { before: [request], query: 'SELECT 1 AS ok' } : request));
  }

  settle(): Promise<void> {
    return this.unconfirmed.settle();
  }

  /** verify asks only for an entry hash function both ends compute (entryHashNames). */
  private checkHashName(hash: EntryHashName): void {
    if (!this.entryHashNames.includes(hash)) throw new SyncError('INTERNAL', `the sqlite3 shell cannot take entry hashes with ${hash}`);
  }

  async digest(request: DigestRequest): Promise<DigestResult> {
    this.checkHashName(request.hash);
    const shape = this.state.shape;
    if (request.buckets === undefined) {
      // Whole-table scans that answer only when done: no stall timeout (session.ts).
      const rows = await this.session.json<{ bucket: string; count: number; digest: string }>('computing digests', {
        ...bucketDigestsSql(shape, request.route),
        scansWholeTable: true,
      });
      const buckets = rows.map((r) => ({ bucket: String(r.bucket), count: Number(r.count), digest: String(r.digest) }));
      // Only the buckets that hold entries, as digest.ts lists them.
      return { buckets: buckets.filter((b) => b.count > 0), hashes: [] };
    }
    const rows = await this.session.json<{ h: string }>('computing digests', {
      query: entryHashesSql(shape, request.route, request.buckets),
      scansWholeTable: true,
    });
    return { buckets: [], hashes: rows.map((r) => String(r.h)) };
  }

  async rowsByHash(route: Route, columns: string[], hashes: string[], hash: EntryHashName): Promise<FeedRow[]> {
    this.checkHashName(hash);
    const localPath = this.scratch.file('hashes.sqlite3');
    await this.session.download('reading entries to repair', {
      before: (file) => [hashDownloadSql(this.state.shape, route, columns, hashes, file)],
      localPath,
      scansWholeTable: true,
    });
    const download = new Download(localPath, {
      kind: 'hashes',
      columns: ['__h', '__rowid', '__origin', ...valueColumns(columns.length)],
      from: this.where,
    });
    try {
      // Entries sharing a hash (duplicates the database held before sync came) come once; the rest
      // must be hashes asked for, so the answer holds at most one entry per hash.
      download.checkSize(Number.MAX_SAFE_INTEGER);
      const asked = new Set(hashes);
      const seen = new Set<string>();
      const rows: FeedRow[] = [];
      for (const values of download.rows()) {
        const hash = values[0];
        if (typeof hash !== 'string' || !asked.has(hash)) {
          throw new SyncError(
            'PROTOCOL_ERROR',
            `${this.where} answered with an entry of hash ${quoted(hash)}, which was not asked for; refused, nothing was repaired`,
          );
        }
        if (seen.has(hash)) continue;
        seen.add(hash);
        rows.push(download.feedRow(values, this.state.node.id, 1));
      }
      return rows;
    } finally {
      download.close();
    }
  }

  async close(): Promise<void> {
    try {
      await this.session.close();
    } finally {
      this.scratch.remove();
    }
  }
}
