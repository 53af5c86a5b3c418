/**
 * Rotation, wipes, restores and whole-file copiers on a three-node set (main_device as the hub, the
 * phone and a laptop as file peers), through the real CLI as cron runs it. The users' own rotation is
 * replayed step by step with python3's sqlite3 module (test/fixtures/their-rotation.py), against their
 * schema file (test/fixtures/init_resonance.sql).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { type CliResult, runCli } from '../support/cli.js';
import { createNotesDb, identityCounts, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const SCHEMA = join(FIXTURES, 'init_resonance.sql');
const THEIR_ROTATION = join(FIXTURES, 'their-rotation.py');

interface NodeSet {
  dir: string;
  main: string;
  phone: string;
  laptop: string;
  config: string;
  cli(args: string[]): Promise<CliResult>;
}

/** Three databases shaped like theirs; main syncs both peers. `onReplaced` undefined: the default. */
async function nodeSet(t: TestContext, onReplaced?: string): Promise<NodeSet> {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main', 'b');
  const phone = join(dir, 'phone.sqlite3');
  execFileSync('sqlite3', [phone], { input: readSchema() });
  withDb(phone, (db) => db.exec('DELETE FROM resonance_notes')); // their first note aside, the phone starts empty here
  const laptop = createNotesDb(dir, 'laptop', 'c');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      '[node]',
      'name = "main_device"',
      `db = "${main}"`,
      'sync_note = false',
      ...(onReplaced ? [`on_replaced = "${onReplaced}"`] : []),
      '[peers.main_phone]',
      `url = "${phone}"`,
      '[peers.laptop]',
      `url = "${laptop}"`,
    ].join('\n'),
  );
  const env = { XDG_STATE_HOME: join(dir, 'state'), RESONANCE_SYNC_CONFIG: config };
  const set: NodeSet = { dir, main, phone, laptop, config, cli: (args) => runCli(args, { env }) };
  // One cycle of 126 entries spread over the three nodes, everywhere after two syncs.
  write(main, 'main', 42);
  write(phone, 'phone', 42);
  write(laptop, 'laptop', 42);
  for (let round = 0; round < 2; round++) {
    const run = await set.cli(['sync', '--quiet']);
    assert.equal(run.code, 0, run.stderr);
  }
  for (const path of [main, phone, laptop]) assert.equal(userEntries(path), 126);
  return set;
}

function readSchema(): string {
  return execFileSync('cat', [SCHEMA], { encoding: 'utf8' });
}

let clock = 0;
function write(path: string, who: string, count: number): void {
  insertNotes(
    path,
    Array.from({ length: count }, () => ({
      timestamp: `2025-12-01 10:${String(Math.floor(clock / 60) % 60).padStart(2, '0')}:${String(clock++ % 60).padStart(2, '0')}`,
      content: `${who} note ${clock}`,
      context: 'consilium',
      source: who,
    })),
  );
}

