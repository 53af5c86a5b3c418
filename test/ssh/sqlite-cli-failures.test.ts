/**
 * Agentless failures through a real sshd, each one line with the right code, and nothing left
 * behind: sqlite3 missing or too old on the remote, the remote database missing or without notes,
 * locked beyond the busy timeout, another sync holding it, a shell banner on stdout (tolerated), binary
 * garbage from a shell rc file (shown escaped), a remote path that is a symlink loop, a dangling link
 * or a directory (no lock file left there), and
 * connections cut in the middle of a download and of an upload, after which the next run completes
 * with nothing lost or duplicated. The remote temp dirs are counted in a private TMPDIR each time.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { SyncError } from '../../src/core/errors.js';
import { acquireSyncLock } from '../../src/store/lock.js';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { syncReplicas } from '../../src/sync/engine.js';
import { VERSION_WORD } from '../../src/transport/sqlite-cli/remote-script.js';
import { EVERYTHING } from '../../src/core/route.js';
import { runCli, type CliResult } from '../support/cli.js';
import { allRows, createNotesDb, identityCounts, insertNotes, openReplica } from '../support/notes-db.js';
import { findExecutable, type SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { failedWith } from './fixtures.js';
import {
  TEST_SQLITE3,
  connect,
  noLeftovers,
  privateRemoteTmp,
  sqliteUrl,
  sshdFor,
  syncOnce,
  writeExecutable,
} from './sqlite-cli-support.js';

const notes = (who: string, n: number, size = 10) =>
  Array.from({ length: n }, (_, i) => ({
    timestamp: `2025-11-30 22:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
    content: `${who} ${i} ${'z'.repeat(size)}`,
    context: 'c',
    source: i % 3 ? who : null,
  }));

/** `sync` of `local` with `peer` (agentless), through the remote's `sqlite3` (default: TEST_SQLITE3, else the PATH's). */
function cliSync(
  server: SshServer,
  dir: string,
  local: string,
  peer: string,
  env: NodeJS.ProcessEnv = {},
  sqlite3 = TEST_SQLITE3,
): Promise<CliResult> {
  const config = join(dir, 'config.toml');
  const remote = sqlite3 ? `sqlite3_command = ${JSON.stringify(sqlite3)}\n` : '';
  writeFileSync(
    config,
    `[node]\nname = "main"\ndb = ${JSON.stringify(local)}\nsync_note = false\n\n[peers.phone]\nurl = ${JSON.stringify(sqliteUrl(server, peer))}\nmode = "sqlite3"\n${remote}`,
  );
  return runCli(['sync', '--config', config], { env: { ...server.env, ...env } });
}

/** Two small databases and a private remote TMPDIR; `remoteShell(dir)` is run first in every session. */
async function setup(t: TestContext, remoteShell?: (dir: string) => string) {
  const server = await sshdFor(t);
  if (!server) return undefined;
  const dir = tempDir(t);
  const local = createNotesDb(dir, 'main');
  const peer = createNotesDb(dir, 'phone');
  insertNotes(local, notes('main', 3));
  insertNotes(peer, notes('phone', 3));
  return { server, dir, local, peer, tmp: privateRemoteTmp(t, server, dir, remoteShell?.(dir)) };
}

