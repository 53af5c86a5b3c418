/**
 * A hostile agent on the other end (test/support/fake-agent.ts: the real protocol, spoken wrongly on
 * purpose) against the real AgentReplica and engine: rows one value short or long, a frame announcing
 * 30 million rows, batches beyond the flow-control credit, forged cursors, 1 MiB origins. Each ends
 * the sync with PROTOCOL_ERROR (exit 7), keeps nothing of the offending batch, leaves what the
 * receiver held before untouched, and never lets memory follow what the agent announces. Also the
 * agent's own side: what a client asks it to store is checked the same way.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createDeflateRaw } from 'node:zlib';
import { isSyncError, type SyncError } from '../../src/core/errors.js';
import { EVERYTHING, routeKey } from '../../src/core/route.js';
import type { ApplyRequest, FeedBatch, FeedRow } from '../../src/core/replica.js';
import { FrameStream } from '../../src/protocol/channel.js';
import { COMPRESSED_FLAG } from '../../src/protocol/compression.js';
import * as m from '../../src/protocol/messages.js';
import { FEED_CREDIT, MessageType, PROTOCOL_VERSION, type Frame } from '../../src/protocol/protocol.js';
import type { Reader } from '../../src/protocol/reader.js';
import { serveAgent } from '../../src/protocol/server.js';
import { LocalReplica } from '../../src/transport/local/local-replica.js';
import { runCli } from '../support/cli.js';
import {
  COLUMNS,
  RELAY_ID,
  SENDER_ID,
  entries,
  honestBatches,
  pullFromAgent,
  senderInfo,
  sendsHonestly,
  startFakeAgent,
} from '../support/fake-agent.js';
import { allRows, createNotesDb, insertNotes, openReplica, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { writeConfig } from './fixtures.js';

/** A receiver holding two entries of its own, prepared; and what it holds, to compare after. */
function receiver(t: TestContext) {
  const path = createNotesDb(tempDir(t), 'main');
  insertNotes(path, [
    { timestamp: '2025-11-29 10:00:00', content: 'main before 1', context: 'c', source: 'm' },
    { timestamp: '2025-11-29 10:00:01', content: 'main before 2', context: 'c', source: null },
  ]);
  openReplica(path, 'main').close();
  return { path, before: allRows(path) };
}

const cursorOf = (path: string) =>
  withDb(path, (db) => Number(db.prepare(`SELECT coalesce(max(through_rowid), 0) AS t FROM resonance_sync_cursors`).get()?.t ?? 0));

/** Pulls from the fake agent into `path`; the error if it failed. */
function refused(error: SyncError | undefined, pattern: RegExp): void {
  assert.ok(error, 'the sync was refused');
  assert.equal(error.code, 'PROTOCOL_ERROR', error.message);
  assert.equal(error.exitCode, 7);
  assert.match(error.message, pattern);
}

/** The receiver's rows: exactly what it held before plus `kept` of the feed, in order. */
function holds(path: string, before: ReturnType<typeof allRows>, kept: readonly FeedRow[]): void {
  const rows = allRows(path);
  assert.deepEqual(rows.slice(0, before.length), before, 'what the receiver held is untouched');
  assert.deepEqual(
    rows.slice(before.length).map((row) => row.content),
    kept.map((row) => row.values[1]),
  );
}

/** Honest batches, then each row reshaped by `change`. */
const honestWith = (rows: FeedRow[], change: (row: FeedRow) => FeedRow, feedEnd: number) =>
  sendsHonestly((request) => honestBatches(rows, request, feedEnd).map((batch) => ({ ...batch, rows: batch.rows.map(change) })));

test('rows one value short: exit 7 PROTOCOL_ERROR from the CLI, nothing stored, no cursor (main stored 20087 rows with source NULL)', async (t) => {
  const feed = entries(5000);
  const agent = await startFakeAgent(t, {
    info: senderInfo(5000),
    feed: honestWith(feed, (row) => ({ ...row, values: row.values.slice(0, 3) }), 5000),
  });
  const { path, before } = receiver(t);
  const config = writeConfig(tempDir(t), path, 'main', [{ name: 'phone', url: agent.url, extra: 'mode = "agent"' }], { syncNote: false });
  const result = await runCli(['sync', 'phone', '--pull-only', '--config', config], { env: agent.env });
  assert.equal(result.code, 7, result.stderr);
  assert.match(result.stderr, /sent entries of 3 values where 4 columns were asked.*\[PROTOCOL_ERROR\]/);
  holds(path, before, []);
  assert.equal(cursorOf(path), 0);
});

