/**
 * The seam (src/core/replica.ts) tested method by method against every transport, the way
 * Litestream's RunWithReplicaClient tests each replica client: the Replica under test is the peer
 * the transport opens, as open-peer.ts opens it for a sync (as a sender: its feed and digests; as a
 * receiver: apply, cursor, finishReceiving), fed by a plain LocalReplica on this machine.
 *
 * Receiving runs on every path the transport has: the general one (the sender's readFeed, batch by
 * batch into the receiver's apply, as the engine moves rows for a remote) and, where the receiver
 * reads a sender on this machine itself, receiveDirect (rows moved inside SQLite through ATTACH),
 * which must keep exactly the same rules.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type {
  AppliedBatch,
  ApplyRequest,
  DigestResult,
  DirectReceiveRequest,
  EntryHashName,
  FeedRequest,
  FeedRow,
  NodeIdentity,
  ReceiveReport,
  Replica,
} from '../../src/core/replica.js';
import { EVERYTHING, type Route } from '../../src/core/route.js';
import { valueBytes, type SqlValue } from '../../src/core/sql-value.js';
import { SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE, syncNoteText } from '../../src/core/sync-note.js';
import {
  createNotesDb,
  createNotesDbWith,
  identityCounts,
  identityKey,
  insertNotes,
  openReplica,
  withDb,
  type Note,
} from '../support/notes-db.js';
import { UnattachableReplica } from '../support/unattachable-replica.js';
import { openThrough, type PeerTransport, type TransportSession } from './transport.js';

/** `direct` with the sender in its rollback journal (the batch staged by a read of its own), and in WAL mode (read by the write itself). */
type ReceivePath = 'direct' | 'direct, WAL sender' | 'general';

/** What each case gets: a fresh folder, and replicas that are closed (and the folder removed) when it ends. */
interface Case {
  dir: string;
  /** The database at `path` through the transport under test (prepared on first contact). */
  open(path: string): Promise<Replica>;
  /** A LocalReplica on this machine (the sender feeding the replica under test, or a reference reader). */
  local(path: string, nodeName: string): Replica;
}

const SENDER: NodeIdentity = { id: '5e4de400-0000-4000-8000-000000000001', name: 'sender_one' };
const OTHER_SENDER: NodeIdentity = { id: '5e4de400-0000-4000-8000-000000000002', name: 'sender_two' };
const RELAY: NodeIdentity = { id: '4e1a9000-0000-4000-8000-000000000009', name: 'relay_nine' };
/** The columns of variant b, as they travel. */
const COLUMNS = ['timestamp', 'content', 'context', 'source'];
/** Every identity column nullable, so a sender can hold what some receivers refuse. */
const NULLABLE_DDL = `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT, content TEXT, context TEXT, source TEXT)`;

const at = (second: number) => `2025-12-01 10:${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}`;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const feedRow = (origin: string, ...values: SqlValue[]): FeedRow => ({ rowid: 0, origin, values });

function applyRequest(rows: FeedRow[], extra: Partial<ApplyRequest> = {}): ApplyRequest {
  const request: ApplyRequest = {
    sender: SENDER,
    routeKey: 'r1',
    columns: COLUMNS,
    rows,
    throughRowid: 0,
    rewound: false,
    knownNodes: [],
    dryRun: false,
    ...extra,
  };
  // As a real feed sends them: sender rowids rising up to the batch's cursor (receivers check this);
  // a repair batch (negative cursor) carries entries from anywhere.
  const through = request.throughRowid;
  const first = Math.max(1, through - request.rows.length + 1);
  return through < 0 ? request : { ...request, rows: request.rows.map((row, i) => ({ ...row, rowid: first + i })) };
}

function feed(extra: Partial<FeedRequest> = {}): FeedRequest {
  return { afterRowid: 0, receiverId: 'nobody', route: EVERYTHING, columns: COLUMNS, maxRows: 1000, maxBytes: 1 << 20, ...extra };
}

interface ReceiptOptions {
  routeKey?: string;
  rewound?: boolean;
  knownNodes?: NodeIdentity[];
  dryRun?: boolean;
}

function receiveRequest(sender: NodeIdentity, feedRequest: Partial<FeedRequest> = {}, options: ReceiptOptions = {}): DirectReceiveRequest {
  return {
    feed: feed(feedRequest),
    receipt: { sender, routeKey: options.routeKey ?? 'r1', rewound: options.rewound ?? false, knownNodes: options.knownNodes ?? [] },
    dryRun: options.dryRun ?? false,
  };
}

/**
 * The sender's feed into the receiver on one path. The general path is the engine's: each batch of
 * readFeed goes to apply with its cursor, and rewound goes with the first batch only.
 */
