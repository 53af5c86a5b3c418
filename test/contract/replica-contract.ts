/**
 * One contract suite, run against every transport (local file, ssh agent, ssh sqlite3): the core's
 * scenarios through the production path (sync-peers -> open-peer -> the transport's Replica), the
 * real CLI killed with SIGKILL mid-sync, and the seam itself method by method (replica-methods.ts).
 * A transport only says how to name a database file as a peer URL, what environment the CLI needs to
 * reach it, and whether its receivers read a local sender themselves (transport.ts).
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { basename } from 'node:path';
import { test, type TestContext } from 'node:test';
import { emptyConfig } from '../../src/config/schema.js';
import type { SyncError } from '../../src/core/errors.js';
import { EVERYTHING, type Route } from '../../src/core/route.js';
import { syncPeers, type PeerOutcome } from '../../src/sync/sync-peers.js';
import type { BatchLimits } from '../../src/sync/engine.js';
import { allRows, createNotesDb, createNotesDbWith, identityCounts, insertNotes, withDb, type Note } from '../support/notes-db.js';
import { readLog } from '../../src/cli/commands/log.js';
import { gatherStatus } from '../../src/sync/status.js';
import { runCli, spawnCli } from '../support/cli.js';
import { tempDir } from '../support/temp.js';
import { replicaMethods } from './replica-methods.js';
import { peerConfig, type PeerTransport, type TransportSession } from './transport.js';
import { syncPair } from '../support/sync-pair.js';
import { downgradeToSchemaV1, hasArrivalsTable, hasRefusalColumns } from '../support/old-schema.js';
import { FIND_ENTRY_SQL } from '../../src/store/receive-sql.js';

export type { PeerTransport, TransportSession } from './transport.js';

interface SyncViaOptions {
  pull?: boolean;
  push?: boolean;
  route?: Route;
  limits?: BatchLimits;
  signal?: AbortSignal;
  onBatch?: () => void;
  dryRun?: boolean;
}

export async function syncVia(
  session: TransportSession,
  localPath: string,
  peerPath: string,
  options: SyncViaOptions = {},
): Promise<PeerOutcome> {
  const peer = peerConfig(session, peerPath, options.route);
  const saved = { ...process.env };
  Object.assign(process.env, session.env);
  try {
    const [outcome] = await syncPeers({
      dbPath: localPath,
      node: { ...emptyConfig().node, name: basename(localPath, '.sqlite3'), syncNote: false },
      peers: [peer],
      pull: options.pull ?? true,
      push: options.push ?? true,
      dryRun: options.dryRun ?? false,
      ...(options.limits ? { limits: options.limits } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onBatch ? { onProgress: options.onBatch } : {}),
    });
    if (!outcome) throw new Error('no outcome');
    return outcome;
  } finally {
    for (const key of Object.keys(session.env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}

function ok(outcome: PeerOutcome) {
  if (outcome.error) throw outcome.error;
  const summary = outcome.summary;
  assert.ok(summary);
  const get = (direction: 'pull' | 'push') => summary.directions.find((d) => d.direction === direction);
  return { pull: get('pull'), push: get('push') };
}

const note = (i: number, extra: Partial<Note> = {}): Note => ({
  timestamp: `2025-11-30 22:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
  content: `note ${i} — ${'ю'.repeat(i % 7)}`,
  context: i % 3 === 0 ? 'leo_development' : 'maternal_conversation',
  source: i % 4 === 0 ? null : `agent${i % 5}`,
  ...extra,
});

export function replicaContract(transport: PeerTransport): void {
  const withSession = async (t: TestContext, work: (session: TransportSession, dir: string) => Promise<void>) => {
    const session = await transport.start(t);
    if (!session) return;
    try {
      await work(session, tempDir(t));
    } finally {
      await session.stop();
    }
  };

  test(`[${transport.name}] both directions, exactly once, fields byte-identical, nothing on a second run`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local', 'b');
      const peer = createNotesDb(dir, 'peer', 'd');
      insertNotes(local, [note(1), note(2), note(3, { source: null })]);
      insertNotes(peer, [
        note(10, { resonance_score: 0.5 }),
        note(11, { content: new Uint8Array([0, 1, 255]) }),
        note(12, { timestamp: 9007199254740993n }),
      ]);
      const first = ok(await syncVia(session, local, peer));
      assert.equal(first.pull?.received, 3);
      assert.equal(first.push?.received, 3);
      const second = ok(await syncVia(session, local, peer));
      assert.equal(second.pull?.sent, 0);
      assert.equal(second.push?.sent, 0);
      assert.deepEqual(identityCounts(local), identityCounts(peer));
      // A TEXT column stores the big integer as its exact decimal text; it must survive exactly.
      assert.ok(allRows(local).some((row) => row.timestamp === '9007199254740993'));
      assert.ok(
        allRows(local).some((row) => row.content instanceof Uint8Array && Buffer.from(row.content).equals(Buffer.from([0, 1, 255]))),
      );
    }));

  test(`[${transport.name}] dedupe by identity with NULL sources and duplicates already present`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local');
      const peer = createNotesDb(dir, 'peer');
      const shared = note(5, { source: null });
      insertNotes(local, [shared, shared, note(6)]);
      insertNotes(peer, [shared, note(7)]);
      const result = ok(await syncVia(session, local, peer));
      assert.equal(result.pull?.duplicates, 1);
      assert.equal(result.push?.received, 1);
      assert.equal(allRows(local).length, 4, 'the pre-existing duplicate is kept');
      assert.equal(allRows(peer).length, 3);
    }));

  test(`[${transport.name}] a 6 MB note and routes per direction`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local');
      const peer = createNotesDb(dir, 'peer');
      insertNotes(local, [note(3, { content: 'Ω'.repeat(6 * 1024 * 1024) }), note(4)]);
      const route = { ...EVERYTHING, includeContext: ['leo_*'] };
      const result = ok(await syncVia(session, local, peer, { pull: false, route }));
      assert.equal(result.push?.received, 1);
      assert.equal((allRows(peer)[0]?.content as string).length, 6 * 1024 * 1024);
    }));

  test(`[${transport.name}] an interrupted sync keeps exactly its committed batches and resumes`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local');
      const peer = createNotesDb(dir, 'peer');
      insertNotes(
        local,
        Array.from({ length: 300 }, (_, i) => note(i)),
      );
      const controller = new AbortController();
      let batches = 0;
      const limits = { maxRows: 25, maxBytes: 1 << 20 };
      const cut = await syncVia(session, local, peer, {
        pull: false,
        limits,
        signal: controller.signal,
        onBatch: () => ++batches === 3 && controller.abort(),
      });
      assert.ok(cut.error, 'the run reports the interruption');
      assert.equal(allRows(peer).length, 75);
      const resumed = ok(await syncVia(session, local, peer, { pull: false, limits }));
      assert.equal(resumed.push?.sent, 225);
      assert.equal(resumed.push?.duplicates, 0);
      assert.equal(allRows(peer).length, 300);
    }));

  test(`[${transport.name}] a peer restored from an older copy is re-read without loss or duplicates`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local');
      const peer = createNotesDb(dir, 'peer');
      insertNotes(peer, [note(1)]);
      ok(await syncVia(session, local, peer));
      copyFileSync(peer, `${dir}/backup`);
      insertNotes(peer, [note(2), note(3)]);
      ok(await syncVia(session, local, peer));
      copyFileSync(`${dir}/backup`, peer);
      insertNotes(peer, [note(4)]);
      const result = ok(await syncVia(session, local, peer));
      assert.equal(result.pull?.rewound, true);
      assert.equal(result.pull?.received, 1);
      assert.equal(allRows(local).length, 4);
      assert.equal(allRows(peer).length, 4, 'push brought the lost entries back to the restored peer');
    }));

  // Relay: the hub is this node, the leaves are peers over the transport. z's entries reach the hub
  // through a, so only the relay mark (not the origin) keeps them from going back to a.
  test(`[${transport.name}] relay: an entry never travels back over the link it arrived on`, (t) =>
    withSession(t, async (session, dir) => {
      const hub = createNotesDb(dir, 'hub');
      const a = createNotesDb(dir, 'a');
      const b = createNotesDb(dir, 'b', 'd');
      const z = createNotesDb(dir, 'z');
      insertNotes(z, [note(1), note(2, { source: null }), note(3)]);
      await syncPair(a, z);
      insertNotes(a, [note(4), note(5), note(6, { source: null }), note(7)]);

      const fromA = ok(await syncVia(session, hub, a));
      assert.equal(fromA.pull?.received, 7);
      assert.equal(fromA.push?.sent, 0, "nothing goes back to a: its own entries by origin, z's by where they came from");
      const toB = ok(await syncVia(session, hub, b));
      assert.equal(toB.push?.received, 7);
      const again = ok(await syncVia(session, hub, b));
      assert.equal(again.pull?.sent, 0, 'b sends back none of what the hub relayed to it');
      assert.equal(again.pull?.duplicates, 0);
      assert.equal(again.push?.sent, 0);
      const backToA = ok(await syncVia(session, hub, a));
      assert.equal(backToA.pull?.sent, 0);
      assert.equal(backToA.push?.sent, 0);
      // b's own entry goes out to a once, and comes back from nobody.
      insertNotes(b, [note(8)]);
      assert.equal(ok(await syncVia(session, hub, b)).pull?.received, 1);
      assert.equal(ok(await syncVia(session, hub, a)).push?.received, 1);
      const settled = ok(await syncVia(session, hub, a));
      assert.equal(settled.pull?.sent, 0);
      for (const path of [hub, a, b]) assert.equal(identityCounts(path).size, 8, `${basename(path)} holds every entry`);
    }));

  test(`[${transport.name}] relay: a peer restored from an older copy gets back even what arrived from it`, (t) =>
    withSession(t, async (session, dir) => {
      const hub = createNotesDb(dir, 'hub');
      const leaf = createNotesDb(dir, 'leaf');
      insertNotes(leaf, [note(1)]);
      ok(await syncVia(session, hub, leaf));
      copyFileSync(leaf, `${dir}/backup`);
      insertNotes(leaf, [note(2), note(3)]);
      ok(await syncVia(session, hub, leaf));
      copyFileSync(`${dir}/backup`, leaf);
      const result = ok(await syncVia(session, hub, leaf));
      assert.equal(result.push?.rewound, true);
      assert.equal(result.push?.received, 2, 'the entries the hub got from the leaf itself are sent back to it');
      assert.equal(identityCounts(leaf).size, 3);
    }));

  test(`[${transport.name}] a database prepared by the previous version: a dry run syncs it as it is, a sync brings it up to date`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local');
      const peer = createNotesDb(dir, 'peer', 'd');
      insertNotes(local, [note(1), note(2)]);
      insertNotes(peer, [note(3)]);
      await syncPair(local, createNotesDb(dir, 'other'));
      await syncPair(peer, createNotesDb(dir, 'another'));
      for (const path of [local, peer]) downgradeToSchemaV1(path);

      const dry = ok(await syncVia(session, local, peer, { dryRun: true }));
      assert.equal(dry.pull?.received, 1);
      assert.equal(dry.push?.received, 2);
      for (const path of [local, peer]) assert.equal(hasArrivalsTable(path), false, `${basename(path)}: a dry run changes nothing`);
      for (const path of [local, peer]) assert.equal(hasRefusalColumns(path), false, `${basename(path)}: a dry run adds no columns`);

      const real = ok(await syncVia(session, local, peer));
      assert.equal(real.pull?.received, 1);
      assert.equal(real.push?.received, 2);
      for (const path of [local, peer]) assert.equal(hasArrivalsTable(path), true, `${basename(path)} is brought up to date`);
      for (const path of [local, peer]) assert.equal(hasRefusalColumns(path), true, `${basename(path)}: sync_log can say what was refused`);
      assert.deepEqual(identityCounts(local), identityCounts(peer));
      const again = ok(await syncVia(session, local, peer));
      assert.equal(again.pull?.sent, 0);
      assert.equal(again.push?.sent, 0);
    }));

  test(`[${transport.name}] kill -9 of the real CLI at random moments, then a normal run: converged, nothing lost or duplicated`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local');
      const peer = createNotesDb(dir, 'peer');
      insertNotes(
        local,
        Array.from({ length: 5000 }, (_, i) => note(i, { content: `local ${i} ${'x'.repeat(i % 200)}` })),
      );
      insertNotes(
        peer,
        Array.from({ length: 5000 }, (_, i) => note(i, { content: `peer ${i} ${'y'.repeat(i % 200)}` })),
      );
      const config = `${dir}/config.toml`;
      const key = session.mode === 'sqlite3' ? 'sqlite3_command' : 'remote_command';
      const remote = session.remoteCommand ? `${key} = ${JSON.stringify(session.remoteCommand)}\n` : '';
      const { writeFileSync } = await import('node:fs');
      writeFileSync(
        config,
        `[node]\nname = "local"\ndb = "${local}"\nsync_note = false\n\n[peers.peer]\nurl = ${JSON.stringify(session.url(peer))}\nmode = "${session.mode}"\n${remote}`,
      );
      const kills = Number(process.env.RESONANCE_KILL_ROUNDS ?? 12);
      for (let round = 0; round < kills; round++) {
        const logged = logRows(local);
        const child = spawnCli(['sync', '--batch-rows', '20', '--config', config], { env: session.env });
        let exited = false;
        const closed = new Promise((resolve) =>
          child.once('close', () => {
            exited = true;
            resolve(true);
          }),
        );
        // Wait until this run has started a direction (a slow machine may take long to start Node),
        // then kill it at a random moment of the sync itself.
        const deadline = Date.now() + 20_000;
        while (!exited && logRows(local) === logged && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 400));
        child.kill('SIGKILL');
        await closed;
      }
      // The kills must have landed mid-sync (a direction started and never finished), or this proves nothing.
      const cut = withDb(local, (db) => Number(db.prepare(`SELECT count(*) AS n FROM sync_log WHERE status = 'running'`).get()?.n));
      assert.ok(cut >= 1, `at least one kill interrupted a running sync (got ${cut})`);
      const final = await runCli(['sync', '--config', config], { env: session.env });
      assert.equal(final.code, 0, final.stderr);
      for (const path of [local, peer]) {
        const counts = identityCounts(path);
        assert.equal(counts.size, 10000, `${basename(path)} holds every entry`);
        assert.ok(
          [...counts.values()].every((n) => n === 1),
          `${basename(path)} holds each entry once`,
        );
      }
    }));

  // The users' agents keep their own thread, assistant id and snapshot in resonance_notes and read
  // them back with ORDER BY id DESC LIMIT 1: a device must never adopt the other one's.
  test(`[${transport.name}] device-local contexts stay home unless a route names them`, (t) =>
    withSession(t, async (session, dir) => {
      const local = createNotesDb(dir, 'local', 'b');
      const peer = createNotesDb(dir, 'peer', 'c');
      const state = (device: string, i: number): Note[] => [
        note(i, { context: 'arianna_thread', content: `thread_${device}`, source: 'arianna' }),
        note(i + 1, { context: 'leo_assistant_id', content: `asst_${device}`, source: 'leo' }),
        note(i + 2, { context: 'field4_snapshot', content: `snapshot of ${device}`, source: 'field4' }),
        note(i + 3, { context: 'leo_development', content: `shared from ${device}`, source: 'leo' }),
      ];
      ok(await syncVia(session, local, peer)); // prepares both: a dry run needs prepared databases
      insertNotes(local, state('desktop', 1));
      insertNotes(peer, state('phone', 11));
      const latest = (path: string, context: string) =>
        withDb(
          path,
          (db) => db.prepare('SELECT content FROM resonance_notes WHERE context = ? ORDER BY id DESC LIMIT 1').get(context)?.content,
        );

      const dry = ok(await syncVia(session, local, peer, { dryRun: true }));
      assert.equal(dry.pull?.keptHome, 3, 'the dry run says how many stayed home');
      assert.equal(dry.push?.keptHome, 3);
      assert.match(dry.push?.route ?? '', /device-local kept home \[\*_thread, \*_assistant_id, \*snapshot\]/);

      const first = ok(await syncVia(session, local, peer));
      assert.equal(first.pull?.received, 1, 'only the shared note came');
      assert.equal(first.push?.received, 1);
      for (const [path, device] of [
        [local, 'desktop'],
        [peer, 'phone'],
      ] as const) {
        assert.equal(latest(path, 'arianna_thread'), `thread_${device}`, `${device} keeps its own thread`);
        assert.equal(latest(path, 'leo_assistant_id'), `asst_${device}`);
        assert.equal(latest(path, 'field4_snapshot'), `snapshot of ${device}`);
      }

      // Named exactly, one device-local context travels; the others still stay home.
      const named = { ...EVERYTHING, includeContext: ['arianna_thread', 'leo_*'] };
      const second = ok(await syncVia(session, local, peer, { pull: false, route: named }));
      assert.equal(second.push?.received, 1);
      assert.equal(latest(peer, 'arianna_thread'), 'thread_desktop');
      assert.equal(latest(peer, 'leo_assistant_id'), 'asst_phone');

      // An empty list sends everything.
      const third = ok(await syncVia(session, local, peer, { push: false, route: { ...EVERYTHING, localContexts: [] } }));
      assert.equal(third.pull?.received, 3);
      assert.equal(latest(local, 'field4_snapshot'), 'snapshot of phone');
    }));

  // The users' own schemas, replayed exactly: the phone's init_resonance.sql (source NOT NULL), the
  // desktop's table that an agent gave `source TEXT DEFAULT 'scribe'` by ALTER TABLE (rows written
  // before read 'scribe'; agents writing an explicit NULL leave NULL-source rows), and a plain agent
  // table without source (prepare adds a nullable one, NULL for every row).
  test(`[${transport.name}] the users' schemas: what a table refuses is reported with its reason, passed over once, never retried`, (t) =>
    withSession(t, async (session, dir) => {
      const phone = createNotesDbWith(dir, 'phone', PHONE_INIT_SQL);
      const desktop = createNotesDbWith(
        dir,
        'desktop',
        'CREATE TABLE IF NOT EXISTS resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT)',
      );
      insertNotes(desktop, [note(1, { context: 'leo_development' })]);
      withDb(desktop, (db) => db.exec("ALTER TABLE resonance_notes ADD COLUMN source TEXT DEFAULT 'scribe'"));
      insertNotes(desktop, [note(2, { source: null }), note(3, { source: 'scribe' }), note(4, { source: null, context: 'consilium_x' })]);
      const plain = createNotesDb(dir, 'plain', 'a');
      insertNotes(plain, [note(5), note(6)]);

      // desktop (this node) <-> phone (the peer over the transport)
      const first = ok(await syncVia(session, desktop, phone));
      assert.deepEqual(
        withDb(phone, (db) =>
          db
            .prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
            .all()
            .map((row) => String(row.name)),
        ),
        ['idx_source', 'idx_timestamp'],
        'their idx_timestamp serves dedupe: no second index on the same column was built',
      );
      assert.match(
        withDb(phone, (db) =>
          db
            .prepare(`EXPLAIN QUERY PLAN ${FIND_ENTRY_SQL}`)
            .all('2025-01-01 00:00:00', 'x', 'y')
            .map((row) => String(row.detail))
            .join(' '),
        ),
        /SEARCH m USING INDEX idx_timestamp/,
      );
      assert.equal(first.pull?.received, 1, "the phone's initial system note arrives (its source is set)");
      assert.equal(first.push?.received, 2, "the old row (reads 'scribe') and the scribe row");
      assert.equal(first.push?.rejected, 2);
      assert.deepEqual(first.push?.refusals, [{ column: 'source', count: 2 }], 'refused for their NULL source');
      const logged = readLog(desktop, 'phone', 10).find((row) => row.direction === 'push');
      assert.equal(logged?.rejected, 2);
      assert.deepEqual(logged?.refusals, [{ column: 'source', count: 2 }]);
      assert.match(logged?.message ?? '', /NULL source \(NOT NULL there\).*include_source = \["\*"\]/);

      // The cursor moved past them: nothing is re-sent, and a new entry travels alone.
      const second = ok(await syncVia(session, desktop, phone));
      assert.equal(second.push?.sent, 0, 'refused entries are not retried');
      insertNotes(desktop, [note(7, { source: 'leo' })]);
      const third = ok(await syncVia(session, desktop, phone));
      assert.equal(third.push?.sent, 1);
      assert.equal(third.push?.rejected, 0);

      const status = gatherStatus(desktop, { node: emptyConfig().node, peers: [peerConfig(session, phone)] });
      const refused = status.peers[0]?.refused.push;
      assert.equal(refused?.entries, 2);
      assert.deepEqual(refused?.refusals, [{ column: 'source', count: 2 }]);
      assert.match(refused?.fixes[0] ?? '', /\[peers\.phone\.push\]/);

      // The fix the message names: a route keeping NULL sources home; nothing is refused any more.
      const keepHome = { ...EVERYTHING, includeSource: ['*'] };
      const routed = ok(await syncVia(session, plain, phone, { pull: false, route: keepHome }));
      assert.equal(routed.push?.sent, 0, "the plain table's NULL-source rows stay home");
      const unrouted = ok(await syncVia(session, plain, phone, { pull: false }));
      assert.equal(unrouted.push?.rejected, 2);
      assert.deepEqual(unrouted.push?.refusals, [{ column: 'source', count: 2 }]);

      // The other way nothing is refused: the desktop's and the plain table's sources are nullable.
      const back = ok(await syncVia(session, plain, phone, { push: false }));
      assert.equal(back.pull?.rejected, 0);
      assert.equal(back.pull?.received, allRows(phone).length);
    }));

  replicaMethods(transport);
}

/** sync_log rows so far (0 before the database is prepared). */
function logRows(path: string): number {
  return withDb(path, (db) => {
    const exists = db.prepare(`SELECT 1 AS x FROM sqlite_schema WHERE name = 'sync_log'`).get();
    return exists ? Number(db.prepare('SELECT count(*) AS n FROM sync_log').get()?.n) : 0;
  });
}

/** The phone's init_resonance.sql, as its rotation script runs it on a fresh database. */
const PHONE_INIT_SQL = `CREATE TABLE IF NOT EXISTS resonance_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp DATETIME DEFAULT CURRENT_TIMESTAMP,
    content TEXT NOT NULL,
    context TEXT,
    source TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_source ON resonance_notes(source);
CREATE INDEX IF NOT EXISTS idx_timestamp ON resonance_notes(timestamp);
INSERT INTO resonance_notes (content, context, source) VALUES
('Fresh resonance database initialized. This is the beginning of a new memory cycle.', 'system', 'resonance_rotation');`;

export function expectCode(outcome: PeerOutcome): SyncError['code'] | undefined {
  return outcome.error?.code;
}