test('sqlite3 missing on the remote: AGENT_MISSING with the install hint, no temp dir made', async (t) => {
  if (TEST_SQLITE3) return t.skip('RESONANCE_TEST_SQLITE3 names sqlite3 by path, whatever the PATH');
  // A PATH with everything the remote script needs except sqlite3.
  const s = await setup(t, (dir) => {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    for (const tool of ['sh', 'mktemp', 'rm', 'cat', 'wc', 'ln']) symlinkSync(`/bin/${tool}`, join(bin, tool));
    return `PATH='${bin}'; export PATH`;
  });
  if (!s) return;
  const result = await cliSync(s.server, s.dir, s.local, s.peer);
  failedWith(
    result,
    7,
    'AGENT_MISSING',
    /127\.0\.0\.1:\d+ has no sqlite3 for agentless sync: install it there \(Termux: pkg install sqlite/,
  );
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

test('the remote needs only sh and sqlite3 for a sync that downloads nothing; a download gets a private directory, removed after', async (t) => {
  const sqlite3 = TEST_SQLITE3 ?? findExecutable('sqlite3');
  assert.ok(sqlite3, 'sqlite3 is installed');
  // A PATH of sh and sqlite3, plus, for the first two syncs, rm and a cat that notes the mode of the
  // directory of the download it sends.
  const bin = (dir: string) => join(dir, 'bin');
  const s = await setup(t, (dir) => {
    mkdirSync(bin(dir));
    symlinkSync('/bin/sh', join(bin(dir), 'sh'));
    symlinkSync(sqlite3, join(bin(dir), 'sqlite3'));
    symlinkSync('/bin/rm', join(bin(dir), 'rm'));
    writeExecutable(join(bin(dir), 'cat'), `/usr/bin/stat -c %a "\${1%/*}" >> '${join(dir, 'modes')}'\nexec /bin/cat "$@"`);
    return `PATH='${bin(dir)}'; export PATH`;
  });
  if (!s) return;
  // The first sync downloads the phone's notes; the second its echoes of what the first pushed.
  for (let i = 0; i < 2; i++) {
    const result = await cliSync(s.server, s.dir, s.local, s.peer);
    assert.equal(result.code, 0, result.stderr);
  }
  assert.deepEqual(identityCounts(s.local), identityCounts(s.peer));
  const modes = readFileSync(join(s.dir, 'modes'), 'utf8').trim().split('\n');
  assert.ok(modes.length >= 2 && modes.every((mode) => mode === '700'), `the session directory's modes: ${modes.join(', ')}`);
  assert.deepEqual(await noLeftovers(s.tmp), []);
  // Without them, a sync with nothing to download still runs: the script started no other process.
  for (const tool of ['cat', 'rm']) unlinkSync(join(bin(s.dir), tool));
  const noop = await cliSync(s.server, s.dir, s.local, s.peer);
  assert.equal(noop.code, 0, noop.stderr);
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

test('a session directory that sqlite3 cannot make: one line naming the temporary directory, nothing synced', async (t) => {
  const s = await setup(t);
  if (!s) return;
  // The real sqlite3, asked to make the session's directory where nobody can: under /proc. Its
  // input passes sed through a FIFO, so that the wrapper ends when sqlite3 does, as sqlite3 would.
  const cornered = writeExecutable(
    join(s.dir, 'sqlite3-cornered'),
    [
      `f='${join(s.dir, 'fifo')}'.$$; mkfifo "$f"; exec 3<&0`,
      `sed -u "s|writefile('\\.resonance-sync\\.|writefile('/proc/.resonance-sync.|" <&3 > "$f" &`,
      `${TEST_SQLITE3 ?? 'sqlite3'} "$@" < "$f"; s=$?; kill $! 2>/dev/null; rm -f "$f"; exit $s`,
    ].join('\n'),
  );
  const result = await cliSync(s.server, s.dir, s.local, s.peer, {}, cornered);
  failedWith(
    result,
    7,
    'REMOTE_ERROR',
    /127\.0\.0\.1:\d+ cannot create a temporary directory under \$TMPDIR, \/tmp or \$HOME; check free space and permissions there/,
  );
  assert.equal(allRows(s.local).length, 3, 'nothing was synced');
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

test('a remote sqlite3 older than 3.33 is refused by version, before anything is written', async (t) => {
  const s = await setup(t);
  if (!s) return;
  // The real sqlite3, saying it is 3.31.1 where it answers sqlite_version() (its first line).
  const old = writeExecutable(
    join(s.dir, 'sqlite3-old'),
    `${TEST_SQLITE3 ?? 'sqlite3'} "$@" | sed -u 's/^\\(${VERSION_WORD}\\) .*/\\1 3.31.1/'`,
  );
  const before = readFileSync(s.peer);
  const result = await cliSync(s.server, s.dir, s.local, s.peer, {}, old);
  failedWith(
    result,
    7,
    'PROTOCOL_VERSION',
    /sqlite3 on \w+@127\.0\.0\.1:\d+ is version 3\.31\.1, too old for agentless sync \(needs 3\.33\.0 or newer\)/,
  );
  assert.deepEqual(readFileSync(s.peer), before, 'the remote database is untouched');
  assert.equal(existsSync(`${s.peer}-sync.lock`), false, 'not even the sync lock was taken');
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

test('a missing remote database, and one without resonance_notes: exit 4, never created', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const missing = join(s.dir, 'nowhere.sqlite3');
  failedWith(
    await cliSync(s.server, s.dir, s.local, missing),
    4,
    'DB_NOT_FOUND',
    /database not found: .*nowhere\.sqlite3 on .*127\.0\.0\.1:\d+/,
  );
  const empty = join(s.dir, 'empty.sqlite3');
  openDatabase(empty, { create: true }).close();
  failedWith(await cliSync(s.server, s.dir, s.local, empty), 4, 'DB_NO_NOTES_TABLE', /empty\.sqlite3 on .*has no resonance_notes table/);
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

test('a remote database locked beyond the busy timeout: DB_BUSY; another sync running: SYNC_RUNNING', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const holder = openDatabase(s.peer);
  holder.exec('BEGIN EXCLUSIVE');
  try {
    await assert.rejects(connect(s.server, s.peer, { busyTimeoutMs: 300 }), (error: SyncError) => {
      assert.equal(error.code, 'DB_BUSY');
      assert.match(error.message, /phone\.sqlite3 on .* stayed locked by another writer while reading its schema; try again later$/);
      return true;
    });
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
  const lock = acquireSyncLock(s.peer);
  try {
    await assert.rejects(connect(s.server, s.peer), {
      code: 'SYNC_RUNNING',
      message: /another resonance-sync is already syncing .*phone\.sqlite3 on /,
    });
  } finally {
    lock.release();
  }
  // And the other way round: while a session holds the remote lock, a local sync of that file waits.
  const remote = await connect(s.server, s.peer);
  try {
    assert.throws(() => acquireSyncLock(s.peer), { code: 'SYNC_RUNNING' });
  } finally {
    await remote.close();
  }
  acquireSyncLock(s.peer).release();
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

test('a shell rc file printing banners on stdout does not corrupt a download', async (t) => {
  const s = await setup(t, () => `echo 'Welcome to Termux!'; printf 'no newline at the end'`);
  if (!s) return;
  insertNotes(s.peer, [
    { timestamp: '2025-12-01 00:00:00', content: new Uint8Array([0x0a, 0x40, 0x52, 0x53, 0x20, 0x31, 0x0a]), context: 'c', source: 'x' },
  ]);
  const result = await cliSync(s.server, s.dir, s.local, s.peer);
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(identityCounts(s.local), identityCounts(s.peer));
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

for (const ending of ['exits', 'floods'] as const) {
  test(`a shell rc file that prints binary garbage and ${ending === 'exits' ? 'exits' : 'floods stdout'}: named escaped, never as ""`, async (t) => {
    // Garbage starting with NUL, with a byte that is no UTF-8 and a right-to-left override; in a
    // script file, as authorized_keys would mangle the backslashes of printf.
    const s = await setup(t, (dir) => {
      const body =
        ending === 'exits'
          ? `printf '\\000\\001\\377 \\342\\200\\256garbage\\n'; exit 1`
          : `printf '\\000\\001'; yes garbage | head -c 100000`;
      return `${writeExecutable(join(dir, 'rc.sh'), body)} || exit 1`;
    });
    if (!s) return;
    const result = await cliSync(s.server, s.dir, s.local, s.peer);
    if (ending === 'exits') {
      failedWith(
        result,
        7,
        'PROTOCOL_ERROR',
        /the remote shell on \S+ printed "\\x00\\x01\\xff \\u202egarbage" and ended without starting agentless sync \(check that shell startup files/,
      );
    } else {
      failedWith(
        result,
        7,
        'PROTOCOL_ERROR',
        /the remote shell on \S+ printed more than 65536 bytes \(starting "\\x00\\x01garbage"\) before agentless sync started; make shell startup files quiet/,
      );
    }
    assert.equal(allRows(s.local).length, 3, 'nothing was synced');
    assert.deepEqual(await noLeftovers(s.tmp), []);
  });
}

test('a remote path that is a symlink loop says ELOOP; a dangling link is not found; a directory says so; no lock file there', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const loop = join(s.dir, 'loop.sqlite3');
  symlinkSync(loop, loop);
  symlinkSync(join(s.dir, 'b.sqlite3'), join(s.dir, 'a.sqlite3'));
  symlinkSync('a.sqlite3', join(s.dir, 'b.sqlite3'));
  symlinkSync('nowhere.sqlite3', join(s.dir, 'dangling.sqlite3'));
  const folder = join(s.dir, 'folder');
  mkdirSync(folder);
  const LOOP = /is a symlink loop \(ELOOP\): its links never reach a file; fix the link so it points at the database file/;
  failedWith(
    await cliSync(s.server, s.dir, s.local, loop),
    4,
    'DB_NOT_FOUND',
    new RegExp(`loop\\.sqlite3 on \\S+@127\\.0\\.0\\.1:\\d+ ${LOOP.source}`),
  );
  failedWith(await cliSync(s.server, s.dir, s.local, join(s.dir, 'a.sqlite3')), 4, 'DB_NOT_FOUND', LOOP);
  failedWith(
    await cliSync(s.server, s.dir, s.local, join(s.dir, 'dangling.sqlite3')),
    4,
    'DB_NOT_FOUND',
    /database not found: \S+dangling\.sqlite3 on /,
  );
  failedWith(
    await cliSync(s.server, s.dir, s.local, folder),
    4,
    'DB_NOT_FOUND',
    /folder on \S+ is a directory, not a database file; name the database file inside it/,
  );
  assert.deepEqual(
    readdirSync(s.dir).filter((name) => name.endsWith('-sync.lock')),
    ['main.sqlite3-sync.lock'],
  );
  assert.deepEqual(readdirSync(folder), []);
  assert.deepEqual(await noLeftovers(s.tmp), []);
});

/** RESONANCE_SYNC_SSH through a relay that kills ssh (as a dropped network would) after `limit` bytes one way. */
function cuttingSsh(s: { server: SshServer; dir: string }, direction: 'in' | 'out', limit: number): NodeJS.ProcessEnv {
  const relay = join(s.dir, 'cut-ssh.mjs');
  writeFileSync(
    relay,
    `import { spawn } from 'node:child_process';
const [direction, limit, ...args] = process.argv.slice(2);
const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'inherit'] });
let seen = 0;
const pass = (chunk, out, mine) => {
  if (!mine) return out.write(chunk);
  seen += chunk.length;
  if (seen < Number(limit)) return out.write(chunk);
  out.write(chunk.subarray(0, chunk.length - (seen - Number(limit))));
  child.kill('SIGKILL');
  setTimeout(() => process.exit(255), 50);
};
process.stdin.on('data', (chunk) => pass(chunk, child.stdin, direction === 'in'));
process.stdin.on('end', () => child.stdin.end());
child.stdin.on('error', () => {});
child.stdout.on('data', (chunk) => pass(chunk, process.stdout, direction === 'out'));
child.on('exit', (code) => setTimeout(() => process.exit(code ?? 255), 50));
`,
  );
  return { ...s.server.env, RESONANCE_SYNC_SSH: `${process.execPath} ${relay} ${direction} ${limit} -F ${s.server.sshConfigPath}` };
}

for (const direction of ['pull', 'push'] as const) {
  test(`a connection cut mid-${direction === 'pull' ? 'download' : 'upload'}: CONNECTION_LOST, committed batches kept, the next run completes exactly`, async (t) => {
    const s = await setup(t);
    if (!s) return;
    const [from, to] = direction === 'pull' ? [s.peer, s.local] : [s.local, s.peer];
    insertNotes(from, notes(direction, 3000, 400));
    const cut = cuttingSsh(s, direction === 'pull' ? 'out' : 'in', 600_000);
    const limits = { maxRows: 100, maxBytes: 1 << 20 };
    const run = async (env: NodeJS.ProcessEnv) => {
      const local = openReplica(s.local, 'main');
      try {
        const remote = await connect(s.server, s.peer, { env, download: { maxRows: 400 } });
        try {
          return await syncReplicas(local, remote, {
            peerName: 'phone',
            pull: direction === 'pull' ? EVERYTHING : undefined,
            push: direction === 'push' ? EVERYTHING : undefined,
            dryRun: false,
            writeSyncNote: false,
            limits,
          });
        } finally {
          await remote.close().catch(() => undefined);
        }
      } finally {
        await local.close();
      }
    };
    await assert.rejects(run(cut), (error: SyncError) => {
      assert.equal(error.code, 'CONNECTION_LOST', error.message);
      assert.match(
        error.message,
        /^the connection to .*127\.0\.0\.1:\d+ was lost mid-sync \(.*\); committed batches are kept and the next sync resumes after them$/,
      );
      return true;
    });
    const kept = allRows(to).length;
    assert.ok(kept > 3 && kept < 3003, `some batches were committed before the cut (${kept})`);
    const resumed = await run(s.server.env);
    const moved = resumed.directions[0];
    assert.equal(moved?.duplicates, 0, 'the resumed run re-sends nothing that was committed');
    assert.equal(allRows(to).length, 3006);
    const counts = identityCounts(to);
    assert.ok(
      [...counts.values()].every((n) => n === 1),
      'each entry once',
    );
    for (const key of identityCounts(from).keys()) assert.equal(counts.get(key), 1);
    assert.deepEqual(await noLeftovers(s.tmp), []);
  });
}

/** Each database holds `entries` distinct entries, each exactly once. */
function eachEntryOnce(paths: string[], entries: number): void {
  for (const path of paths) {
    const counts = identityCounts(path);
    assert.equal(counts.size, entries, path);
    assert.ok(
      [...counts.values()].every((n) => n === 1),
      `each entry once in ${path}`,
    );
  }
}

/** The rows of `sql` in the database at `path`, as plain objects (node:sqlite's rows have no prototype). */
function rowsOf(path: string, sql: string): Record<string, unknown>[] {
  const db = openDatabase(path);
  try {
    return db
      .prepare(sql)
      .all()
      .map((row) => ({ ...row }));
  } finally {
    db.close();
  }
}

/**
 * The remote's bookkeeping writes (its sync_log row for the pull, then sync_tracking and its sync_log
 * row for the push) are sent without waiting for each (Replica.settle): each still runs in its own
 * transaction, in order, and one that fails ends the session, so none sent after it runs and the sync
 * fails naming it. A trigger on the remote's sync_log refuses one of the two rows.
 */
for (const refused of ['pull', 'push'] as const) {
  test(`a remote bookkeeping write that fails (its log of the ${refused}): the sync fails naming it, what ran before it is kept, nothing after it runs`, async (t) => {
    const s = await setup(t);
    if (!s) return;
    const sync = async () => syncOnce(await connect(s.server, s.peer), s.local);
    await sync(); // first contact: prepares the remote
    const remoteRows = (sql: string) => rowsOf(s.peer, sql);
    const remoteLog = () => remoteRows(`SELECT peer, direction, status FROM sync_log ORDER BY id`);
    const tracking = () => remoteRows(`SELECT remote_node, sync_count FROM sync_tracking`);
    assert.deepEqual(remoteLog(), [
      { peer: 'main', direction: 'push', status: 'ok' },
      { peer: 'main', direction: 'pull', status: 'ok' },
    ]);
    // The remote logs our pull as its 'push', our push as its 'pull'.
    const remoteDirection = refused === 'pull' ? 'push' : 'pull';
    const db = openDatabase(s.peer);
    db.exec(
      `CREATE TRIGGER refuse_log BEFORE INSERT ON sync_log WHEN NEW.direction = '${remoteDirection}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
    );
    db.close();
    insertNotes(s.local, notes('main-later', 2));
    insertNotes(s.peer, notes('phone-later', 2));
    await assert.rejects(sync(), (error: SyncError) => {
      assert.match(error.message, /logging the sync/, error.message);
      assert.match(error.message, /refused by the test/, error.message);
      return true;
    });
    const phoneLater = remoteRows(`SELECT count(*) AS n FROM resonance_notes WHERE content LIKE 'main-later%'`);
    if (refused === 'pull') {
      // Our pull's log failed: the push that followed was never applied, nor its bookkeeping.
      assert.deepEqual(remoteLog().length, 2);
      assert.deepEqual(phoneLater, [{ n: 0 }], 'no batch ran after the failed write');
      assert.deepEqual(tracking(), [{ remote_node: 'main', sync_count: 1 }]);
    } else {
      // Our push's log failed: the pull's log and the push's rows and tracking, sent before it, are kept.
      assert.deepEqual(remoteLog().slice(2), [{ peer: 'main', direction: 'push', status: 'ok' }]);
      assert.deepEqual(phoneLater, [{ n: 2 }]);
      assert.deepEqual(tracking(), [{ remote_node: 'main', sync_count: 2 }]);
    }
    // Without the trigger, the next sync completes: each entry once on both sides.
    const fix = openDatabase(s.peer);
    fix.exec('DROP TRIGGER refuse_log');
    fix.close();
    await sync();
    eachEntryOnce([s.local, s.peer], 10);
    assert.deepEqual(await noLeftovers(s.tmp), []);
  });
}

/**
 * A batch without entries (the push past the echoes of what the pull just brought) only moves the
 * remote's cursor, so it is sent without waiting, like the bookkeeping writes (Replica.settle). Should
 * it fail, the sync fails naming it, nothing sent after it runs, and the next sync completes.
 */
test('a batch without entries that fails (its cursor refused): the sync fails naming it, nothing after it runs, the next sync completes', async (t) => {
  const s = await setup(t);
  if (!s) return;
  const sync = async () => syncOnce(await connect(s.server, s.peer), s.local);
  await sync(); // first contact: prepares the remote
  const db = openDatabase(s.peer);
  db.exec(`CREATE TRIGGER refuse_cursor_insert BEFORE INSERT ON resonance_sync_cursors BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;
    CREATE TRIGGER refuse_cursor_update BEFORE UPDATE ON resonance_sync_cursors BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;`);
  db.close();
  const logged = rowsOf(s.peer, 'SELECT count(*) AS n FROM sync_log');
  // Only the phone has something new: this side's push then has nothing but echoes to send.
  insertNotes(s.peer, notes('phone-later', 2));
  await assert.rejects(sync(), (error: SyncError) => {
    assert.match(error.message, /writing a batch/, error.message);
    assert.match(error.message, /refused by the test/, error.message);
    return true;
  });
  // The pull's rows came, and the remote logged that pull; the push's own bookkeeping never ran.
  assert.equal(identityCounts(s.local).size, 8);
  assert.deepEqual(rowsOf(s.peer, 'SELECT count(*) AS n FROM sync_log'), [{ n: Number(logged[0]?.n) + 1 }]);
  const fix = openDatabase(s.peer);
  fix.exec('DROP TRIGGER refuse_cursor_insert; DROP TRIGGER refuse_cursor_update;');
  fix.close();
  const summary = await sync();
  assert.deepEqual(
    summary.directions.map((d) => [d.direction, d.received]),
    [
      ['pull', 0],
      ['push', 0],
    ],
  );
  eachEntryOnce([s.local, s.peer], 8);
  assert.deepEqual(await noLeftovers(s.tmp), []);
});
