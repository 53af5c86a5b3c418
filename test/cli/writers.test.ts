/**
 * The users' own writers, as they write (test/support/writers.ts: the sqlite3 CLI with no busy
 * timeout and with `.timeout 5000`, Python's sqlite3 with its default 5 s and with 10 s), run as real
 * processes while `sync` and `init` write the database in its default rollback journal. Every lost
 * write is reported. Writers with a busy timeout lose none and wait less than the bound of
 * test/cli/concurrency.test.ts; a writer with none loses some whenever it meets any lock, ours or
 * another agent's, and is only reported (the README tells such writers what to do).
 *
 * To hold `rotate` to the same bound: run it inside withWriters like `init` below, e.g.
 * `withWriters(dir, db, ALL, () => runCli(['rotate', …]))`, and call expectNoneLost on the result.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../support/cli.js';
import { createNotesDb, createNotesDbWith, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { expectNoneLost, WAITING_WRITERS, withWriters, type WriterKind } from '../support/writers.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const ALL: readonly WriterKind[] = ['sqlite3-cli', ...WAITING_WRITERS];

/** Notes of `bytes` bytes each, with distinct timestamps (so dedupe is cheap and the lock is the only thing measured). */
function bulkyNotes(who: string, count: number, bytes: number) {
  const start = Date.UTC(2025, 0, 1);
  return Array.from({ length: count }, (_, i) => ({
    timestamp: new Date(start + i * 1000).toISOString().replace('T', ' ').slice(0, 19),
    content: `${who} ${i} ${'x'.repeat(bytes)}`,
    context: who,
    source: 'agent',
  }));
}

test('writers keep writing while a local sync receives 20,000 entries: none with a busy timeout loses a write', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  insertNotes(main, bulkyNotes('main', 2_000, 200));
  const phone = createNotesDb(dir, 'phone');
  insertNotes(phone, bulkyNotes('phone', 20_000, 200));
  const config = join(dir, 'c.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main', '--config', config])).code, 0);
  assert.equal((await runCli(['peer', 'add', 'phone', phone, '--config', config])).code, 0);
  const { result: sync, writers } = await withWriters(dir, main, ALL, () => runCli(['sync', 'phone', '--pull-only', '--config', config]));
  assert.equal(sync.code, 0, sync.stderr);
  expectNoneLost(t, writers);
  assert.equal(
    withDb(main, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'phone'`).get()?.n)),
    20_000,
  );
});

test('a database too large to index within the bound: sync refuses and says how; init then holds the lock briefly', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  // Just over SYNC_INDEX_BUILD_LIMIT_BYTES; large contents also make a whole-table duplicate count
  // (a sort of every note, as init did in its write transaction) take seconds.
  insertNotes(main, bulkyNotes('main', 45_000, 3_000));
  insertNotes(main, bulkyNotes('main', 5, 3_000)); // five duplicates, counted and kept
  const config = join(dir, 'c.toml');
  writeFileSync(config, ['[node]', 'name = "main"', `db = ${JSON.stringify(main)}`, ''].join('\n'));
  const peer = createNotesDb(dir, 'peer');

  const refused = await runCli(['sync', peer, '--config', config]);
  assert.equal(refused.code, 4, refused.stderr);
  const fix =
    /build it once at a quiet moment: resonance-sync init --db '([^']+)' --build-index \(this node's database\), or sqlite3 '[^']+' "([^"]+)"/.exec(
      refused.stderr,
    );
  assert.ok(fix, refused.stderr);
  assert.match(refused.stderr, /\[DB_NOT_INITIALIZED\]/);
  assert.equal(
    withDb(main, (db) => db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE 'resonance_sync%'`).get()?.n),
    0,
  );

  assert.match(fix[2] as string, /^CREATE INDEX IF NOT EXISTS resonance_sync_timestamp_idx ON resonance_notes\(timestamp\)$/);

  // init keeps the same bound: it refuses too, says the same, and writes nothing.
  const init = () => runCli(['init', '--db', main, '--node', 'main', '--config', config]);
  const refusedInit = await init();
  assert.equal(refusedInit.code, 4, refusedInit.stderr);
  assert.match(
    refusedInit.stderr,
    /neither sync nor init does unless told; build it once at a quiet moment: resonance-sync init --db '[^']+' --build-index/,
  );
  assert.equal(
    withDb(main, (db) => db.prepare(`SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE 'resonance_sync%'`).get()?.n),
    0,
  );

  // The user builds the index as told (one time, at a quiet moment); then init and sync keep agents waiting briefly.
  const built = await runCli(['init', '--db', main, '--node', 'main', '--config', config, '--build-index']);
  assert.equal(built.code, 0, built.stderr);
  assert.match(built.stdout, /created index resonance_sync_timestamp_idx/);
  const first = await withWriters(dir, main, ALL, init);
  assert.equal(first.result.code, 0, first.result.stderr);
  assert.match(first.result.stdout, /already prepared; nothing changed/);
  assert.match(first.result.stdout, /5 duplicate entries in 5 groups were already here/);
  expectNoneLost(t, first.writers);
});

