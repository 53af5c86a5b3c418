/**
 * A hostile remote sqlite3 (or a delta file tampered with on the way) against the agentless
 * transport: through a real sshd, a wrapper around the remote sqlite3 rewrites every feed download
 * before it is sent back, with rows a column short or long, more rows than asked, a forged cursor, a
 * 1 MiB origin, origins of the wrong type, a view or an index in the file, a damaged file, or a
 * window that never moves. Each ends the sync with PROTOCOL_ERROR (exit 7), keeps nothing of the
 * download, leaves what the receiver held untouched, and reads no row into memory before the file's
 * shape and size are checked. A receiver here ATTACHes each download and moves its rows in SQL
 * (the checks run in SQL first); the cases are also run through the general path (readFeed + apply,
 * the sender wrapped so that it offers no attachable feed), which checks each row as it is read.
 * Plus the checks of a delta file on its own, without ssh.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { isSyncError, SyncError } from '../../src/core/errors.js';
import { EVERYTHING } from '../../src/core/route.js';
import { syncReplicas } from '../../src/sync/engine.js';
import { Download, MAX_ENTRY_BYTES, META_COLUMNS, downloadTableDefinition } from '../../src/transport/sqlite-cli/delta-file.js';
import { DEFAULT_DOWNLOAD_LIMITS, type DownloadLimits } from '../../src/transport/sqlite-cli/remote-state.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes, openReplica, withDb } from '../support/notes-db.js';
import type { SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { UnattachableReplica } from '../support/unattachable-replica.js';
import { TEST_SQLITE3, connect, sqliteUrl, sshdFor, writeExecutable } from './sqlite-cli-support.js';

const sqlite3 = TEST_SQLITE3 ?? 'sqlite3';

/**
 * A remote sqlite3 that runs `tamper` on each feed download (…/dl.sqlite3) just before it is sent: SQL,
 * or a shell command given the file as "$2". Its input passes a filter that puts the tampering right
 * before the line that announces a download's size (session.ts), so the file sent is the tampered one.
 */
function tamperingSqlite3(dir: string, tamper: string | { shell: string }): string {
  const sql = join(dir, 'tamper.sql');
  writeFileSync(sql, typeof tamper === 'string' ? tamper : '');
  const command = typeof tamper === 'string' ? `${sqlite3} "$2" < ${sql}` : tamper.shell;
  const script = join(dir, 'tamper.sh');
  writeFileSync(script, `case "$2" in */dl.sqlite3) ${command};; esac\nexit 0\n`);
  const filter = join(dir, 'tamper-filter.mjs');
  writeFileSync(
    filter,
    [
      "import { createInterface } from 'node:readline';",
      'const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });',
      'for await (const line of lines) {',
      `  const file = /^SELECT '@RS \\d+ file ' \\|\\| length\\(readfile\\('([^']*\\/dl\\.sqlite3)'\\)\\);$/.exec(line)?.[1];`,
      `  if (file) process.stdout.write('.system sh ${script} x ' + file + '\\n');`,
      "  process.stdout.write(line + '\\n');",
      '}',
    ].join('\n'),
  );
  return writeExecutable(join(dir, 'hostile-sqlite3'), `${process.execPath} ${filter} | ${sqlite3} "$@"`);
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

/** How the receiver takes the feed: ATTACHing each download (what a sync does), or row by row through the engine. */
type ReceivePath = 'attached' | 'rows';
const PATHS: readonly ReceivePath[] = ['attached', 'rows'];

async function pull(
  s: Setup,
  tamper: string | { shell: string },
  path: ReceivePath = 'attached',
  download: Partial<DownloadLimits> = {},
): Promise<SyncError | undefined> {
  const remote = await connect(s.server, s.peer, { sqlite3Command: tamperingSqlite3(s.dir, tamper), download });
  const local = openReplica(s.local, 'main');
  try {
    await syncReplicas(local, path === 'attached' ? remote : new UnattachableReplica(remote), {
      peerName: 'phone',
      pull: EVERYTHING,
      push: undefined,
      dryRun: false,
      writeSyncNote: false,
    });
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
    'CREATE TABLE r2 (sync_origin, timestamp, content, context); INSERT INTO r2 (rowid, sync_origin, timestamp, content, context) ' +
      'SELECT rowid, sync_origin, timestamp, content, context FROM resonance_notes; DROP TABLE resonance_notes; ALTER TABLE r2 RENAME TO resonance_notes;',
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
    /sent a delta file .* with resonance_notes declared as "CREATE TABLE \\"resonance_notes\\" \(sync_origin, timestamp, content, context\)" where CREATE TABLE resonance_notes \("sync_origin", "timestamp", "content", "context", "source"\) was asked.*\[PROTOCOL_ERROR\]/,
  );
  assert.deepEqual(allRows(s.local), s.before);
});