async function* receive(path: ReceivePath, receiver: Replica, sender: Replica, request: DirectReceiveRequest): AsyncIterable<AppliedBatch> {
  if (path !== 'general') {
    const source = sender.attachable?.();
    assert.ok(source, 'the sender is on this machine');
    const mode = withDb(source.path, (db) =>
      String(db.prepare(`PRAGMA journal_mode${path === 'direct' ? '' : ' = WAL'}`).get()?.journal_mode),
    );
    assert.equal(mode, path === 'direct' ? 'delete' : 'wal');
    const direct = receiver.receiveDirect(sender, request);
    assert.ok(direct, 'a receiver on this machine reads a sender on this machine itself');
    yield* direct;
    return;
  }
  const hidden = new UnattachableReplica(sender);
  assert.equal(receiver.receiveDirect(hidden, request), undefined, 'a sender it cannot attach leaves moving the rows to the engine');
  let rewound = request.receipt.rewound;
  for await (const batch of hidden.readFeed(request.feed)) {
    const { columns } = request.feed;
    const result = await receiver.apply({
      ...request.receipt,
      columns,
      rows: batch.rows,
      throughRowid: batch.throughRowid,
      rewound,
      dryRun: request.dryRun,
    });
    rewound = false;
    yield { sent: batch.rows.length, bytes: batch.bytes, throughRowid: batch.throughRowid, result };
  }
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const collected: T[] = [];
  for await (const item of items) collected.push(item);
  return collected;
}

/** The first item, then the producer is stopped (as a sync interrupted after one batch). */
async function first<T>(items: AsyncIterable<T>): Promise<T> {
  for await (const item of items) return item;
  throw new Error('nothing came');
}

function totals(batches: AppliedBatch[]) {
  const sum = (pick: (batch: AppliedBatch) => number) => batches.reduce((n, batch) => n + pick(batch), 0);
  return {
    sent: sum((b) => b.sent),
    received: sum((b) => b.result.received),
    duplicates: sum((b) => b.result.duplicates),
    rejected: sum((b) => b.result.rejected),
  };
}

