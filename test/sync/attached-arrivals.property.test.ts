/**
 * What a batch of the attached transfer says arrived (sync notes among the entries it inserted, and
 * their newest time) is, by property, core/arrivals.ts's tally of the rows it stored, read back
 * afterwards: whether it was tallied as the sender's read passed (every row sent stored, each plain)
 * or read back (duplicates, refusals, timestamps a column affinity converts or a binding cuts,
 * possible sync notes), with the sender in its rollback journal (the batch staged) and in WAL mode
 * (read by the write itself). Shrunk counterexamples are pinned below.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import fc from 'fast-check';
import { tallyArrivals, type ArrivedEntry } from '../../src/core/arrivals.js';
import { EVERYTHING } from '../../src/core/route.js';
import type { SqlValue } from '../../src/core/sql-value.js';
import { SYNC_NOTE_CONTEXT, SYNC_NOTE_SOURCE, syncNoteText } from '../../src/core/sync-note.js';
import type { NaiveTimestamps } from '../../src/core/timestamps.js';
import { createNotesDb, createNotesDbWith, insertNotes, openReplica, withDb, type Note, type Variant } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

/** Untyped columns: the sender keeps every value as written, so the receiver's affinity has something to convert. */
const UNTYPED_SENDER = `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp, content, context, source)`;

const TIMESTAMPS: readonly SqlValue[] = [
  '2025-03-04 05:06:07',
  '2025-03-04T05:06:07.891Z',
  '2025-03-04 05:06:07+05:00',
  '2024-12-31T23:59:60',
  '2025-02-31 00:00:00',
  '2025-13-01 00:00:00',
  '2025-03-04',
  '20250304',
  '1741064767',
  ' 1741064767 ',
  1741064767,
  1741064767.5,
  '2025-03-04 05:06:07 мск',
  '2025-03-04 05:06:07\u0000',
  '2025-03-05\u00002025-03-06 00:00:00',
  'yesterday',
  null,
];
const CONTEXTS: readonly SqlValue[] = [SYNC_NOTE_CONTEXT, null, 'c', `${SYNC_NOTE_CONTEXT}\u0000x`];
const SOURCES: readonly SqlValue[] = [SYNC_NOTE_SOURCE, 'Resonance-Sync', `${SYNC_NOTE_SOURCE}\u0000`, 's', null];
const CONTENTS: readonly SqlValue[] = [syncNoteText(3, 'x'), 'Synced 3 entries', 'plain'];

interface Case {
  notes: Note[];
  /** Indices of notes the receiver holds already (duplicates). */
  held: number[];
  receiver: Variant;
  senderWal: boolean;
  maxRows: number;
  naive: NaiveTimestamps;
}

const note = fc.record({
  timestamp: fc.oneof(
    fc.constantFrom(...TIMESTAMPS),
    fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  ),
  content: fc.constantFrom(...CONTENTS),
  context: fc.constantFrom(...CONTEXTS),
  source: fc.constantFrom(...SOURCES),
});
const cases = fc.record({
  notes: fc.array(note, { minLength: 1, maxLength: 12 }),
  held: fc.array(fc.nat(11), { maxLength: 6 }),
  receiver: fc.constantFrom<Variant>('b', 'c'),
  senderWal: fc.boolean(),
  maxRows: fc.integer({ min: 1, max: 5 }),
  naive: fc.constantFrom<NaiveTimestamps>('utc', 'local'),
});

const ROW = 'SELECT timestamp, context, source, content FROM resonance_notes';

async function check(t: TestContext, c: Case): Promise<void> {
  const dir = tempDir(t);
  const senderPath = createNotesDbWith(dir, 'sender', UNTYPED_SENDER);
  insertNotes(senderPath, c.notes);
  if (c.senderWal) withDb(senderPath, (db) => db.exec('PRAGMA journal_mode = WAL'));
  const receiverPath = createNotesDb(dir, 'receiver', c.receiver);
  insertNotes(
    receiverPath,
    c.held.flatMap((i) => c.notes.slice(i, i + 1)).filter((n) => n.timestamp !== null && n.content !== null && n.source !== null),
  );
  const sender = openReplica(senderPath, 'sender');
  const receiver = openReplica(receiverPath, 'receiver', { naiveTimestamps: c.naive });
  try {
    const from = await sender.info();
    const to = await receiver.info();
    const batches = receiver.receiveDirect(sender, {
      feed: {
        afterRowid: 0,
        receiverId: to.node.id,
        route: EVERYTHING,
        columns: from.columns,
        maxRows: c.maxRows,
        maxBytes: 1 << 20,
      },
      receipt: { sender: from.node, routeKey: 'r', rewound: false, knownNodes: [] },
      dryRun: false,
    });
    assert.ok(batches);
    const end = () => withDb(receiverPath, (db) => Number(db.prepare('SELECT coalesce(max(rowid), 0) AS m FROM resonance_notes').get()?.m));
    let before = end();
    let sent = 0;
    for await (const batch of batches) {
      sent += batch.sent;
      const stored = withDb(receiverPath, (db) => [...db.prepare(`${ROW} WHERE rowid > ?`).iterateArrays(before)]);
      before = end();
      assert.equal(stored.length, batch.result.received);
      const expected = tallyArrivals(stored as unknown as ArrivedEntry[], c.naive);
      assert.deepEqual({ syncNotes: batch.result.syncNotes, newestTimestamp: batch.result.newestTimestamp }, expected);
    }
    assert.equal(sent, c.notes.length);
  } finally {
    await sender.close();
    await receiver.close();
  }
}

test('property: the arrivals of each attached batch are the tally of the rows it stored', async (t) => {
  await fc.assert(
    fc.asyncProperty(cases, (c) => check(t, c)),
    { numRuns: 80 },
  );
});

test('pinned: a plain batch, tallied as the sender is read, in both journals', async (t) => {
  for (const senderWal of [false, true]) {
    const notes = ['2025-03-04 05:06:07', '2025-03-04T05:06:08.5Z', '2025-03-04 05:06:06'].map((timestamp) => ({
      timestamp,
      content: 'plain',
      context: 'c',
      source: 's',
    }));
    await check(t, { notes, held: [], receiver: 'b', senderWal, maxRows: 5, naive: 'utc' });
  }
});

test('pinned: a duplicate or a refused entry newer than every stored one is not what arrived', async (t) => {
  const plain = (timestamp: string, source: string | null) => ({ timestamp, content: `at ${timestamp}`, context: 'c', source });
  const newer = plain('2025-03-04 05:06:09', 's');
  const older = plain('2025-03-04 05:06:07', 's');
  for (const senderWal of [false, true]) {
    await check(t, { notes: [newer, older], held: [0], receiver: 'b', senderWal, maxRows: 5, naive: 'utc' });
    // Variant c refuses a NULL source.
    await check(t, { notes: [plain('2025-03-04 05:06:09', null), older], held: [], receiver: 'c', senderWal, maxRows: 5, naive: 'utc' });
  }
});
