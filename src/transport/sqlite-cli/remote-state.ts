/**
 * What a session knows of its remote database, and first contact: take the remote sync lock (the
 * same `<db>-sync.lock` the agent and local syncs take, so no two syncs of one database overlap),
 * probe the schema, read identity, nodes and cursors, and prepare the database if it has never seen
 * resonance-sync. Info and cursors are kept from the connect round trips, so the first info() and
 * cursor() calls cost nothing; info serves the first call only (the remote's own writers move its
 * feed's end at any time), cursors are forgotten as soon as this side writes.
 */
import { randomUUID } from 'node:crypto';
import type { NodeIdentity } from '../../core/replica.js';
import { ARRIVALS_TABLE, type NotesTableShape } from '../../core/notes-table.js';
import type { ScratchDir } from './delta-file.js';
import { describeRemoteDb } from './failures.js';
import { preparePlan } from './prepare-plan.js';
import { indexBuildRefusal, SYNC_INDEX_BUILD_LIMIT_BYTES } from '../../store/prepare.js';
import {
  cursorKey,
  infoQuery,
  isPreparedRemote,
  isUpToDateRemote,
  probeQuery,
  readInfo,
  readProbe,
  type InfoRow,
  type ProbeRow,
  type RemoteInfo,
  type RemoteProbe,
} from './remote-schema.js';
import type { CliSession } from './session.js';
import type { SshLocation } from '../ssh/ssh-command.js';

export interface DownloadLimits {
  maxRows: number;
  maxBytes: number;
  /** Rowids one download may scan, whatever the route lets through. */
  scanRowids: number;
}

/**
 * Many engine batches per round trip (the next download is fetched while this one is read, so a
 * larger one saves no time), bounded so the remote temp file and ours stay modest, and this process
 * too: an initial agentless pull of 100k notes read row by row (readFeed + apply) peaked at 167 MB
 * RSS with 20,000 rows / 64 MB per download, at 142 MB with 5,000 / 16 MB, in the same wall time.
 * A receiver here now ATTACHes each download instead (about 100 MB: the rows never become
 * JavaScript values), but dry runs and previewed receivers still read row by row, so the bound stays.
 */
export const DEFAULT_DOWNLOAD_LIMITS: DownloadLimits = { maxRows: 5_000, maxBytes: 16 * 1024 * 1024, scanRowids: 500_000 };

/** How long to wait for another sync's lock: long enough for a session that just ended to let go. */
const LOCK_WAIT_MS = 2_000;

export interface LoadOptions {
  location: SshLocation;
  nodeName: string;
  prepare: boolean;
  busyTimeoutMs: number;
  download?: Partial<DownloadLimits> | undefined;
  /** Locking (and all that follows) waits for this; the probe, which only reads, goes at once. */
  ready?: Promise<void> | undefined;
}

export class RemoteState {
  readonly limits: DownloadLimits;
  /** Where the session's PRAGMA data_version stood once connected: other writers' commits move it. */
  readonly connectedDataVersion: number | undefined;
  /** The remote database's text encoding (it never changes once the database has content). */
  readonly encoding: string | undefined;
  /**
   * Set when the remote was never prepared and a dry run previews it (under a provisional identity):
   * what preparing it would add to its tables (no index, view or identity), replayed inside each
   * previewed batch's transaction, which a dry run rolls back, so the batch has columns and
   * bookkeeping tables to be tried against. Undefined for a prepared remote.
   */
  readonly previewSetup: string[] | undefined;
  private fresh: RemoteInfo | undefined;
  private cursors: Map<string, number> | undefined;

  private constructor(
    readonly probe: RemoteProbe,
    readonly node: NodeIdentity,
    info: RemoteInfo,
    options: LoadOptions,
    previewSetup: string[] | undefined,
  ) {
    this.previewSetup = previewSetup;
    this.fresh = info;
    this.cursors = info.cursors;
    this.connectedDataVersion = info.dataVersion;
    this.encoding = info.encoding;
    this.limits = { ...DEFAULT_DOWNLOAD_LIMITS, ...options.download };
  }

  get shape(): NotesTableShape {
    return this.probe.shape;
  }

  /** Whether the remote has relay marks: a database at an older schema read by a dry run has none. */
  get hasArrivals(): boolean {
    return this.probe.objects.has(ARRIVALS_TABLE);
  }

  /**
   * The first request of a session, the schema probe (probeQuery's rows, read by load()): it only
   * reads, so it may go before this side is ready, and before the remote even answered.
   */
  static probe(session: CliSession): Promise<ProbeRow[]> {
    return session.json<ProbeRow>('reading its schema', { query: probeQuery() });
  }