test('rows a column long: refused, nothing stored', async (t) => {
  const s = await setup(t);
  if (!s) return;
  for (const path of PATHS) {
    refusedIntact(
      s,
      await pull(s, "ALTER TABLE resonance_notes ADD COLUMN c4; UPDATE resonance_notes SET c4 = 'extra';", path),
      /with resonance_notes declared as "CREATE TABLE resonance_notes \(.*\\"source\\", c4\)" where CREATE TABLE resonance_notes \("sync_origin", "timestamp", "content", "context", "source"\) was asked/,
    );
  }
});

test('more rows than the download asked for (a million of them) are refused before any is read: memory stays flat', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const flood =
    'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) ' +
    'INSERT INTO resonance_notes (rowid, sync_origin, timestamp, content, context, source) SELECT 1000 + i, NULL, NULL, NULL, NULL, NULL FROM n;';
  for (const path of PATHS) {
    const rss = process.memoryUsage().rss;
    refusedIntact(s, await pull(s, flood, path), new RegExp(`1000040 rows where at most ${DEFAULT_DOWNLOAD_LIMITS.maxRows} were asked`));
    const grown = process.memoryUsage().rss - rss;
    assert.ok(grown < 100 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MB`);
  }
});

test('a forged cursor (a scan window past the end of the feed) is refused against the remote feed read again', async (t) => {
  const s = await setup(t);
  if (!s) return;
  for (const path of PATHS) {
    refusedIntact(
      s,
      await pull(s, 'UPDATE meta SET high = 1000000000000, window_end = 1000000000000, cut = 0;', path),
      /cursor 1000000000000 is beyond the end of its own feed \(40\)/,
    );
  }
});

test('a 1 MiB origin, an INTEGER origin, a BLOB origin and an entry of the receiver’s own are refused', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const mainId = withDb(s.local, (db) => String(db.prepare(`SELECT value FROM resonance_sync_meta WHERE key = 'node_id'`).get()?.value));
  for (const path of PATHS) {
    refusedIntact(
      s,
      await pull(s, "UPDATE resonance_notes SET sync_origin = printf('%.*c', 1048576, 'x') WHERE rowid = 7;", path),
      /origin "x{40}"… \(1048576 characters\) is not a node id/,
    );
    refusedIntact(s, await pull(s, 'UPDATE resonance_notes SET sync_origin = 42 WHERE rowid = 7;', path), /an origin of type bigint/);
    refusedIntact(s, await pull(s, "UPDATE resonance_notes SET sync_origin = x'00' WHERE rowid = 7;", path), /an origin of type BLOB/);
    // A node id with a NUL and more after it: GLOB alone would stop at the NUL.
    refusedIntact(
      s,
      await pull(s, `UPDATE resonance_notes SET sync_origin = '${mainId.replace(/.$/, '')}' || char(0) || 'x' WHERE rowid = 7;`, path),
      /is not a node id/,
    );
    refusedIntact(
      s,
      await pull(s, `UPDATE resonance_notes SET sync_origin = '${mainId}' WHERE rowid = 7;`, path),
      /an entry of this node's own, which it asked not to get back/,
    );
  }
});

test('a view, an index or a view in place of the table in a download is refused before anything in it runs', async (t) => {
  const s = await setup(t);
  if (!s) return;
  refusedIntact(s, await pull(s, 'CREATE VIEW v AS SELECT 1 AS x;'), /the objects "table meta", "table resonance_notes", "view v"/);
  refusedIntact(
    s,
    await pull(s, 'CREATE INDEX i ON resonance_notes (content);'),
    /the objects "index i", "table meta", "table resonance_notes"/,
  );
  refusedIntact(
    s,
    await pull(s, 'ALTER TABLE resonance_notes RENAME TO t; CREATE VIEW resonance_notes AS SELECT * FROM t;', 'rows'),
    /the objects "table meta", "view resonance_notes", "table t"/,
  );
});

test('a download whose table declares more than its columns (a type, a collation, a constraint, a generated column) is refused: a receiver ATTACHing it would compare by them', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const columns = ['"sync_origin"', '"timestamp"', '"content"', '"context"', '"source"'];
  const redeclared = (declarations: string[]) =>
    `ALTER TABLE resonance_notes RENAME TO t; CREATE TABLE resonance_notes (${declarations.join(', ')});
     INSERT INTO resonance_notes (rowid, sync_origin, timestamp, content, context, source)
       SELECT rowid, sync_origin, timestamp, content, context, source FROM t; DROP TABLE t;`;
  const cases: Array<[string, string[]]> = [
    ['a collation', columns.map((column) => (column === '"content"' ? `${column} COLLATE NOCASE` : column))],
    ['a type (NUMERIC affinity)', columns.map((column) => (column === '"timestamp"' ? `${column} NUMERIC` : column))],
    ['a constraint', columns.map((column) => (column === '"source"' ? `${column} CHECK (1)` : column))],
    ['a generated column beside them', [...columns, '"x" AS (upper(content))']],
  ];
  for (const [what, declarations] of cases) {
    for (const path of PATHS) {
      const error = await pull(s, redeclared(declarations), path);
      refusedIntact(
        s,
        error,
        /with resonance_notes declared as "CREATE TABLE resonance_notes \(.*\)" where CREATE TABLE resonance_notes \("sync_origin", "timestamp", "content", "context", "source"\) was asked/,
      );
      assert.ok(
        error?.message.includes(declarations.find((d) => !columns.includes(d))?.replaceAll('"', '\\"') ?? '?'),
        `${what}: ${error?.message}`,
      );
    }
  }
});

test('a damaged download (an overflow page pointing nowhere) is refused with a typed error, nothing kept', async (t) => {
  const s = await setup(t);
  if (!s) return;
  // One note of 200 kB: its value runs through overflow pages, the last ones of the file. The one
  // before the last gets a next-page pointer far past the end: only reading the value finds it.
  insertNotes(s.peer, [{ timestamp: '2025-11-30 23:00:00', content: 'y'.repeat(200_000), context: 'c', source: 's' }]);
  const damage = {
    shell: `s=$(wc -c < "$2"); printf '\\377\\377\\377\\360' | dd of="$2" bs=1 seek=$((s - 8192)) conv=notrunc 2>/dev/null`,
  };
  for (const path of PATHS) refusedIntact(s, await pull(s, damage, path), /sent a damaged delta file \(.*feed-0\.sqlite3: /);
});

test('a download that says there is more but never moves forward is refused (main downloaded it again for ever)', async (t) => {
  const s = await setup(t);
  if (!s) return;
  for (const path of PATHS) {
    refusedIntact(s, await pull(s, 'DELETE FROM resonance_notes; UPDATE meta SET cut = 1, window_end = 0;', path), /no progress past 0/);
  }
});

/** A feed delta file as the remote builds it, on this machine. */
function deltaFile(dir: string, rows: string): string {
  const path = join(dir, 'feed-0.sqlite3');
  const db = openDatabase(path, { create: true });
  db.exec(
    `CREATE TABLE ${downloadTableDefinition('resonance_notes', shape.columns)}; CREATE TABLE ${downloadTableDefinition('meta', META_COLUMNS)};
     INSERT INTO meta VALUES (100, 100, 0); ${rows}`,
  );
  db.close();
  return path;
}

const shape = { kind: 'feed' as const, columns: ['sync_origin', 'a', 'b'], from: 'phone.sqlite3 on phone' };
const refusedWith = (pattern: RegExp) => (error: unknown) =>
  isSyncError(error) && error.code === 'PROTOCOL_ERROR' && pattern.test(error.message);

test('a delta file: an entry larger than the agent protocol carries is refused from its size in SQL, before it is read', (t) => {
  const path = deltaFile(
    tempDir(t),
    `INSERT INTO resonance_notes (rowid, sync_origin, a, b) VALUES (1, NULL, 't', zeroblob(${MAX_ENTRY_BYTES + 1}));`,
  );
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
  const outside = new Download(deltaFile(dir, 'INSERT INTO resonance_notes (rowid, sync_origin, a, b) VALUES (150, NULL, 1, 2);'), shape);
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
  const early = new Download(
    deltaFile(dir, 'INSERT INTO resonance_notes (rowid, sync_origin, a, b) VALUES (40, NULL, 1, 2), (60, NULL, 3, 4);'),
    shape,
  );
  try {
    assert.throws(() => early.feedWindow(50, 10), refusedWith(/a row 40 outside its window \(50, 100\]/));
  } finally {
    early.close();
  }
  const honest = new Download(
    deltaFile(dir, 'INSERT INTO resonance_notes (rowid, sync_origin, a, b) VALUES (60, NULL, 1, 2), (70, NULL, 3, 4);'),
    shape,
  );
  try {
    assert.deepEqual(honest.feedWindow(50, 10), { through: 100, more: false });
  } finally {
    honest.close();
  }
});

test('a delta file: a column that would stand for the rowid is refused', (t) => {
  const path = join(tempDir(t), 'feed-0.sqlite3');
  const db = openDatabase(path, { create: true });
  db.exec(
    `CREATE TABLE ${downloadTableDefinition('resonance_notes', ['sync_origin', 'OID'])}; CREATE TABLE ${downloadTableDefinition('meta', META_COLUMNS)};
     INSERT INTO meta VALUES (1, 1, 0);`,
  );
  db.close();
  assert.throws(
    () => new Download(path, { ...shape, columns: ['sync_origin', 'OID'] }),
    refusedWith(/a column named "OID", which would hide its rowids/),
  );
});
