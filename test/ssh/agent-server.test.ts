/**
 * The agent's side of the protocol, driven frame by frame over in-memory pipes against a real SQLite
 * file: the handshake checks, flow control (never more batches ahead than the client's credit),
 * feed cancellation, typed ERROR frames that leave the session usable, and --read-only/--allow-db.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { FrameStream } from '../../src/protocol/channel.js';
import type { Writer } from '../../src/protocol/writer.js';
import * as m from '../../src/protocol/messages.js';
import { MessageType, PROTOCOL_VERSION, type Frame } from '../../src/protocol/protocol.js';
import { serveAgent, type ServeOptions } from '../../src/protocol/server.js';
import { EVERYTHING } from '../../src/core/route.js';
import type { EntryHashName } from '../../src/core/replica.js';
import { LocalReplica } from '../../src/transport/local/local-replica.js';
import { createNotesDb, insertNotes, openReplica } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

interface Session {
  send(type: number, write?: (w: Writer) => void): void;
  next(): Promise<Frame>;
  queued(): number;
  end(): Promise<number>;
}

function startSession(options: Partial<ServeOptions> & { db: string | undefined }): Session {
  const input = new PassThrough();
  const output = new PassThrough();
  const done = serveAgent({
    input,
    output,
    allowDb: undefined,
    readOnly: false,
    name: undefined,
    nodeSettings: () => ({}),
    openReplica: (path, served) => LocalReplica.open(path, served),
    ...options,
  });
  const frames = new FrameStream(output, { preamble: true });
  return {
    send: (type, write) => input.write(m.frameOf(type, write)),
    next: async () => {
      const frame = await frames.next();
      assert.ok(frame, 'the agent answered');
      return frame;
    },
    queued: () => frames.queued,
    end: () => {
      input.end();
      return done;
    },
  };
}

function seededDb(t: TestContext, rows = 0): string {
  const db = createNotesDb(tempDir(t), 'remote');
  insertNotes(
    db,
    Array.from({ length: rows }, (_, i) => ({ timestamp: `2025-01-01 00:00:${i % 60}`, content: `n${i}`, context: 'c', source: 's' })),
  );
  return db;
}

const hello =
  (db: string, prepare = true) =>
  (w: Writer) =>
    m.writeHello(w, { protocol: PROTOCOL_VERSION, clientVersion: 'test', dbPath: db, homeRelative: false, nodeName: 'phone', prepare });

const errorOf = (frame: Frame) => {
  assert.equal(frame.type, MessageType.ERROR);
  return m.decode(frame.payload, m.readError);
};

test('flow control: the agent sends only as many batches as the client has credit for', async (t) => {
  const db = seededDb(t, 1000);
  const session = startSession({ db });
  session.send(MessageType.HELLO, hello(db));
  assert.equal((await session.next()).type, MessageType.WELCOME);
  const request = {
    afterRowid: 0,
    receiverId: 'someone',
    route: EVERYTHING,
    columns: ['timestamp', 'content'],
    maxRows: 10,
    maxBytes: 1 << 20,
  };
  session.send(MessageType.FEED_OPEN, (w) => m.writeFeedOpen(w, request, 2));
  await sleep(300);
  assert.equal(session.queued(), 2, 'two batches of credit, two batches sent, then the agent waits');
  session.send(MessageType.FEED_CREDIT, (w) => w.uint(1));
  await sleep(200);
  assert.equal(session.queued(), 3);
  const batches = [await session.next(), await session.next(), await session.next()].map((f) => m.decode(f.payload, m.readBatch));
  assert.deepEqual(
    batches.map((b) => b.throughRowid),
    [10, 20, 30],
  );
  assert.deepEqual(batches[0]?.rows[0]?.values, ['2025-01-01 00:00:0', 'n0']);

  // Requests are still answered while a feed is open; a cancel ends the feed with exactly one FEED_END.
  session.send(MessageType.CURSOR, (w) => m.writeCursorRequest(w, { senderId: 'x', routeKey: 'k' }));
  assert.equal((await session.next()).type, MessageType.CURSOR_OK);
  session.send(MessageType.FEED_CANCEL);
  assert.equal((await session.next()).type, MessageType.FEED_END);
  session.send(MessageType.INFO);
  const info = m.decode((await session.next()).payload, m.readInfo);
  assert.equal(info.node.name, 'phone', 'prepared on first contact with the name from HELLO');
  assert.equal(info.maxRowid, 1000);
  assert.equal(await session.end(), 0);
});

test('errors travel as typed ERROR frames and the session goes on; --read-only refuses writes', async (t) => {
  const db = seededDb(t, 3);
  await openReplica(db, 'phone').close();
  const session = startSession({ db, readOnly: true });
  session.send(MessageType.HELLO, hello(db));
  assert.equal(m.decode((await session.next()).payload, m.readWelcome).readOnly, true);
  const apply = {
    sender: { id: '0a0a0a0a-0000-4000-8000-00000000000a', name: 'main' },
    routeKey: 'k',
    columns: ['timestamp', 'content'],
    rows: [],
    throughRowid: 0,
    rewound: false,
    knownNodes: [],
    dryRun: false,
  };
  session.send(MessageType.APPLY, (w) => m.writeApply(w, apply));
  const refused = errorOf(await session.next());
  assert.equal(refused.code, 'REMOTE_READ_ONLY');
  assert.match(refused.message, /read-only.*--pull-only/);
  session.send(MessageType.INFO);
  assert.equal((await session.next()).type, MessageType.INFO_OK, 'still serving after a refused request');
  assert.equal(await session.end(), 0);
});

test('DIGEST and ROWS_BY_HASH name their entry hash function: each known one is answered; another is a protocol error', async (t) => {
  const db = seededDb(t, 40);
  await openReplica(db, 'phone').close();
  const local = LocalReplica.open(db);
  t.after(() => local.close());
  const session = startSession({ db });
  session.send(MessageType.HELLO, hello(db));
  assert.equal((await session.next()).type, MessageType.WELCOME);
  for (const hash of ['sha256', 'sha3-256'] as const) {
    session.send(MessageType.DIGEST, (w) => m.writeDigestRequest(w, { route: EVERYTHING, hash }));
    const answer = await session.next();
    assert.equal(answer.type, MessageType.DIGEST_OK);
    assert.deepEqual(m.decode(answer.payload, m.readDigestResult), await local.digest({ route: EVERYTHING, hash }));
  }
  assert.equal(await session.end(), 0);
  // A name it does not know means a client it cannot understand: one ERROR, then the session ends.
  const unknown = 'md5' as EntryHashName;
  const refusals: Array<[number, (w: Writer) => void]> = [
    [MessageType.DIGEST, (w) => m.writeDigestRequest(w, { route: EVERYTHING, hash: unknown })],
    [
      MessageType.ROWS_BY_HASH,
      (w) => m.writeRowsByHash(w, { route: EVERYTHING, hash: unknown, columns: ['timestamp', 'content'], hashes: [] }),
    ],
  ];
  for (const [type, write] of refusals) {
    const refusing = startSession({ db });
    refusing.send(MessageType.HELLO, hello(db));
    assert.equal((await refusing.next()).type, MessageType.WELCOME);
    refusing.send(type, write);
    const refused = errorOf(await refusing.next());
    assert.equal(refused.code, 'PROTOCOL_ERROR');
    assert.match(refused.message, /entry hash function this agent does not know: "md5"/);
    assert.notEqual(await refusing.end(), 0);
  }
});

test('handshake refusals: other protocol version, unknown database, database not allowed', async (t) => {
  const db = seededDb(t);
  const other = createNotesDb(tempDir(t), 'other');

  const old = startSession({ db });
  old.send(MessageType.HELLO, (w) => w.uint(PROTOCOL_VERSION + 1).string('9.0.0'));
  const version = errorOf(await old.next());
  assert.equal(version.code, 'PROTOCOL_VERSION');
  assert.match(
    version.message,
    new RegExp(`client speaks agent protocol ${PROTOCOL_VERSION + 1}, this agent .* speaks ${PROTOCOL_VERSION}`),
  );
  assert.equal(await old.end(), 7);

  const missing = startSession({ db: `${db}.gone` });
  missing.send(MessageType.HELLO, hello(`${db}.gone`));
  assert.equal(errorOf(await missing.next()).code, 'DB_NOT_FOUND');
  assert.equal(await missing.end(), 4);

  // A forced command (`serve --allow-db A`) asked for B: refused, whichever way it is spelled.
  const forced = startSession({ db: undefined, allowDb: db });
  forced.send(MessageType.HELLO, hello(other));
  const refused = errorOf(await forced.next());
  assert.equal(refused.code, 'DB_NOT_ALLOWED');
  assert.match(refused.message, /may only sync .*remote\.sqlite3.*not .*other\.sqlite3/);
  await forced.end();
  const pinned = startSession({ db });
  pinned.send(MessageType.HELLO, hello(other));
  assert.equal(errorOf(await pinned.next()).code, 'DB_NOT_ALLOWED');
  await pinned.end();

  const quiet = startSession({ db });
  assert.equal(await quiet.end(), 0, 'a client that leaves before HELLO is no error');
});