  /** `firstProbe`: probe()'s rows, asked for first of all in this session. */
  static async load(session: CliSession, scratch: ScratchDir, firstProbe: Promise<ProbeRow[]>, options: LoadOptions): Promise<RemoteState> {
    const where = describeRemoteDb(options.location);
    // Probe first: it is what loads the schema, so a database locked by a writer fails here as
    // DB_BUSY, and "locked" while taking the sync lock can only mean another sync.
    let probe = readProbe(await firstProbe, where);
    await options.ready;
    // The lock and the info read under it go together (one round trip): a lock not taken ends the
    // session (-bail) before the read runs, and then the lock's failure is what both report.
    const locked = options.prepare ? RemoteState.lock(session, options.busyTimeoutMs) : undefined;
    locked?.catch(() => undefined);
    const reading = RemoteState.readInfo(session, probe);
    reading.catch(() => undefined);
    await locked;
    let info = await reading;
    const prepared = isPreparedRemote(probe, info);
    if (!prepared && !options.prepare) {
      // A dry run on first contact: previewed as it is, under a provisional identity never written.
      const setup = preparePlan(probe, info, options.nodeName, scratch.path).filter((sql) => /^(CREATE TABLE|ALTER TABLE)/i.test(sql));
      return new RemoteState(probe, { id: randomUUID(), name: options.nodeName }, info, options, setup);
    }
    // A database prepared by an older version is brought up to date by a sync that may write (keeping
    // its node's name); a dry run syncs it as it is.
    if (options.prepare && !isUpToDateRemote(probe, info)) {
      // Again under the lock: another first sync may have prepared it meanwhile.
      probe = await RemoteState.readProbe(session, where);
      const nodeName = prepared ? (info.meta.node_name ?? options.nodeName) : options.nodeName;
      const statements = preparePlan(probe, info, nodeName, scratch.path);
      await RemoteState.refuseLargeIndexBuild(session, statements, options.location);
      await session.json('preparing it for sync', { before: ['BEGIN IMMEDIATE;', ...statements, 'COMMIT;'], query: 'SELECT 1 AS ok' });
      probe = await RemoteState.readProbe(session, where);
      info = await RemoteState.readInfo(session, probe);
    }
    const node = { id: String(info.meta.node_id), name: String(info.meta.node_name ?? options.nodeName) };
    return new RemoteState(probe, node, info, options, undefined);
  }

  /**
   * As a local sync does (store/prepare.ts SYNC_INDEX_BUILD_LIMIT_BYTES): the one step of preparing
   * that takes a time growing with the database, building the dedupe index, is done by a sync only
   * in a small database, as it keeps the phone's agents out for as long as it takes.
   */
  private static async refuseLargeIndexBuild(session: CliSession, statements: string[], location: SshLocation): Promise<void> {
    if (!statements.some((sql) => /^CREATE (UNIQUE )?INDEX/i.test(sql))) return;
    const [row] = await session.json<{ bytes: number }>('measuring it', {
      query: 'SELECT (SELECT page_count FROM pragma_page_count()) * (SELECT page_size FROM pragma_page_size()) AS bytes',
    });
    const bytes = Number(row?.bytes ?? 0);
    if (bytes <= SYNC_INDEX_BUILD_LIMIT_BYTES) return;
    const quoted = `'${location.path.replaceAll("'", "'\\''")}'`;
    throw indexBuildRefusal(describeRemoteDb(location), bytes, 'timestamp-index', `run on the remote: sqlite3 ${quoted} "SQL"`);
  }

  private static async lock(session: CliSession, busyTimeoutMs: number): Promise<void> {
    await session.json('taking the sync lock', {
      before: [
        `.timeout ${LOCK_WAIT_MS}`,
        // The same lock file the agent and local syncs take (store/lock.ts): beside the database
        // sqlite3 opened, by the path it opened (so no path is ever spliced into SQL).
        "ATTACH (SELECT file FROM pragma_database_list WHERE name = 'main') || '-sync.lock' AS rs_lock;",
        // Exclusive locking mode keeps the lock from the first write until sqlite3 exits.
        'PRAGMA rs_lock.locking_mode = EXCLUSIVE;',
        'CREATE TABLE IF NOT EXISTS rs_lock.held (x);',
        'INSERT OR REPLACE INTO rs_lock.held (rowid, x) VALUES (1, 1);',
        `.timeout ${Math.trunc(busyTimeoutMs)}`,
      ],
      query: 'SELECT 1 AS locked',
      locking: true,
    });
  }

  private static async readProbe(session: CliSession, where: string): Promise<RemoteProbe> {
    return readProbe(await session.json<ProbeRow>('reading its schema', { query: probeQuery() }), where);
  }

  private static async readInfo(session: CliSession, probe: RemoteProbe): Promise<RemoteInfo> {
    return readInfo(await session.json<InfoRow>('reading it', { query: infoQuery(probe.objects) }));
  }

  /** The connect-time info (read a moment ago, under the lock) the first time, fresh after that: the remote's own writers move its feed's end at any time. */
  async info(session: CliSession): Promise<RemoteInfo> {
    const kept = this.fresh;
    this.fresh = undefined;
    if (kept) return kept;
    const info = await RemoteState.readInfo(session, this.probe);
    this.cursors = info.cursors;
    return info;
  }

  /** A feed is read from here on: its check must see the end of the feed as it is. */
  forgetInfo(): void {
    this.fresh = undefined;
  }

  cachedCursor(senderId: string, routeKey: string): number | undefined {
    // A remote never prepared has received nothing yet (and has no cursors table to ask).
    if (this.previewSetup) return 0;
    return this.cursors === undefined ? undefined : (this.cursors.get(cursorKey(senderId, routeKey)) ?? 0);
  }

  /** This side writes: neither info nor cursors may be as they were. */
  forgetCursors(): void {
    this.cursors = undefined;
    this.fresh = undefined;
  }
}