test('rows one value too many: refused, nothing stored (main silently dropped the extra value)', async (t) => {
  const feed = entries(300);
  const agent = await startFakeAgent(t, {
    info: senderInfo(300),
    feed: honestWith(feed, (row) => ({ ...row, values: [...row.values, 'extra'] }), 300),
  });
  const { path, before } = receiver(t);
  refused(await pullFromAgent(path, agent), /entries of 5 values where 4 columns were asked/);
  holds(path, before, []);
  assert.equal(cursorOf(path), 0);
});

/** A FEED_BATCH of `count` zero-width rows, deflated as an agent may send any frame (60 MB inflated for 30M). */
async function zeroWidthFlood(count: number): Promise<Buffer> {
  const head = m.frameOf(0, (w) => w.uint(count).uint(0).strings([SENDER_ID])).subarray(5);
  const tail = m.frameOf(0, (w) => w.uint(count).uint(0)).subarray(5);
  const deflate = createDeflateRaw();
  const out: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => out.push(chunk));
  const done = new Promise((resolve) => deflate.on('end', resolve));
  deflate.write(head);
  // Each row: rowid delta 1 (zigzag 0x02), origin index 0.
  const chunk = Buffer.alloc(1 << 20, Buffer.from([0x02, 0x00]));
  for (let left = count * 2; left > 0; left -= chunk.length) deflate.write(chunk.subarray(0, Math.min(chunk.length, left)));
  deflate.end(tail);
  await done;
  const deflated = Buffer.concat(out);
  const frame = Buffer.alloc(5 + deflated.length);
  frame.writeUInt32BE(1 + deflated.length, 0);
  frame[4] = MessageType.FEED_BATCH | COMPRESSED_FLAG;
  deflated.copy(frame, 5);
  return frame;
}