test("their schema's own idx_timestamp serves dedupe: a database past the index-build limit syncs at once, and init builds nothing", async (t) => {
  const dir = tempDir(t);
  // Made as their rotation script makes it (init_resonance.sql: idx_source, idx_timestamp), then grown past the limit.
  const main = createNotesDbWith(dir, 'main', readFileSync(join(FIXTURES, 'init_resonance.sql'), 'utf8'));
  insertNotes(main, bulkyNotes('main', 45_000, 3_000));
  const config = join(dir, 'c.toml');
  writeFileSync(config, ['[node]', 'name = "main"', `db = ${JSON.stringify(main)}`, ''].join('\n'));
  const peer = createNotesDb(dir, 'peer');
  insertNotes(peer, bulkyNotes('peer', 100, 100));

  const { result: sync, writers } = await withWriters(dir, main, ALL, () => runCli(['sync', peer, '--config', config]), {
    source: 'agent',
  });
  assert.equal(sync.code, 0, sync.stderr);
  expectNoneLost(t, writers);
  const indexes = () =>
    withDb(main, (db) =>
      db
        .prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
        .all()
        .map((row) => String(row.name)),
    );
  assert.deepEqual(indexes(), ['idx_source', 'idx_timestamp'], 'no second index on the timestamp');
  const init = await runCli(['init', '--db', main, '--node', 'main', '--config', config]);
  assert.equal(init.code, 0, init.stderr);
  assert.doesNotMatch(init.stdout, /created index/);
  assert.deepEqual(indexes(), ['idx_source', 'idx_timestamp']);
  const doctor = await runCli(['doctor', '--config', config]);
  assert.match(doctor.stdout, /dedupe.*timestamp-index \(index idx_timestamp\)/);
});

/**
 * A database of `notes` notes of about 1.3 KB (rollback journal unless `journal` says wal), built at once in sqlite3: 300k notes
 * make about 400 MB, which `VACUUM INTO` (one read of the whole file) took 2.5 s and more to archive
 * here, keeping every writer's commit waiting past the bound.
 */
function largeRollbackDb(dir: string, notes: number, journal: 'delete' | 'wal' = 'delete'): string {
  const path = createNotesDb(dir, 'large');
  execFileSync('sqlite3', [path], {
    input: `PRAGMA journal_mode = ${journal};
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${notes})
      INSERT INTO resonance_notes (timestamp, content, context, source)
        SELECT datetime(1700000000 + i, 'unixepoch'), 'note ' || i || ' ' || hex(randomblob(500)), 'bulk', 'agent' FROM n;`,
  });
  return path;
}

const LARGE_NOTES = 300_000;

for (const journal of ['delete', 'wal'] as const) {
  test(`writers keep writing while rotate archives a 400 MB database (${journal} journal): none with a busy timeout loses a note`, async (t) => {
    const dir = tempDir(t);
    const main = largeRollbackDb(dir, LARGE_NOTES, journal);
    const backups = join(dir, '.resonance_backups');
    const { result, writers } = await withWriters(dir, main, ALL, () => runCli(['rotate', '--force', '--db', main]), {
      // Their agents connect for each note, so some open the file in the instant of the swap (a rename there had one refused).
      connectEachNote: true,
      alsoStoredIn: () => readdirSync(backups).map((name) => join(backups, name)),
    });
    assert.equal(result.code, 0, result.stderr);
    expectNoneLost(t, writers);
    const [archive] = readdirSync(backups);
    assert.ok(archive);
    const bulk = (path: string) =>
      withDb(path, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'bulk'`).get()?.n));
    assert.equal(bulk(join(backups, archive)), LARGE_NOTES, 'the archive holds every note up to its cut-off');
    assert.equal(
      execFileSync('sqlite3', [join(backups, archive), 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim(),
      'ok',
      'the archive is a sound database',
    );
    assert.equal(bulk(main), 0);
    const bytes = withDb(main, (db) =>
      Number(db.prepare('SELECT page_count * page_size AS b FROM pragma_page_count, pragma_page_size').get()?.b),
    );
    assert.ok(
      bytes < 20 * 1024 * 1024,
      `the archived cycle's ${journal === 'wal' ? 'pages were given back (VACUUM)' : 'bytes were cut off'}: ${bytes} bytes left`,
    );
  });
}

test('writers keep writing while verify digests an 80 MB rollback-journal database: none with a busy timeout loses a note', async (t) => {
  const dir = tempDir(t);
  // Hashing every note in one statement held its read lock for seconds at this size already.
  const main = largeRollbackDb(dir, 60_000);
  const config = join(dir, 'c.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main', '--config', config])).code, 0);
  const peer = createNotesDb(dir, 'peer');
  insertNotes(peer, bulkyNotes('peer', 10, 10));
  assert.equal((await runCli(['init', '--db', peer, '--node', 'phone', '--config', join(dir, 'phone.toml')])).code, 0);
  assert.equal((await runCli(['peer', 'add', 'phone', peer, '--config', config])).code, 0);
  const { result, writers } = await withWriters(dir, main, ALL, () => runCli(['verify', 'phone', '--json', '--config', config]));
  assert.ok(result.stdout.length > 0, result.stderr);
  expectNoneLost(t, writers);
});
