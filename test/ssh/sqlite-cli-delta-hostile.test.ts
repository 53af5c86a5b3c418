/**
 * A hostile remote sqlite3 (or a delta file tampered with on the way) against the agentless
 * transport: through a real sshd, a wrapper around the remote sqlite3 rewrites every feed download
 * before it is sent back, with rows a column short or long, more rows than asked, a forged cursor, a
 * 1 MiB origin, rowids or origins of the wrong type, or a window that never moves. Each ends the sync
 * with PROTOCOL_ERROR (exit 7), keeps nothing of the download, leaves what the receiver held
 * untouched, and reads no row into memory before the file's shape and size are checked. Plus the
 * checks of a delta file on its own, without ssh.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { isSyncError, SyncError } from '../../src/core/errors.js';
import { EVERYTHING } from '../../src/core/route.js';
import { syncReplicas } from '../../src/sync/engine.js';
import { Download, MAX_ENTRY_BYTES } from '../../src/transport/sqlite-cli/delta-file.js';
import { DEFAULT_DOWNLOAD_LIMITS, type DownloadLimits } from '../../src/transport/sqlite-cli/remote-state.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes, openReplica, withDb } from '../support/notes-db.js';
import type { SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { TEST_SQLITE3, connect, sqliteUrl, sshdFor, writeExecutable } from './sqlite-cli-support.js';

const sqlite3 = TEST_SQLITE3 ?? 'sqlite3';

/** A remote sqlite3 that runs `tamper` on each feed download (dl.sqlite3) just before it is sent. */
function tamperingSqlite3(dir: string, tamper: string): string {
  const sql = join(dir, 'tamper.sql');
  writeFileSync(sql, tamper);
  // The session's reply helper `r` sits in the current directory when sqlite3 starts: prepend the tampering to it.
  return writeExecutable(
    join(dir, 'hostile-sqlite3'),
    [
      `if [ "$1" = "--version" ]; then exec ${sqlite3} "$@"; fi`,
      `if [ -f r ]; then { printf '%s\\n' '[ "$2" = dl.sqlite3 ] && ${sqlite3} "$2" < ${sql}'; cat r; } > r.new && mv r.new r; fi`,
      `exec ${sqlite3} "$@"`,
    ].join('\n'),
  );
}

interface Setup {
  server: SshServer;
  dir: string;
  local: string;
  peer: string;
  before: ReturnType<typeof allRows>;
}

async function setup(t: TestContext, notes = 40): Promise<Setup | undefined> {
  const server = await sshdFor(t);
  if (!server) return undefined;
  const dir = tempDir(t);
  const local = createNotesDb(dir, 'main');
  const peer = createNotesDb(dir, 'phone');
  insertNotes(local, [{ timestamp: '2025-11-29 10:00:00', content: 'main before', context: 'c', source: 'm' }]);
  insertNotes(
    peer,
    Array.from({ length: notes }, (_, i) => ({
      timestamp: `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`,
      content: `phone ${i}`,
      context: 'c',
      source: i % 2 ? 's' : null,
    })),
  );
  openReplica(local, 'main').close();
  return { server, dir, local, peer, before: allRows(local) };
}

async function pull(s: Setup, tamper: string, download: Partial<DownloadLimits> = {}): Promise<SyncError | undefined> {
  const remote = await connect(s.server, s.peer, { sqlite3Command: tamperingSqlite3(s.dir, tamper), download });
  const local = openReplica(s.local, 'main');
  try {
    await syncReplicas(local, remote, { peerName: 'phone', pull: EVERYTHING, push: undefined, dryRun: false, writeSyncNote: false });
    return undefined;
  } catch (error) {
    if (error instanceof SyncError) return error;
    throw error;
  } finally {
    await remote.close();
    await local.close();
  }
}

function refusedIntact(s: Setup, error: SyncError | undefined, pattern: RegExp): void {
  assert.ok(error, 'the sync was refused');
  assert.equal(error.code, 'PROTOCOL_ERROR', error.message);
  assert.equal(error.exitCode, 7);
  assert.match(error.message, pattern);
  assert.deepEqual(allRows(s.local), s.before, 'nothing kept, nothing changed');
  assert.equal(
    withDb(s.local, (db) => db.prepare(`SELECT count(*) AS n FROM resonance_sync_cursors`).get()?.n),
    0,
    'no cursor',
  );
}

test('rows a column short: exit 7 from the CLI, nothing stored', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const hostile = tamperingSqlite3(
    s.dir,
    'CREATE TABLE r2 AS SELECT __rowid, __origin, c0, c1, c2 FROM rows; DROP TABLE rows; ALTER TABLE r2 RENAME TO rows;',
  );
  const config = join(s.dir, 'config.toml');
  writeFileSync(
    config,
    `[node]\nname = "main"\ndb = ${JSON.stringify(s.local)}\nsync_note = false\n\n[peers.phone]\nurl = ${JSON.stringify(sqliteUrl(s.server, s.peer))}\nmode = "sqlite3"\nsqlite3_command = ${JSON.stringify(hostile)}\n`,
  );
  const result = await runCli(['sync', 'phone', '--pull-only', '--config', config], { env: s.server.env });
  assert.equal(result.code, 7, result.stderr);
  assert.match(
    result.stderr,
    /sent a delta file .* with rows\("__rowid", "__origin", "c0", "c1", "c2"\) where rows\(__rowid, __origin, c0, c1, c2, c3\) was asked.*\[PROTOCOL_ERROR\]/,
  );
  assert.deepEqual(allRows(s.local), s.before);
});