test('a 30,000,000-row frame (256 KB deflated, 60 MB inflated) is refused from its header: memory stays flat (main: 5.2 GB, heap out of memory)', async (t) => {
  const flood = await zeroWidthFlood(30_000_000);
  assert.ok(flood.length < 1 << 20, `deflated to ${flood.length} bytes`);
  const agent = await startFakeAgent(t, {
    info: senderInfo(30_000_000),
    feed: async (_request, wire) => {
      await wire.room();
      wire.write(flood);
    },
  });
  const { path, before } = receiver(t);
  const rss = process.memoryUsage().rss;
  refused(await pullFromAgent(path, agent), /30000000 entries in one message where at most 2000 were asked/);
  const grown = process.memoryUsage().rss - rss;
  // Inflating the frame itself (allowed: under the 64 MiB frame limit) is all it may cost.
  assert.ok(grown < 250 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MB`);
  holds(path, before, []);
});

test('the same frame through the CLI under a 200 MB heap: exit 7, not a crash', async (t) => {
  const flood = await zeroWidthFlood(30_000_000);
  const agent = await startFakeAgent(t, {
    info: senderInfo(30_000_000),
    feed: async (_request, wire) => {
      await wire.room();
      wire.write(flood);
    },
  });
  const { path, before } = receiver(t);
  const config = writeConfig(tempDir(t), path, 'main', [{ name: 'phone', url: agent.url, extra: 'mode = "agent"' }], { syncNote: false });
  const result = await runCli(['sync', 'phone', '--pull-only', '--config', config], {
    env: { ...agent.env, NODE_OPTIONS: '--max-old-space-size=200' },
  });
  assert.equal(result.code, 7, result.stderr);
  assert.match(result.stderr, /\[PROTOCOL_ERROR\]/);
  holds(path, before, []);
});

test('an agent ignoring credit, flooding 30 batches of 20,000 rows where 2,000 were asked: refused at the first, nothing kept (main took 600,000 rows and a forged cursor)', async (t) => {
  const feed = entries(600_000);
  const agent = await startFakeAgent(t, {
    info: senderInfo(600_000),
    feed: async (request, wire) => {
      for (let i = 0; i < 30; i++) {
        const rows = feed.slice(i * 20_000, (i + 1) * 20_000);
        const batch = {
          rows,
          throughRowid: i === 29 ? 9_000_000_000 : (rows.at(-1)?.rowid ?? 0),
          bytes: rows.reduce((sum, row) => sum + row.values.reduce<number>((s, v) => s + String(v).length, 0), 0),
        };
        wire.write(m.frameOf(MessageType.FEED_BATCH, (w) => m.writeBatch(w, batch)));
      }
      wire.write(m.frameOf(MessageType.FEED_END));
      void request;
    },
  });
  const { path, before } = receiver(t);
  refused(await pullFromAgent(path, agent), /20000 entries in one message where at most 2000 were asked/);
  holds(path, before, []);
  assert.equal(cursorOf(path), 0);
});

test('valid batches sent beyond the credit granted: refused as a flow-control violation; what was committed before is a whole prefix', async (t) => {
  const feed = entries(3000);
  const agent = await startFakeAgent(t, {
    info: senderInfo(3000),
    // Every batch at once, as if the client had granted room for all of them.
    feed: async (request, wire) => {
      const frames = honestBatches(feed, request, 3000).map((batch) => m.frameOf(MessageType.FEED_BATCH, (w) => m.writeBatch(w, batch)));
      wire.write(Buffer.concat([...frames, m.frameOf(MessageType.FEED_END)]));
    },
  });
  const { path, before } = receiver(t);
  refused(
    await pullFromAgent(path, agent, { maxRows: 100, maxBytes: 4 << 20 }),
    new RegExp(`beyond the ${FEED_CREDIT} it was given room for \\(flow control\\)`),
  );
  const cursor = cursorOf(path);
  assert.ok(cursor < 3000 && cursor % 100 === 0, `cursor ${cursor} is a batch boundary short of the end`);
  holds(path, before, feed.slice(0, cursor));
});

test('a forged cursor beyond the end of the feed is refused; the batches before it stay committed, exactly once', async (t) => {
  const feed = entries(1000);
  const agent = await startFakeAgent(t, {
    info: senderInfo(1000),
    feed: sendsHonestly((request) => {
      const batches = honestBatches(feed, request, 1000);
      const last = batches.at(-1) as FeedBatch;
      return [...batches.slice(0, -1), { ...last, throughRowid: 1_000_000_000_000 }];
    }),
  });
  const { path, before } = receiver(t);
  refused(
    await pullFromAgent(path, agent, { maxRows: 300, maxBytes: 4 << 20 }),
    /cursor 1000000000000 is beyond the end of its own feed \(1000\)/,
  );
  holds(path, before, feed.slice(0, 900));
  assert.equal(cursorOf(path), 900);
});

test('a cursor that does not move forward, or rows outside their batch, are refused', async (t) => {
  const feed = entries(600);
  const { path, before } = receiver(t);
  const backwards = await startFakeAgent(t, {
    info: senderInfo(600),
    feed: sendsHonestly((request) =>
      honestBatches(feed, request, 600).map((batch, i) => (i === 1 ? { ...batch, throughRowid: 100 } : batch)),
    ),
  });
  refused(await pullFromAgent(path, backwards, { maxRows: 200, maxBytes: 4 << 20 }), /cursor 100 does not move forward from 200/);
  holds(path, before, feed.slice(0, 200));
  const outside = await startFakeAgent(t, {
    info: senderInfo(600),
    feed: sendsHonestly((request) =>
      honestBatches(feed, request, 600).map((batch) => ({ ...batch, throughRowid: batch.throughRowid - 1 })),
    ),
  });
  refused(
    await pullFromAgent(path, outside, { maxRows: 200, maxBytes: 4 << 20 }),
    /entry rowid 400 after 399, out of order or beyond the batch's cursor 399/,
  );
  holds(path, before, feed.slice(0, 200));
});

test('a live sender whose feed grew during the sync: a cursor past the first info is re-checked against a fresh one and accepted', async (t) => {
  const feed = entries(900);
  const agent = await startFakeAgent(t, {
    info: senderInfo(500),
    laterInfo: senderInfo(900),
    feed: sendsHonestly((request) => honestBatches(feed, request, 900)),
  });
  const { path, before } = receiver(t);
  assert.equal(await pullFromAgent(path, agent, { maxRows: 250, maxBytes: 4 << 20 }), undefined);
  holds(path, before, feed);
  assert.equal(cursorOf(path), 900);
});

test('a 1 MiB origin is refused, and so is any origin that is not a node id or is the receiver itself', async (t) => {
  const { path, before } = receiver(t);
  const receiverId = withDb(path, (db) => String(db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_id'`).get()?.value));
  const cases: Array<[string, RegExp]> = [
    ['x'.repeat(1 << 20), /origin "x{40}"… \(1048576 characters\) is not a node id/],
    ['', /origin "" is not a node id/],
    [SENDER_ID.toUpperCase(), /is not a node id/],
    [`${SENDER_ID} `, /is not a node id/],
    [receiverId, /an entry of this node's own/],
  ];
  for (const [origin, pattern] of cases) {
    const feed = entries(50);
    const agent = await startFakeAgent(t, {
      info: senderInfo(50),
      feed: honestWith(feed, (row) => (row.rowid === 20 ? { ...row, origin } : row), 50),
    });
    refused(await pullFromAgent(path, agent), pattern);
    holds(path, before, []);
  }
});