/** Entries written by people and agents (not the rotation's own notes). */
function userEntries(path: string): number {
  return withDb(path, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context != 'system'`).get()?.n));
}

function noDuplicates(path: string): void {
  for (const [key, count] of identityCounts(path)) assert.equal(count, 1, `${path}: ${key} held ${count} times`);
}

function theirRotation(path: string): string {
  return execFileSync('python3', [THEIR_ROTATION, path, SCHEMA, '0', '5'], { encoding: 'utf8' });
}

function sentCounts(run: CliResult): Record<string, number[]> {
  assert.equal(run.code, 0, run.stderr);
  const summary = JSON.parse(run.stdout) as { peers: Array<{ peer: string; directions: Array<{ sent: number }> }> };
  return Object.fromEntries(summary.peers.map((p) => [p.peer, p.directions.map((d) => d.sent)]));
}

test('rotate: archive with their file name, fresh file from their schema, identity kept: afterwards only new entries flow, both ways', async (t) => {
  const set = await nodeSet(t);
  const before = withDb(set.main, (db) => db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_id'`).get()?.value);
  const rotated = await set.cli(['rotate', '--force', '--schema', SCHEMA]);
  assert.equal(rotated.code, 0, rotated.stderr);
  const backups = readdirSync(join(set.dir, '.resonance_backups'));
  assert.equal(backups.length, 1);
  assert.match(backups[0] ?? '', /^resonance_\d{8}_\d{6}_\d+MB\.sqlite3$/);
  assert.equal(userEntries(join(set.dir, '.resonance_backups', backups[0] ?? '')), 126, 'the archive holds the whole cycle');
  assert.equal(userEntries(set.main), 0, 'the fresh file holds only the new cycle');
  const fresh = withDb(set.main, (db) => ({
    id: db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_id'`).get()?.value,
    notes: db.prepare(`SELECT id, source FROM resonance_notes ORDER BY id`).all(),
  }));
  assert.equal(fresh.id, before, 'the node keeps its identity');
  assert.deepEqual(
    fresh.notes.map((n) => n.source),
    ['resonance_rotation', 'rotation_manager'],
    "their schema's note, then the rotation note",
  );
  assert.ok(Number(fresh.notes[0]?.id) > 126, 'new rowids continue above the archived cycle');

  write(set.main, 'main', 3);
  write(set.phone, 'phone', 4);
  write(set.laptop, 'laptop', 5);
  const sent = sentCounts(await set.cli(['sync', '--json']));
  // main_phone: pull 4 new; push main's 2 cycle notes + 3 new. laptop: pull 5; push 2 + 3 + the phone's 4.
  assert.deepEqual(sent, { main_phone: [4, 5], laptop: [5, 9] });
  assert.equal(userEntries(set.main), 12);
  assert.equal(userEntries(set.phone), 126 + 12 - 5, 'the phone has the laptop entries only after the next round');
  for (const path of [set.main, set.phone, set.laptop]) noDuplicates(path);
  // And nothing of the archived cycle ever comes back to main.
  const again = sentCounts(await set.cli(['sync', '--json']));
  assert.deepEqual(again, { main_phone: [0, 5], laptop: [0, 0] });
  assert.equal(userEntries(set.main), 12);
});

test('rotate: under --max-size nothing happens; --keep N keeps the newest N of their backups', async (t) => {
  const set = await nodeSet(t);
  const small = await set.cli(['rotate', '--max-size', '200MB']);
  assert.equal(small.code, 0, small.stderr);
  assert.match(small.stdout, /not rotated/);
  const backups = join(set.dir, '.resonance_backups');
  execFileSync('mkdir', ['-p', backups]);
  for (let i = 0; i < 6; i++) {
    const old = join(backups, `resonance_2025010${i}_000000_201MB.sqlite3`);
    writeFileSync(old, '');
    utimesSync(old, 1_700_000_000 + i, 1_700_000_000 + i);
  }
  const run = await set.cli(['rotate', '--force', '--keep', '5']);
  assert.equal(run.code, 0, run.stderr);
  const left = readdirSync(backups).sort();
  assert.equal(left.length, 5);
  assert.ok(!left.includes('resonance_20250100_000000_201MB.sqlite3') && !left.includes('resonance_20250101_000000_201MB.sqlite3'));
});

test('their rotation script on main: a cron run stops with one line, exit 10, and syncs nothing; adopt --continue: only new entries flow', async (t) => {
  const set = await nodeSet(t);
  theirRotation(set.main);
  write(set.main, 'main', 2);
  const stopped = await set.cli(['sync', '--quiet']);
  assert.equal(stopped.code, 10);
  assert.equal(stopped.stdout, '');
  const lines = stopped.stderr.trim().split('\n');
  assert.equal(lines.length, 1, stopped.stderr);
  assert.match(
    lines[0] ?? '',
    /was replaced by a new file .*resonance-sync adopt --continue .*resonance-sync adopt --refill .*\[DATABASE_REPLACED\]$/,
  );
  assert.equal(userEntries(set.main), 2, 'nothing was refilled');
  const doctor = await set.cli(['doctor']);
  assert.match(doctor.stdout, /FAIL\s+identity: .*was replaced/);

  const adopted = await set.cli(['adopt', '--continue']);
  assert.equal(adopted.code, 0, adopted.stderr);
  write(set.phone, 'phone', 3);
  const sent = sentCounts(await set.cli(['sync', '--json']));
  // Pulls: only the phone's 3 new entries; pushes: the new file's 2 rotation notes + 2 entries (+ the 3 to the laptop).
  assert.deepEqual(sent, { main_phone: [3, 4], laptop: [0, 7] });
  assert.equal(userEntries(set.main), 5, 'the archived cycle was not sent back');
  for (const path of [set.main, set.phone, set.laptop]) noDuplicates(path);
  assert.deepEqual(sentCounts(await set.cli(['sync', '--json'])), { main_phone: [0, 0], laptop: [0, 0] });
});