/** Every table's rows (sorted, exact integers, blobs as hex): equal content, whatever the file's bytes. */
function contentOf(path: string): Record<string, string[]> {
  return withDb(path, (db) => {
    const tables = db
      .prepare(`SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
      .all()
      .map((row) => String(row.name));
    const encode = (_key: string, value: unknown) =>
      typeof value === 'bigint' ? `${value}n` : value instanceof Uint8Array ? `x'${Buffer.from(value).toString('hex')}'` : value;
    return Object.fromEntries(
      tables.map((name) => [
        name,
        db
          .prepare(`SELECT * FROM "${name}"`, { exactIntegers: true })
          .all()
          .map((row) => JSON.stringify(row, encode))
          .sort(),
      ]),
    );
  });
}

function cursorsOf(path: string): Array<[string, string, number]> {
  return withDb(path, (db) =>
    db
      .prepare(`SELECT sender_id, route_key, through_rowid FROM resonance_sync_cursors ORDER BY sender_id, route_key`)
      .all()
      .map((row) => [String(row.sender_id), String(row.route_key), Number(row.through_rowid)]),
  );
}

/** Content and origin of the stored entries whose content starts with `prefix`, in rowid order. */
function originsOf(path: string, prefix: string): Array<[SqlValue, SqlValue]> {
  return withDb(path, (db) =>
    db
      .prepare(`SELECT content, sync_origin FROM resonance_notes WHERE substr(content, 1, length(?)) = ? ORDER BY rowid`)
      .all(prefix, prefix)
      .map((row) => [row.content ?? null, row.sync_origin ?? null]),
  );
}

/** 20 entries: small ones, two bigger than the byte limit (rowids 8 and 14), medium ones (9-13) three of which reach it. */
const LIMITS = { maxRows: 5, maxBytes: 1000 };
const BIG = [8, 14];
function limitsFeed(): Note[] {
  return range(1, 20).map((i) => ({
    timestamp: at(i),
    content: BIG.includes(i) ? `${'B'.repeat(3000)} ${i}` : i >= 9 && i <= 13 ? `${'m'.repeat(400)} ${i}` : `small ${i}`,
    context: 'ctx',
    source: 'agent',
  }));
}

/** A batch's size as the senders count it (for these ASCII, NULL-free entries the in-SQLite count agrees). */
const rowBytes = (values: SqlValue[]) => values.reduce<number>((sum, value) => sum + valueBytes(value), 0);

/**
 * Batches over consecutive rowids (nothing filtered out) keep the limits: at most maxRows entries,
 * and cut at the entry that reaches maxBytes, never later (so an entry bigger than maxBytes ends its
 * batch). `sizes[rowid]` is each entry's size; returns the cursors the batches committed.
 */
function assertLimits(batches: Array<{ sent: number; throughRowid: number }>, sizes: number[], afterRowid: number): number[] {
  let through = afterRowid;
  for (const batch of batches) {
    assert.equal(batch.sent, batch.throughRowid - through, `the batch through ${batch.throughRowid} holds every entry it covers`);
    assert.ok(batch.sent <= LIMITS.maxRows, `at most maxRows entries (got ${batch.sent})`);
    const beforeLast = range(through + 1, batch.throughRowid - 1).reduce((sum, rowid) => sum + (sizes[rowid] ?? 0), 0);
    assert.ok(
      beforeLast < LIMITS.maxBytes,
      `the batch through ${batch.throughRowid} went on after reaching maxBytes (${beforeLast} bytes before its end)`,
    );
    through = batch.throughRowid;
  }
  for (const big of BIG.filter((rowid) => rowid > afterRowid)) {
    assert.ok(
      batches.some((b) => b.throughRowid === big),
      `the entry bigger than maxBytes (rowid ${big}) ends its batch`,
    );
  }
  return batches.map((b) => b.throughRowid);
}

/** Entries for the echo and route cases: [context, source, origin] by rowid 1-7 ('echo': the receiver's own). */
const FILTERED: Array<[string | null, string | null, 'own' | 'echo' | 'relay']> = [
  ['leo_a', 'agent', 'own'],
  ['leo_b', 'agent', 'echo'],
  ['leo_c', 'agent', 'relay'],
  ['other', 'agent', 'own'],
  [null, 'agent', 'own'],
  ['other', null, 'echo'],
  ['leo_d', 'bot', 'own'],
];

/** Writes the FILTERED entries (contents `${prefix}1`…) into a prepared database, echoes marked as `receiverId`'s. */
function writeFiltered(path: string, prefix: string, receiverId: string): void {
  insertNotes(
    path,
    FILTERED.map(([context, source], i) => ({ timestamp: at(i + 1), content: `${prefix}${i + 1}`, context, source })),
  );
  withDb(path, (db) => {
    const mark = db.prepare(`UPDATE resonance_notes SET sync_origin = ? WHERE content = ?`);
    FILTERED.forEach(([, , origin], i) => {
      if (origin !== 'own') mark.run(origin === 'echo' ? receiverId : RELAY.id, `${prefix}${i + 1}`);
    });
  });
}

const LEO_NOT_BOT: Route = { ...EVERYTHING, includeContext: ['leo_*'], excludeSource: ['bot'] };

export function replicaMethods(transport: PeerTransport): void {
  const paths: ReceivePath[] = transport.receivesDirect ? ['direct', 'direct, WAL sender', 'general'] : ['general'];

  test(`[${transport.name}] the seam, method by method`, async (t) => {
    const session = await transport.start(t);
    if (!session) return;
    const run = (name: string, work: (c: Case) => Promise<void>) => t.test(name, () => inCase(session, work));
    try {
      await run(
        'info: the columns that travel (no rowid alias, no origin column), a maxRowid that grows, the nodes it heard of',
        async (c) => {
          // A rowid alias not named id, not first, and a column beyond the variants.
          const ddl = `CREATE TABLE resonance_notes (
          timestamp TEXT NOT NULL, entry_no INTEGER PRIMARY KEY AUTOINCREMENT, content TEXT NOT NULL, source TEXT, mood TEXT)`;
          const path = createNotesDbWith(c.dir, 'peer', ddl);
          const peer = await c.open(path);
          const fresh = await peer.info();
          assert.deepEqual(fresh.columns, ['timestamp', 'content', 'source', 'mood']);
          assert.equal(fresh.maxRowid, 0);
          assert.equal(fresh.node.name, 'peer');
          insertNotes(path, [
            { timestamp: at(1), content: 'a' },
            { timestamp: at(2), content: 'b' },
          ]);
          assert.equal((await peer.info()).maxRowid, 2, 'entries an agent wrote meanwhile');
          const columns = ['timestamp', 'content', 'source', 'mood'];
          const rows = [
            feedRow(SENDER.id, at(3), 'c', null, 'calm'),
            feedRow(RELAY.id, at(4), 'd', 's', null),
            feedRow(SENDER.id, at(5), 'e', 's', 'x'),
          ];
          assert.equal((await peer.apply(applyRequest(rows, { columns, throughRowid: 3, knownNodes: [RELAY] }))).received, 3);
          const grown = await peer.info();
          assert.equal(grown.maxRowid, 5);
          assert.deepEqual(grown.node, fresh.node);
          assert.deepEqual(
            [...grown.knownNodes].sort((a, b) => a.id.localeCompare(b.id)),
            [RELAY, SENDER],
          );
        },
      );

      await run(
        'readFeed: rowid order, at most maxRows, cut at the entry that reaches maxBytes; an entry bigger than maxBytes travels alone',
        async (c) => {
          const path = createNotesDb(c.dir, 'peer');
          const notes = limitsFeed();
          insertNotes(path, notes);
          const peer = await c.open(path);
          const batches = await all(peer.readFeed(feed(LIMITS)));
          const rows = batches.flatMap((b) => b.rows);
          assert.deepEqual(
            rows.map((r) => r.rowid),
            range(1, 20),
            'every entry once, in rowid order',
          );
          assert.deepEqual(
            rows.map((r) => r.values),
            notes.map((n) => COLUMNS.map((name) => n[name as keyof Note])),
          );
          const sizes = [0, ...rows.map((r) => rowBytes(r.values))];
          assertLimits(
            batches.map((b) => ({ sent: b.rows.length, throughRowid: b.throughRowid })),
            sizes,
            0,
          );
          assert.equal(batches.at(-1)?.throughRowid, 20);
          for (const big of BIG) {
            const alone = await first(peer.readFeed(feed({ ...LIMITS, afterRowid: big - 1 })));
            assert.deepEqual([alone.rows.map((r) => r.rowid), alone.throughRowid], [[big], big], `entry ${big} travels alone`);
          }
        },
      );

      await run(
        'readFeed: no echoes of the receiver (all with receiverId ""), the route, origins filled in, the cursor past what is left out',
        async (c) => {
          const path = createNotesDb(c.dir, 'peer');
          const peer = await c.open(path);
          const self = (await peer.info()).node.id;
          writeFiltered(path, 'f', 'receiver-x');
          const origins: Record<string, string> = { own: self, echo: 'receiver-x', relay: RELAY.id };
          const sent = async (receiverId: string, route: Route) => {
            const batches = await all(peer.readFeed(feed({ receiverId, route })));
            assert.equal(batches.at(-1)?.throughRowid, 7, 'the cursor passes entries the feed leaves out');
            return batches.flatMap((b) => b.rows).map((r) => [r.rowid, r.origin]);
          };
          const expect = (rowids: number[]) => rowids.map((rowid) => [rowid, origins[FILTERED[rowid - 1]?.[2] ?? 'own']]);
          assert.deepEqual(await sent('receiver-x', EVERYTHING), expect([1, 3, 4, 5, 7]));
          assert.deepEqual(await sent('', EVERYTHING), expect([1, 2, 3, 4, 5, 6, 7]));
          assert.deepEqual(await sent('receiver-x', LEO_NOT_BOT), expect([1, 3]));
          assert.deepEqual(
            await sent('', { ...EVERYTHING, excludeContext: ['leo_*'] }),
            expect([4, 5, 6]),
            'a NULL context matches no pattern',
          );
          assert.deepEqual(await sent('', { ...EVERYTHING, includeSource: ['a*'] }), expect([1, 2, 3, 4, 5]));
        },
      );

      await run('apply: a batch without entries moves the cursor (down only when rewound) and records the nodes it names', async (c) => {
        const path = createNotesDb(c.dir, 'peer');
        insertNotes(path, [{ timestamp: at(1), content: 'there', context: 'c', source: null }]);
        const peer = await c.open(path);
        // Such a batch may be confirmed by settle() rather than by apply() (core/replica.ts).
        const applied = async (request: ApplyRequest) => {
          const result = await peer.apply(request);
          await peer.settle?.();
          return result;
        };
        const empty = await applied(applyRequest([], { throughRowid: 7, knownNodes: [RELAY] }));
        assert.deepEqual([empty.received, empty.duplicates, empty.rejected, empty.syncNotes], [0, 0, 0, 0]);
        assert.deepEqual(cursorsOf(path), [[SENDER.id, 'r1', 7]]);
        assert.equal(await peer.cursor(SENDER.id, 'r1'), 7, 'and it reads so');
        await applied(applyRequest([], { throughRowid: 3 }));
        assert.deepEqual(cursorsOf(path), [[SENDER.id, 'r1', 7]], 'a cursor never goes down unless rewound');
        await applied(applyRequest([], { throughRowid: 3, rewound: true }));
        assert.deepEqual(cursorsOf(path), [[SENDER.id, 'r1', 3]]);
        const nodes = withDb(path, (db) =>
          db
            .prepare(`SELECT node_id, name FROM resonance_sync_nodes ORDER BY name`)
            .all()
            .map((row) => [String(row.node_id), String(row.name)]),
        );
        assert.deepEqual(nodes, [
          [RELAY.id, RELAY.name],
          [SENDER.id, SENDER.name],
        ]);
        const notes = withDb(path, (db) =>
          db
            .prepare('SELECT content FROM resonance_notes')
            .all()
            .map((row) => row.content),
        );
        assert.deepEqual(notes, ['there'], 'the table is untouched');
      });

      await run('apply: a repair batch (negative throughRowid) stores its entries and moves no cursor', async (c) => {
        const path = createNotesDb(c.dir, 'peer');
        const peer = await c.open(path);
        await peer.apply(
          applyRequest([feedRow(SENDER.id, at(1), 'one', 'c', 's'), feedRow(SENDER.id, at(2), 'two', 'c', 's')], { throughRowid: 5 }),
        );
        assert.equal(await peer.cursor(SENDER.id, 'r1'), 5);
        const again = [feedRow(SENDER.id, at(1), 'one', 'c', 's'), feedRow(SENDER.id, at(3), 'three', 'c', 's')];
        const repair = await peer.apply(applyRequest(again, { throughRowid: -1 }));
        assert.deepEqual([repair.received, repair.duplicates], [1, 1]);
        assert.equal(await peer.cursor(SENDER.id, 'r1'), 5, 'the cursor stays');
        // From a sender never synced with before: no cursor comes into being.
        const stranger = applyRequest([feedRow(OTHER_SENDER.id, at(4), 'four', 'c', 's')], { sender: OTHER_SENDER, throughRowid: -1 });
        assert.equal((await peer.apply(stranger)).received, 1);
        assert.equal(await peer.cursor(OTHER_SENDER.id, 'r1'), 0);
        assert.deepEqual(cursorsOf(path), [[SENDER.id, 'r1', 5]]);
        assert.equal(identityCounts(path).size, 4);
      });

      await run('apply: a dry run counts what a real one does, and leaves notes, cursors and nodes as they were', async (c) => {
        const path = createNotesDb(c.dir, 'peer');
        insertNotes(path, [{ timestamp: at(1), content: 'there', context: 'c', source: null }]);
        const peer = await c.open(path);
        await peer.apply(applyRequest([feedRow(SENDER.id, at(2), 'first', 'c', 's')], { throughRowid: 10, knownNodes: [RELAY] }));
        const before = contentOf(path);
        const rows = [
          feedRow(SENDER.id, at(1), 'there', 'other context', null), // already there
          feedRow(SENDER.id, at(3), 'new', 'c', 's'),
          feedRow(RELAY.id, at(4), 'relayed', null, 's'),
          feedRow(SENDER.id, null, 'no time', 'c', 's'), // refused: timestamp is NOT NULL here
        ];
        const raising = applyRequest(rows, {
          sender: OTHER_SENDER,
          throughRowid: 20,
          knownNodes: [{ id: '4e1a9000-0000-4000-8000-000000000002', name: 'relay_two' }],
          dryRun: true,
        });
        const dry = await peer.apply(raising);
        assert.deepEqual([dry.received, dry.duplicates, dry.rejected], [2, 1, 1]);
        assert.deepEqual(contentOf(path), before, 'a dry run with a new sender, new nodes and a new cursor wrote nothing');
        await peer.apply(applyRequest(rows.slice(0, 1), { throughRowid: 1, rewound: true, dryRun: true }));
        assert.deepEqual(contentOf(path), before, 'a dry run that would lower the cursor wrote nothing');
        assert.equal(await peer.cursor(SENDER.id, 'r1'), 10);
        assert.deepEqual(await peer.apply({ ...raising, dryRun: false }), dry, 'the real run does what the dry run counted');
        assert.notDeepEqual(contentOf(path), before);
        assert.equal(await peer.cursor(OTHER_SENDER.id, 'r1'), 20);
      });

      await run('finishReceiving: tracking every time; the sync note only when entries arrived and writeSyncNote is set', async (c) => {
        const path = createNotesDb(c.dir, 'peer');
        const peer = await c.open(path);
        const report = (received: number, writeSyncNote: boolean, success = true): ReceiveReport => ({
          sender: SENDER,
          trackingName: 'main',
          received,
          newestTimestamp: '2025-12-01T10:00:00.000Z',
          success,
          writeSyncNote,
        });
        const select = (sql: string) =>
          withDb(path, (db) =>
            db
              .prepare(sql)
              .all()
              .map((row) => Object.values(row)),
          );
        const notes = () => select(`SELECT content, context, source FROM resonance_notes ORDER BY rowid`);
        const tracking = () => select(`SELECT remote_node, last_sync_success, sync_count FROM sync_tracking`);
        // A replica that only sends these writes has them done once settled (Replica.settle).
        const finish = async (...reports: ReceiveReport[]) => {
          for (const one of reports) await peer.finishReceiving(one);
          await peer.settle?.();
        };
        await finish(report(0, true), report(4, false));
        assert.deepEqual(notes(), [], 'nothing arrived, or no note wanted: no note');
        assert.deepEqual(tracking(), [['main', 1, 2]]);
        await finish(report(3, true));
        assert.deepEqual(notes(), [[syncNoteText(3, SENDER.name), SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE]]);
        // A direction that failed after some batches still says what arrived.
        await finish(report(1, true, false));
        assert.deepEqual(notes().at(-1), [syncNoteText(1, SENDER.name), SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE]);
        assert.deepEqual(tracking(), [['main', 0, 4]]);
      });

      await run('digest and rowsByHash: the same as the local reader for the same content', async (c) => {
        const entries: Note[] = [
          { timestamp: at(1), content: 'plain', context: 'leo_a', source: 'agent' },
          { timestamp: at(2), content: 'no source', context: 'other', source: null },
          { timestamp: '2025-12-01T10:00:03+02:00', content: 'ünïcödé ю\u0000after a NUL', context: 'leo_b', source: 'agent' },
          { timestamp: at(4), content: new Uint8Array([0, 1, 255]), context: 'other', source: 'bin' },
          { timestamp: at(5), content: 'no context', context: null, source: 'agent' },
          { timestamp: at(6), content: 'scored', context: 'leo_c', source: 'agent' },
          // Enough entries that buckets hold several, whose order then matters to their digest.
          ...range(1, 60).map((i) => ({ timestamp: at(100 + i), content: `many ${i}`, context: 'other', source: 'agent' })),
        ];
        const path = createNotesDb(c.dir, 'peer');
        insertNotes(path, [...entries, entries[0] as Note]); // a duplicate counts once
        // The same entries in another order, in another shape (no context column).
        const twinPath = createNotesDb(c.dir, 'twin', 'd');
        insertNotes(twinPath, [...entries].reverse());
        const peer = await c.open(path);
        const twin = c.local(twinPath, 'twin');
        const reference = c.local(path, 'peer');
        // Every entry hash function the peer computes (a local file and an agent: SHA-256 and
        // SHA3-256; an agentless peer: SHA3-256), each the same as the local reader's.
        assert.ok(peer.entryHashNames.includes('sha3-256'), 'every replica computes SHA3-256');
        const wholes = new Map<EntryHashName, DigestResult>();
        // Routes and rows depend on more than the identity (context, origin): the same file, read locally.
        const route: Route = { ...EVERYTHING, includeContext: ['leo_*'] };
        // A BLOB may come as a Buffer or as a plain Uint8Array, depending on the binding or the wire.
        const plain = (rows: FeedRow[]) =>
          rows.map((row) => ({ ...row, values: row.values.map((v) => (v instanceof Uint8Array ? new Uint8Array(v) : v)) }));
        for (const hash of peer.entryHashNames) {
          const whole = await peer.digest({ route: EVERYTHING, hash });
          wholes.set(hash, whole);
          assert.deepEqual(whole, await twin.digest({ route: EVERYTHING, hash }));
          assert.equal(
            whole.buckets.reduce((n, b) => n + b.count, 0),
            entries.length,
          );
          assert.ok(
            whole.buckets.some((b) => b.count > 1),
            'some bucket holds several entries',
          );
          const buckets = whole.buckets.map((b) => b.bucket);
          // The entry hashes are a set: their order is the database's.
          const hashesIn = async (replica: Replica) => {
            const result = await replica.digest({ route: EVERYTHING, hash, buckets });
            return { ...result, hashes: [...result.hashes].sort() };
          };
          const hashes = await hashesIn(peer);
          assert.deepEqual(hashes, await hashesIn(twin));
          assert.equal(hashes.hashes.length, entries.length);
          const routed = await peer.digest({ route, hash });
          assert.deepEqual(routed, await reference.digest({ route, hash }));
          assert.equal(
            routed.buckets.reduce((n, b) => n + b.count, 0),
            3,
          );
          for (const r of [EVERYTHING, route]) {
            const rows = plain(await peer.rowsByHash(r, COLUMNS, hashes.hashes, hash));
            assert.deepEqual(rows, plain(await reference.rowsByHash(r, COLUMNS, hashes.hashes, hash)));
            assert.equal(rows.length, r === route ? 3 : entries.length);
          }
        }
        // The functions differ (each digest above is of the function asked for, not of one alone).
        const [sha256, sha3] = [wholes.get('sha256'), wholes.get('sha3-256')];
        if (sha256 && sha3) assert.notDeepEqual(sha256.buckets, sha3.buckets);
      });

      for (const path of paths) {
        await run(
          `[${path} receive] each batch's cursor is committed with it and read back; a lower one never lowers it, unless rewound`,
          async (c) => {
            const senderPath = createNotesDb(c.dir, 'sender');
            insertNotes(
              senderPath,
              range(1, 10).map((i) => ({ timestamp: at(i), content: `n${i}`, context: 'c', source: 's' })),
            );
            const sender = c.local(senderPath, 'sender');
            const from = (await sender.info()).node;
            const receiver = await c.open(createNotesDb(c.dir, 'peer'));
            const throughs: number[] = [];
            for await (const batch of receive(path, receiver, sender, receiveRequest(from, { maxRows: 4 }))) {
              assert.equal(await receiver.cursor(from.id, 'r1'), batch.throughRowid, 'committed with its batch');
              throughs.push(batch.throughRowid);
            }
            assert.deepEqual(throughs, [4, 8, 10]);
            const firstBatch = (options: ReceiptOptions) =>
              first(receive(path, receiver, sender, receiveRequest(from, { maxRows: 2 }, options)));
            assert.equal((await firstBatch({})).throughRowid, 2);
            assert.equal(await receiver.cursor(from.id, 'r1'), 10, 'a lower throughRowid never lowers the cursor');
            assert.equal((await firstBatch({ rewound: true })).throughRowid, 2);
            assert.equal(await receiver.cursor(from.id, 'r1'), 2, 'rewound lets it go down');
            assert.equal(await receiver.cursor(from.id, 'r2'), 0, 'another route has its own cursor');
            assert.equal(await receiver.cursor(OTHER_SENDER.id, 'r1'), 0);
          },
        );

        await run(
          `[${path} receive] dedupe by identity, NULL equal to NULL, within and across batches; duplicates and refused entries counted`,
          async (c) => {
            const senderPath = createNotesDbWith(c.dir, 'sender', NULLABLE_DDL);
            const already = { timestamp: null, content: 'already', source: 's' };
            const twice = { timestamp: null, content: 'twice', source: 's' };
            const noSource = { timestamp: at(1), content: 'no source', source: null };
            const alreadyNoSource = { timestamp: at(2), content: 'already, no source', source: null };
            const noContent = { timestamp: at(3), content: null, source: 's' };
            const fresh = { timestamp: at(4), content: 'new', source: 's' };
            // Batches of 3: [already twice twice] [noSource alreadyNoSource noContent] [noSource fresh twice].
            const feedOrder = [already, twice, twice, noSource, alreadyNoSource, noContent, noSource, fresh, twice];
            insertNotes(
              senderPath,
              feedOrder.map((n) => ({ ...n, context: 'c' })),
            );
            const sender = c.local(senderPath, 'sender');
            const from = (await sender.info()).node;
            const key = (n: Note) => identityKey(n.timestamp, n.content, n.source ?? null);
            const cases = [
              // Variant c: NULL timestamps allowed, source and content NOT NULL.
              {
                variant: 'c' as const,
                there: already,
                expect: { sent: 9, received: 2, duplicates: 3, rejected: 4 },
                holds: [already, twice, fresh],
              },
              // Variant b: timestamp and content NOT NULL, source may be NULL (and stays NULL, not its DEFAULT).
              {
                variant: 'b' as const,
                there: alreadyNoSource,
                expect: { sent: 9, received: 2, duplicates: 2, rejected: 5 },
                holds: [alreadyNoSource, noSource, fresh],
              },
            ];
            for (const { variant, there, expect, holds } of cases) {
              const receiverPath = createNotesDb(c.dir, `peer-${variant}`, variant);
              insertNotes(receiverPath, [{ ...there, context: 'c' }]);
              const receiver = await c.open(receiverPath);
              const batches = await all(receive(path, receiver, sender, receiveRequest(from, { maxRows: 3 })));
              assert.deepEqual(totals(batches), expect, `variant ${variant}`);
              assert.deepEqual(
                identityCounts(receiverPath),
                new Map(holds.map((n) => [key(n), 1])),
                `variant ${variant} holds each entry once`,
              );
            }
          },
        );

        await run(`[${path} receive] a dry run writes nothing, and counts what a real run then does`, async (c) => {
          const senderPath = createNotesDbWith(c.dir, 'sender', NULLABLE_DDL);
          insertNotes(senderPath, [
            { timestamp: at(1), content: 'there', context: 'c', source: null },
            ...range(2, 5).map((i) => ({ timestamp: at(i), content: `new ${i}`, context: 'c', source: 's' })),
            { timestamp: at(6), content: null, context: 'c', source: 's' }, // refused: content is NOT NULL there
          ]);
          const sender = c.local(senderPath, 'sender');
          const from = (await sender.info()).node;
          const receiverPath = createNotesDb(c.dir, 'peer');
          insertNotes(receiverPath, [{ timestamp: at(1), content: 'there', context: 'c', source: null }]);
          const receiver = await c.open(receiverPath);
          const before = contentOf(receiverPath);
          const options = { rewound: true, knownNodes: [RELAY] };
          const dry = totals(
            await all(receive(path, receiver, sender, receiveRequest(from, { maxRows: 2 }, { ...options, dryRun: true }))),
          );
          assert.deepEqual(dry, { sent: 6, received: 4, duplicates: 1, rejected: 1 });
          assert.deepEqual(contentOf(receiverPath), before, 'notes, cursors and nodes as they were');
          const real = totals(await all(receive(path, receiver, sender, receiveRequest(from, { maxRows: 2 }, options))));
          assert.deepEqual(real, dry);
          assert.notDeepEqual(contentOf(receiverPath), before);
          assert.equal(await receiver.cursor(from.id, 'r1'), 6);
        });

        await run(`[${path} receive] the feed's limits, its echo filter and route hold; origins are kept`, async (c) => {
          const receiverPath = createNotesDb(c.dir, 'peer');
          const receiver = await c.open(receiverPath);
          const self = (await receiver.info()).node.id;

          const limitsPath = createNotesDb(c.dir, 'sender');
          insertNotes(limitsPath, limitsFeed());
          const sender = c.local(limitsPath, 'sender');
          const from = (await sender.info()).node;
          const sizes = [0, ...limitsFeed().map((n) => rowBytes(COLUMNS.map((name) => n[name as keyof Note] ?? null)))];
          const batches = await all(receive(path, receiver, sender, receiveRequest(from, LIMITS)));
          assert.equal(assertLimits(batches, sizes, 0).at(-1), 20);
          assert.equal(totals(batches).received, 20);
          for (const big of BIG) {
            const alone = await first(
              receive(path, receiver, sender, receiveRequest(from, { ...LIMITS, afterRowid: big - 1 }, { routeKey: 'again' })),
            );
            assert.deepEqual([alone.sent, alone.throughRowid], [1, big], `entry ${big} travels alone`);
          }

          const filteredPath = createNotesDb(c.dir, 'relayer');
          const relayer = c.local(filteredPath, 'relayer');
          const relayerId = (await relayer.info()).node.id;
          writeFiltered(filteredPath, 'f', self);
          const relayerNode = { id: relayerId, name: 'relayer' };
          const routed = await all(receive(path, receiver, relayer, receiveRequest(relayerNode, { receiverId: self, route: LEO_NOT_BOT })));
          assert.deepEqual(
            [totals(routed).sent, routed.at(-1)?.throughRowid],
            [2, 7],
            'no echoes, the route, the cursor past what it leaves out',
          );
          assert.deepEqual(
            originsOf(receiverPath, 'f'),
            [
              ['f1', relayerId],
              ['f3', RELAY.id],
            ],
            "the sender's entries carry its id, relayed ones keep theirs",
          );
          // The receiver was restored (the engine then asks for everything): its own entries come back as written here.
          const resent = await all(receive(path, receiver, relayer, receiveRequest(relayerNode, { receiverId: '' }, { routeKey: 'all' })));
          assert.deepEqual(totals(resent), { sent: 7, received: 5, duplicates: 2, rejected: 0 });
          assert.deepEqual(originsOf(receiverPath, 'f'), [
            ['f1', relayerId],
            ['f3', RELAY.id],
            ['f2', null],
            ['f4', relayerId],
            ['f5', relayerId],
            ['f6', null],
            ['f7', relayerId],
          ]);
        });
      }
    } finally {
      await session.stop();
    }
  });
}

async function inCase(session: TransportSession, work: (c: Case) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'resonance-contract-'));
  const closers: Array<() => Promise<void>> = [];
  const c: Case = {
    dir,
    async open(path) {
      // This node's own database is elsewhere: any other existing path serves the same-file check.
      const peer = await openThrough(session, path, dir);
      closers.push(() => peer.close());
      return peer.replica;
    },
    local(path, nodeName) {
      const replica = openReplica(path, nodeName);
      closers.push(() => replica.close());
      return replica;
    },
  };
  try {
    await work(c);
  } finally {
    for (const close of closers.reverse()) await close();
    rmSync(dir, { recursive: true, force: true });
  }
}