test("the sender's identity is checked before anything moves; unusable known nodes are dropped, not refused", async (t) => {
  const feed = entries(10);
  const { path, before } = receiver(t);
  for (const [node, pattern] of [
    [{ id: 'not-a-uuid', name: 'phone' }, /node id "not-a-uuid", which is not a node id/],
    [{ id: SENDER_ID, name: "Anna's phone; rm -rf" }, /node name "Anna's phone; rm -rf", which is not a node name/],
    [{ id: SENDER_ID, name: 'p'.repeat(256) }, /which is not a node name/],
  ] as const) {
    const agent = await startFakeAgent(t, {
      info: senderInfo(10, { node }),
      feed: sendsHonestly((request) => honestBatches(feed, request, 10)),
    });
    refused(await pullFromAgent(path, agent), pattern);
    holds(path, before, []);
  }
  const knownNodes = [
    { id: RELAY_ID, name: 'relay' },
    { id: 'c3c3c3c3-0000-4000-8000-000000000003', name: 'x'.repeat(1 << 20) },
    { id: 'y'.repeat(1 << 20), name: 'huge-id' },
    { id: 'd4d4d4d4-0000-4000-8000-000000000004', name: 'line\nbreak' },
  ];
  const agent = await startFakeAgent(t, {
    info: senderInfo(10, { knownNodes }),
    feed: sendsHonestly((request) => honestBatches(feed, request, 10)),
  });
  assert.equal(await pullFromAgent(path, agent), undefined);
  holds(path, before, feed);
  const nodes = withDb(path, (db) =>
    db
      .prepare(`SELECT node_id, name FROM resonance_sync_nodes ORDER BY name`)
      .all()
      .map((row) => ({ ...row })),
  );
  assert.deepEqual(nodes, [
    { node_id: SENDER_ID, name: 'phone' },
    { node_id: RELAY_ID, name: 'relay' },
  ]);
  const many = Array.from({ length: 10_001 }, (_, i) => ({ id: `e5e5e5e5-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `n${i}` }));
  const crowded = await startFakeAgent(t, {
    info: senderInfo(10, { knownNodes: many }),
    feed: sendsHonestly((request) => honestBatches(feed, request, 10)),
  });
  refused(await pullFromAgent(path, crowded), /10001 known nodes \(at most 10000\)/);
});

test('the codec refuses counts the rest of the frame cannot hold before allocating, with or without an expectation', () => {
  const decodeWith = (write: Parameters<typeof m.frameOf>[1], read: (r: Reader) => unknown) => () =>
    m.decode(m.frameOf(0, write).subarray(5), read);
  const protocolError = (pattern: RegExp) => (error: unknown) =>
    isSyncError(error) && error.code === 'PROTOCOL_ERROR' && pattern.test(error.message);
  // 2^40 rows of 3 values in a 20-byte payload: refused from the header, no loop, no array.
  assert.throws(
    decodeWith(
      (w) =>
        w
          .uint(2 ** 40)
          .uint(3)
          .uint(0),
      m.readRows,
    ),
    protocolError(/1099511627776 rows of 3 values cannot fit/),
  );
  assert.throws(
    decodeWith((w) => w.uint(1_000_001).uint(0), m.readRows),
    protocolError(/cannot fit/),
  );
  assert.throws(
    decodeWith(
      (w) => [
        w
          .uint(3)
          .uint(1)
          .uint(2 ** 30),
        ...Array.from({ length: 20 }, () => w.u8(0)),
      ],
      (r) => m.readRows(r),
    ),
    protocolError(/1073741824 strings cannot fit/),
  );
  assert.throws(
    decodeWith(
      (w) => w.uint(1).uint(1).uint(2).string('a').string('b'),
      (r) => m.readRows(r),
    ),
    protocolError(/2 strings where at most 1 fit/),
  );
  assert.throws(
    decodeWith(
      (w) => w.uint(2 ** 40),
      (r) => r.strings(),
    ),
    protocolError(/strings cannot fit/),
  );
  assert.throws(
    decodeWith((w) => w.uint(2 ** 40), m.readDigestResult),
    protocolError(/digest buckets cannot fit/),
  );
  assert.throws(
    decodeWith(
      (w) =>
        w
          .string('i')
          .string('n')
          .strings([])
          .uint(0)
          .uint(2 ** 40),
      m.readInfo,
    ),
    protocolError(/nodes cannot fit/),
  );
  // Within what was asked: a ROWS_BY_HASH answer with more entries than hashes, or other widths.
  assert.throws(
    decodeWith(
      (w) => m.writeRows(w, entries(3)),
      (r) => m.readRows(r, { maxRows: 2, width: 4 }),
    ),
    protocolError(/3 entries in one message where at most 2 were asked/),
  );
  assert.throws(
    decodeWith(
      (w) => m.writeRows(w, entries(2)),
      (r) => m.readRows(r, { maxRows: 2, width: 5 }),
    ),
    protocolError(/entries of 4 values where 5 columns were asked/),
  );
  assert.equal(
    m.decode(m.frameOf(0, (w) => m.writeRows(w, entries(2))).subarray(5), (r) => m.readRows(r, { maxRows: 2, width: 4 })).length,
    2,
  );
});

/** An agent session over in-memory pipes, as in agent-server.test.ts: the agent's side of APPLY and FINISH. */
/** An agent session past the handshake: HELLO sent as a client would, WELCOME received. */
async function welcomedSession(db: string) {
  const session = agentSession(db);
  session.send(MessageType.HELLO, (w) =>
    m.writeHello(w, {
      protocol: PROTOCOL_VERSION,
      clientVersion: 'test',
      dbPath: db,
      homeRelative: false,
      nodeName: 'phone',
      prepare: true,
    }),
  );
  assert.equal((await session.next()).type, MessageType.WELCOME);
  return session;
}

function agentSession(db: string) {
  const input = new PassThrough();
  const output = new PassThrough();
  const done = serveAgent({
    input,
    output,
    db,
    allowDb: undefined,
    readOnly: false,
    name: undefined,
    nodeSettings: () => ({}),
    openReplica: (p, served) => LocalReplica.open(p, served),
  });
  const frames = new FrameStream(output, { preamble: true });
  return {
    send: (type: number, write?: Parameters<typeof m.frameOf>[1]) => input.write(m.frameOf(type, write)),
    next: async (): Promise<Frame> => {
      const frame = await frames.next();
      assert.ok(frame);
      return frame;
    },
    done,
  };
}

test('the agent refuses what a client asks it to store unless it is well formed: widths, origins, sender, cursor; the session ends with exit 7', async (t) => {
  const db = createNotesDb(tempDir(t), 'phone');
  insertNotes(db, [{ timestamp: '2025-11-30 22:00:00', content: 'phone own', context: 'c', source: 's' }]);
  openReplica(db, 'phone').close();
  const before = allRows(db);
  const good: ApplyRequest = {
    sender: { id: SENDER_ID, name: 'main' },
    routeKey: routeKey(EVERYTHING),
    columns: COLUMNS,
    rows: entries(3),
    throughRowid: 3,
    rewound: false,
    knownNodes: [],
    dryRun: false,
  };
  const bad: Array<[Partial<ApplyRequest>, RegExp]> = [
    [{ rows: entries(3).map((row) => ({ ...row, values: row.values.slice(0, 3) })) }, /entries of 3 values where 4 columns were asked/],
    [{ rows: entries(3).map((row, i) => (i === 2 ? { ...row, origin: 'o'.repeat(1 << 20) } : row)) }, /is not a node id/],
    [{ sender: { id: SENDER_ID, name: 'two words' } }, /is not a node name/],
    [{ throughRowid: -7 }, /-7 as a cursor/],
    [{ rows: [...entries(3)].reverse() }, /out of order/],
  ];
  for (const [change, pattern] of bad) {
    const session = await welcomedSession(db);
    session.send(MessageType.APPLY, (w) => m.writeApply(w, { ...good, ...change }));
    const error = m.decode((await session.next()).payload, m.readError);
    assert.equal(error.code, 'PROTOCOL_ERROR');
    assert.match(error.message, pattern);
    assert.equal(await session.done, 7);
    assert.deepEqual(allRows(db), before, 'nothing stored');
  }
  const session = await welcomedSession(db);
  session.send(MessageType.FINISH, (w) =>
    m.writeReport(w, {
      sender: { id: SENDER_ID, name: 'main' },
      trackingName: 'main\nSynced 99 entries',
      received: 1,
      newestTimestamp: undefined,
      success: true,
      writeSyncNote: true,
    }),
  );
  assert.equal(m.decode((await session.next()).payload, m.readError).code, 'PROTOCOL_ERROR');
  assert.equal(await session.done, 7);
  assert.deepEqual(allRows(db), before, 'no sync note, no tracking');
});