test('rows a column long: refused, nothing stored', async (t) => {
  const s = await setup(t);
  if (!s) return;
  refusedIntact(
    s,
    await pull(s, "ALTER TABLE rows ADD COLUMN c4; UPDATE rows SET c4 = 'extra';"),
    /with rows\(.*"c4"\) where rows\(__rowid, __origin, c0, c1, c2, c3\) was asked/,
  );
});

test('more rows than the download asked for (a million of them) are refused before any is read: memory stays flat', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const flood =
    'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) INSERT INTO rows SELECT 1000 + i, NULL, NULL, NULL, NULL, NULL FROM n;';
  const rss = process.memoryUsage().rss;
  refusedIntact(s, await pull(s, flood), new RegExp(`1000040 rows where at most ${DEFAULT_DOWNLOAD_LIMITS.maxRows} were asked`));
  const grown = process.memoryUsage().rss - rss;
  assert.ok(grown < 100 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MB`);
});

test('a forged cursor (a scan window past the end of the feed) is refused against the remote feed read again', async (t) => {
  const s = await setup(t);
  if (!s) return;
  refusedIntact(
    s,
    await pull(s, 'UPDATE meta SET high = 1000000000000, window_end = 1000000000000, cut = 0;'),
    /cursor 1000000000000 is beyond the end of its own feed \(40\)/,
  );
});

test('a 1 MiB origin, an INTEGER origin and TEXT rowids are refused', async (t) => {
  const s = await setup(t);
  if (!s) return;
  refusedIntact(
    s,
    await pull(s, "UPDATE rows SET __origin = printf('%.*c', 1048576, 'x') WHERE __rowid = 7;"),
    /origin "x{40}"… \(1048576 characters\) is not a node id/,
  );
  refusedIntact(s, await pull(s, 'UPDATE rows SET __origin = 42 WHERE __rowid = 7;'), /an origin of type bigint/);
  refusedIntact(s, await pull(s, "UPDATE rows SET __rowid = 'r' || __rowid;"), /a rowid of "r\d+"/);
});

test('a download that says there is more but never moves forward is refused (main downloaded it again for ever)', async (t) => {
  const s = await setup(t);
  if (!s) return;
  refusedIntact(s, await pull(s, 'DELETE FROM rows; UPDATE meta SET cut = 1, window_end = 0;'), /no progress past 0/);
});

test('a meta table that is not one row of integers with its window inside the snapshot is refused', async (t) => {
  const s = await setup(t);
  if (!s) return;
  refusedIntact(s, await pull(s, 'INSERT INTO meta SELECT * FROM meta;'), /a meta table of/);
  refusedIntact(s, await pull(s, 'UPDATE meta SET window_end = high + 1;'), /a meta table of/);
  refusedIntact(s, await pull(s, "UPDATE meta SET cut = 'yes';"), /a meta table of/);
});

/** A feed delta file as the remote builds it, on this machine. */
function deltaFile(dir: string, rows: string): string {
  const path = join(dir, 'feed-0.sqlite3');
  const db = openDatabase(path, { create: true });
  db.exec(
    `CREATE TABLE rows (__rowid, __origin, c0, c1); CREATE TABLE meta (high, window_end, cut); INSERT INTO meta VALUES (100, 100, 0); ${rows}`,
  );
  db.close();
  return path;
}

const shape = { kind: 'feed' as const, columns: ['__rowid', '__origin', 'c0', 'c1'], from: 'phone.sqlite3 on phone' };
const refusedWith = (pattern: RegExp) => (error: unknown) =>
  isSyncError(error) && error.code === 'PROTOCOL_ERROR' && pattern.test(error.message);

test('a delta file: an entry larger than the agent protocol carries is refused from its size in SQL, before it is read', (t) => {
  const path = deltaFile(tempDir(t), `INSERT INTO rows VALUES (1, NULL, 't', zeroblob(${MAX_ENTRY_BYTES + 1}));`);
  const download = new Download(path, shape);
  try {
    const rss = process.memoryUsage().rss;
    assert.throws(() => download.feedWindow(0, 10), refusedWith(new RegExp(`an entry of ${MAX_ENTRY_BYTES + 2} bytes`)));
    assert.ok(process.memoryUsage().rss - rss < 32 * 1024 * 1024, 'the value was never loaded');
  } finally {
    download.close();
  }
});

test('a delta file: rows outside the scanned window, and a window before its start, are refused', (t) => {
  const dir = tempDir(t);
  const outside = new Download(deltaFile(dir, 'INSERT INTO rows VALUES (150, NULL, 1, 2);'), shape);
  try {
    assert.throws(() => outside.feedWindow(0, 10), refusedWith(/a row 150 outside its window \(0, 100\]/));
  } finally {
    outside.close();
  }
  const behind = new Download(deltaFile(dir, 'UPDATE meta SET high = 200, window_end = 40;'), shape);
  try {
    assert.throws(() => behind.feedWindow(50, 10), refusedWith(/a scan window ending at 40, before its start 50/));
  } finally {
    behind.close();
  }
  const honest = new Download(deltaFile(dir, 'INSERT INTO rows VALUES (60, NULL, 1, 2), (70, NULL, 3, 4);'), shape);
  try {
    assert.deepEqual(honest.feedWindow(50, 10), { through: 100, more: false });
  } finally {
    honest.close();
  }
});