test('a phone wiped by accident and re-created from the schema file: adopt --refill recovers everything exactly', async (t) => {
  const set = await nodeSet(t);
  // The wipe: the file and its folder's state gone; the agents re-create it from the same schema.
  rmSync(set.main);
  execFileSync('sqlite3', [set.main], { input: readSchema() });
  const stopped = await set.cli(['sync', '--quiet']);
  assert.equal(stopped.code, 10, stopped.stderr);
  const adopted = await set.cli(['adopt', '--refill']);
  assert.equal(adopted.code, 0, adopted.stderr);
  const run = await set.cli(['sync', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(userEntries(set.main), 126, 'every entry of the lost file came back from the peers');
  noDuplicates(set.main);
});

test('on_replaced = "continue": an unattended run adopts and says so; "refill" refills', async (t) => {
  const cont = await nodeSet(t, 'continue');
  theirRotation(cont.main);
  const run = await cont.cli(['sync']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /on_replaced = "continue"/);
  assert.equal(userEntries(cont.main), 0);
  const refill = await nodeSet(t, 'refill');
  theirRotation(refill.main);
  const again = await refill.cli(['sync', '--quiet']);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(userEntries(refill.main), 126);
  noDuplicates(refill.main);
});

test('their rotation script on the phone (a peer): stopped by default; adopt main_phone --continue sends it only new entries', async (t) => {
  const set = await nodeSet(t);
  theirRotation(set.phone);
  const stopped = await set.cli(['sync', '--quiet']);
  assert.equal(stopped.code, 10);
  assert.match(stopped.stderr, /main_phone's database .* was replaced by a new file .*adopt main_phone --continue .*\[DATABASE_REPLACED\]/);
  assert.equal(userEntries(set.phone), 0, 'the phone was not refilled');
  const adopted = await set.cli(['adopt', 'main_phone', '--continue']);
  assert.equal(adopted.code, 0, adopted.stderr);
  write(set.main, 'main', 2);
  const sent = sentCounts(await set.cli(['sync', '--json']));
  // main_phone: pull the phone's 2 rotation notes; push main's 2 new. laptop: pull 0; push 2 + 2.
  assert.deepEqual(sent, { main_phone: [2, 2], laptop: [0, 4] });
  assert.equal(userEntries(set.phone), 2);
  noDuplicates(set.phone);
});

test('their rotation script on the phone, then adopt main_phone --refill: the phone gets the whole cycle back exactly once', async (t) => {
  const set = await nodeSet(t);
  theirRotation(set.phone);
  assert.equal((await set.cli(['adopt', 'main_phone', '--refill'])).code, 0);
  const run = await set.cli(['sync', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(userEntries(set.phone), 126);
  noDuplicates(set.phone);
});

test('rsync/cp of the phone file over main: sync and doctor name the copier, what was lost, and the way back', async (t) => {
  const set = await nodeSet(t);
  write(set.main, 'main', 5);
  assert.equal((await set.cli(['sync', '--quiet'])).code, 0); // the peers hold main's feed through its last rowid
  write(set.main, 'main', 1); // never synced: lost with the overwrite
  copyFileSync(set.phone, set.main); // what `rsync -avz phone:… main` does every 5 minutes
  const stopped = await set.cli(['sync', '--quiet']);
  assert.equal(stopped.code, 10);
  assert.match(
    stopped.stderr,
    /overwritten by a copy of main_phone's database — a file copier such as rsync, adb pull or cp is running; stop it\. .*main_phone through \d+.*adopt --refill.*\[DATABASE_OVERWRITTEN\]/,
  );
  assert.doesNotMatch(stopped.stderr, /NODE_ID_CONFLICT|new identity/);
  const doctor = await set.cli(['doctor']);
  assert.notEqual(doctor.code, 0);
  assert.match(doctor.stdout, /FAIL\s+identity: .*overwritten by a copy of main_phone's database/);
  assert.equal((await set.cli(['adopt', '--continue'])).code, 2, 'a copy cannot continue as main');
  const adopted = await set.cli(['adopt', '--refill']);
  assert.equal(adopted.code, 0, adopted.stderr);
  assert.match(adopted.stdout, /moved the copy .* aside/);
  const run = await set.cli(['sync', '--quiet']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(userEntries(set.main), 126 + 5, 'everything the peers hold came back; only the never-synced entry is lost');
  noDuplicates(set.main);
});

/** Their agents' way of writing: connect, insert, commit, close, every note (Python's sqlite3, timeout 10 s). */
const PYTHON_AGENT = `
import json, sqlite3, sys, time
db, count = sys.argv[1], int(sys.argv[2])
committed, failed = [], []
for i in range(count):
    try:
        conn = sqlite3.connect(db, timeout=10)
        conn.execute("INSERT INTO resonance_notes (timestamp, content, context, source) VALUES (datetime('now'), ?, 'agent', 'py')", ("agent %d" % i,))
        conn.commit()
        conn.close()
        committed.append("agent %d" % i)
    except sqlite3.Error as error:
        failed.append(str(error))
    time.sleep(0.003)
print(json.dumps({"committed": committed, "failed": failed}))
`;

for (const journal of ['wal', 'delete']) {
  test(`rotate while agents write (${journal} journal): every committed note is in the archive or the new file, once; a connection opened before writes into the new cycle`, async (t) => {
    const set = await nodeSet(t);
    withDb(set.main, (db) => db.exec(`PRAGMA journal_mode = ${journal}`));
    const stale = await import('../../src/store/sqlite/open-database.js').then(({ openDatabase }) => openDatabase(set.main));
    t.after(() => stale.close());
    const { spawn } = await import('node:child_process');
    const agent = spawn('python3', ['-c', PYTHON_AGENT, set.main, '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    agent.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    agent.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const done = new Promise<number | null>((resolve) => agent.on('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rotated = await set.cli(['rotate', '--force']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.equal(await done, 0, err);
    const report = JSON.parse(out) as { committed: string[]; failed: string[] };
    // Swapped in place in both journal modes (the same file): no connection is ever refused.
    assert.deepEqual(report.failed, []);
    const backup = join(set.dir, '.resonance_backups', readdirSync(join(set.dir, '.resonance_backups'))[0] ?? '');
    const agentNotes = (path: string) =>
      withDb(path, (db) =>
        db
          .prepare(`SELECT content FROM resonance_notes WHERE context = 'agent'`)
          .all()
          .map((r) => String(r.content)),
      );
    const all = [...agentNotes(backup), ...agentNotes(set.main)].sort();
    assert.deepEqual(all, [...report.committed].sort(), 'every committed note is kept once, in the archive or the new file');
    assert.ok(agentNotes(set.main).length > 0, 'the agent went on writing into the new file');
    // Opened before the rotation, it sees the new cycle and its note lands there, once (the old code
    // renamed a new file over the path: SQLite refused this write, or in WAL mode it went to a deleted file).
    stale.prepare(`INSERT INTO resonance_notes (timestamp, content, context, source) VALUES ('x', 'kept?', 'stale', 's')`).run();
    const staleNotes = (path: string) =>
      withDb(path, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'stale'`).get()?.n));
    assert.equal(staleNotes(set.main), 1);
    assert.equal(staleNotes(backup), 0);
    withDb(set.main, (db) => {
      assert.equal(db.prepare('PRAGMA integrity_check').get()?.integrity_check, 'ok', 'the database swapped in place is sound');
      assert.equal(String(db.prepare('PRAGMA journal_mode').get()?.journal_mode), journal, 'the journal mode is kept');
      assert.equal(
        db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name = 'resonance_sync_rotated_cycle'`).get()?.n,
        0,
        'the archived cycle is gone from the file',
      );
    });
    noDuplicates(set.main);
    assert.equal((await set.cli(['doctor'])).stdout.match(/FAIL/g), null);
  });
}
