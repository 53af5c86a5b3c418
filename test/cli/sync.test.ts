import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { acquireSyncLock } from '../../src/store/lock.js';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { fingerprint } from '../support/untouched.js';

function seeded(dir: string) {
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone', 'a');
  insertNotes(main, [
    { timestamp: '2025-11-30 22:00:00', content: 'dev note', context: 'leo_development', source: 'leo' },
    { timestamp: '2025-11-30 22:00:01', content: 'diary', context: 'diary', source: null },
  ]);
  insertNotes(phone, [{ timestamp: '2025-11-30T23:00:00', content: 'мама', context: 'maternal_conversation' }]);
  return { main, phone };
}

test('sync PATH both ways with --json, then again: nothing new; log and tracking filled', async (t) => {
  const dir = tempDir(t);
  const { main, phone } = seeded(dir);
  const config = join(dir, 'c.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main_device', '--config', config])).code, 0);
  const first = await runCli(['sync', phone, '--json', '--config', config]);
  assert.equal(first.code, 0, first.stderr);
  const summary = JSON.parse(first.stdout);
  const [pull, push] = summary.peers[0].directions;
  assert.equal(pull.direction, 'pull');
  assert.equal(pull.received, 1);
  assert.equal(push.received, 3, 'two notes, and the sync note the pull just wrote (sync notes travel like any entry)');
  assert.equal(push.duplicates, 0);
  assert.equal(summary.peers[0].remote.name, 'phone');
  // The second run brings back only the phone's own sync note; arriving sync notes beget no new note.
  const again = JSON.parse((await runCli(['sync', phone, '--json', '--config', config])).stdout);
  assert.deepEqual(
    again.peers[0].directions.map((d: { sent: number }) => d.sent),
    [1, 0],
  );
  const third = JSON.parse((await runCli(['sync', phone, '--json', '--config', config])).stdout);
  assert.deepEqual(
    third.peers[0].directions.map((d: { sent: number }) => d.sent),
    [0, 0],
  );
  const log = withDb(main, (db) =>
    db
      .prepare(`SELECT direction, status, received FROM sync_log ORDER BY id`)
      .all()
      .map((r) => ({ ...r })),
  );
  assert.deepEqual(log, [
    { direction: 'pull', status: 'ok', received: 1 },
    { direction: 'push', status: 'ok', received: 3 },
    { direction: 'pull', status: 'ok', received: 1 },
    { direction: 'push', status: 'ok', received: 0 },
    { direction: 'pull', status: 'ok', received: 0 },
    { direction: 'push', status: 'ok', received: 0 },
  ]);
  const note = withDb(main, (db) => db.prepare(`SELECT content FROM resonance_notes WHERE context = 'sync' AND sync_origin IS NULL`).get());
  assert.equal(note?.content, 'Synced 1 entry from phone');
  const phoneNote = withDb(phone, (db) =>
    db.prepare(`SELECT content FROM resonance_notes WHERE context = 'sync' AND sync_origin IS NULL`).get(),
  );
  assert.equal(phoneNote?.content, 'Synced 2 entries from main_device');
});

test('--dry-run shows what would flow and writes nothing; --pull-only and --push-only', async (t) => {
  const dir = tempDir(t);
  const { main, phone } = seeded(dir);
  const config = join(dir, 'c.toml');
  await runCli(['init', '--db', main, '--node', 'main_device', '--config', config]);
  await runCli(['init', '--db', phone, '--node', 'phone', '--config', join(dir, 'p.toml')]);
  const before = [allRows(main).length, allRows(phone).length];
  const dry = await runCli(['sync', phone, '--dry-run', '--config', config]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /dry run: nothing written/);
  assert.match(dry.stdout, /pull phone -> main_device: would add 1/);
  assert.match(dry.stdout, /push main_device -> phone: would add 2/);
  assert.deepEqual([allRows(main).length, allRows(phone).length], before);
  assert.equal(Number(withDb(main, (db) => db.prepare('SELECT count(*) AS n FROM sync_log').get()?.n)), 0);

  const pullOnly = JSON.parse((await runCli(['sync', phone, '--pull-only', '--json', '--config', config])).stdout);
  assert.deepEqual(
    pullOnly.peers[0].directions.map((d: { direction: string }) => d.direction),
    ['pull'],
  );
  const pushOnly = JSON.parse((await runCli(['sync', phone, '--push-only', '--json', '--config', config])).stdout);
  assert.deepEqual(
    pushOnly.peers[0].directions.map((d: { direction: string }) => d.direction),
    ['push'],
  );
  const both = await runCli(['sync', phone, '--push-only', '--pull-only', '--config', config]);
  assert.equal(both.code, 2);
});

test('--dry-run on first contact previews a peer never prepared: counts each way, and neither file changes', async (t) => {
  const dir = tempDir(t);
  const { main } = seeded(dir);
  // The users' phone schema: source NOT NULL, so main's NULL-source entry is refused there.
  const phone = createNotesDb(dir, 'selesta', 'c');
  insertNotes(phone, [
    { timestamp: '2025-11-30T23:00:00', content: 'мама', context: 'maternal_conversation', source: 'telegram' },
    { timestamp: '2025-11-30 22:00:00', content: 'dev note', context: 'leo_development', source: 'leo' },
  ]);
  const config = join(dir, 'c.toml');
  await runCli(['init', '--db', main, '--node', 'main_device', '--config', config]);
  assert.equal((await runCli(['peer', 'add', 'selesta', phone, '--config', config])).code, 0);
  const before = [fingerprint(main), fingerprint(phone)];
  assert.ok(!before[1]?.tables.includes('resonance_sync_meta'), 'the phone is not prepared');

  const dry = await runCli(['sync', 'selesta', '--dry-run', '--json', '--config', config]);
  assert.equal(dry.code, 0, dry.stderr);
  const report = JSON.parse(dry.stdout);
  assert.equal(report.dryRun, true);
  assert.equal(report.peers[0].remote.name, 'selesta');
  const counts = (json: { peers: Array<{ directions: Array<Record<string, unknown>> }> }) =>
    json.peers[0]?.directions.map((d) => [d.direction, d.sent, d.received, d.duplicates, d.rejected]);
  // 'dev note' is on both: a duplicate each way; main's NULL-source diary is refused by the phone's NOT NULL source.
  const expected = [
    ['pull', 2, 1, 1, 0],
    ['push', 2, 0, 1, 1],
  ];
  assert.deepEqual(counts(report), expected);
  assert.deepEqual([fingerprint(main), fingerprint(phone)], before, 'both files byte for byte unchanged, nothing beside them');

  const text = await runCli(['sync', 'selesta', '--dry-run', '--config', config]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /pull selesta -> main_device: would add 1/);
  assert.match(text.stdout, /push main_device -> selesta: would add 0/);
  assert.deepEqual([fingerprint(main), fingerprint(phone)], before);

  // The real sync afterwards prepares the phone and moves what the preview said.
  const real = await runCli(['sync', 'selesta', '--json', '--config', config]);
  assert.equal(real.code, 0, real.stderr);
  // The same, but for the sync note main writes after the pull, which travels too.
  assert.deepEqual(counts(JSON.parse(real.stdout)), [
    ['pull', 2, 1, 1, 0],
    ['push', 3, 1, 1, 1],
  ]);
});

test('configured peers with routes: peer add/list/remove, sync with no PEER syncs them all, status', async (t) => {
  const dir = tempDir(t);
  const { main, phone } = seeded(dir);
  const config = join(dir, 'c.toml');
  await runCli(['init', '--db', main, '--node', 'main_device', '--config', config]);
  const add = await runCli(['peer', 'add', 'selesta', phone, '--push-context', 'leo_*', '--pull-context', 'maternal*', '--config', config]);
  assert.equal(add.code, 0, add.stderr);
  const dupe = await runCli(['peer', 'add', 'selesta', phone, '--config', config]);
  assert.equal(dupe.code, 3);
  const list = await runCli(['peer', 'list', '--config', config]);
  assert.match(
    list.stdout,
    /selesta .*phone\.sqlite3\n {2}push: context in \[leo_\*\]; device-local kept home \[\*_thread, \*_assistant_id, \*snapshot\]\n {2}pull: context in \[maternal\*\]; device-local/,
  );
  const sync = await runCli(['sync', '--config', config]);
  assert.equal(sync.code, 0, sync.stderr);
  assert.equal(allRows(phone).filter((row) => row.content === 'diary').length, 0, 'the route kept the diary home');
  assert.equal(allRows(phone).filter((row) => row.content === 'dev note').length, 1);
  const status = JSON.parse((await runCli(['status', '--json', '--config', config])).stdout);
  assert.equal(status.node.name, 'main_device');
  assert.equal(status.peers[0].name, 'selesta');
  assert.equal(status.peers[0].tracking.lastSyncSuccess, true);
  assert.deepEqual(status.peers[0].pending, { push: 0, pull: 0 });
  insertNotes(main, [{ timestamp: '2025-12-01 00:00:00', content: 'new dev', context: 'leo_x', source: 'leo' }]);
  insertNotes(phone, [{ timestamp: '2025-12-01 00:00:00', content: 'new mama', context: 'maternal_x' }]);
  const pending = JSON.parse((await runCli(['status', '--json', '--config', config])).stdout);
  assert.deepEqual(pending.peers[0].pending, { push: 1, pull: 1 });
  const human = await runCli(['status', '--config', config]);
  assert.match(human.stdout, /pending: push 1, pull 1/);
  const remove = await runCli(['peer', 'remove', 'selesta', '--config', config]);
  assert.equal(remove.code, 0);
  const none = await runCli(['sync', '--config', config]);
  assert.equal(none.code, 3);
  assert.match(none.stderr, /no peers configured/);
});

test('bad input: same database, missing peer, malformed config, unknown option, running sync', async (t) => {
  const dir = tempDir(t);
  const { main, phone } = seeded(dir);
  const config = join(dir, 'c.toml');
  await runCli(['init', '--db', main, '--node', 'main_device', '--config', config]);
  const same = await runCli(['sync', main, '--config', config]);
  assert.equal(same.code, 4);
  assert.match(same.stderr, /own database.*\[SAME_DATABASE\]/);

  const missing = await runCli(['sync', join(dir, 'nope.sqlite3'), '--config', config]);
  assert.equal(missing.code, 4);
  assert.match(missing.stderr, /database not found/);
  assert.equal(existsSync(join(dir, 'nope.sqlite3')), false);

  const broken = join(dir, 'broken.toml');
  writeFileSync(broken, '[node]\nname = "x"\n[peers.p]\nurl = 5\n');
  const malformed = await runCli(['sync', '--config', broken]);
  assert.equal(malformed.code, 3);
  assert.match(malformed.stderr, /peers\.p\.url/);
  assert.equal(malformed.stderr.trim().split('\n').length, 1);
  const syntax = join(dir, 'syntax.toml');
  writeFileSync(syntax, '[node\nname = ');
  assert.equal((await runCli(['status', '--config', syntax])).code, 3);
  assert.equal((await runCli(['sync', '--config', join(dir, 'absent.toml')])).code, 3, 'a named config must exist');

  const unknown = await runCli(['sync', '--frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option/);

  const lock = acquireSyncLock(main);
  try {
    const busy = await runCli(['sync', phone, '--config', config]);
    assert.equal(busy.code, 5);
    assert.match(busy.stderr, /another resonance-sync is already syncing .*\[SYNC_RUNNING\]/);
  } finally {
    lock.release();
  }
  assert.equal(allRows(phone).length, 1, 'nothing was written by the refused runs');
  assert.equal((await runCli(['sync', phone, '--config', config])).code, 0);
});

test('a read-only folder is reported in one line and nothing is written', async (t) => {
  if (process.getuid?.() !== 0) {
    // As a normal user chmod is enough.
  }
  const dir = tempDir(t);
  const { main, phone } = seeded(dir);
  const config = join(dir, 'c.toml');
  await runCli(['init', '--db', phone, '--node', 'phone', '--config', join(dir, 'p.toml')]);
  chmodSync(dir, 0o755);
  for (const file of readdirSync(dir)) chmodSync(join(dir, file), 0o644);
  writeFileSync(config, `[node]\nname = "main_device"\ndb = "${main}"\n`);
  chmodSync(config, 0o644);
  const before = allRows(phone).length;
  // root ignores file modes, so the CLI runs as an unprivileged user who may read but not write.
  const prefix = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const result = await runCli(['sync', phone, '--config', config], { prefix });
  assert.equal(result.code, 4, result.stderr);
  assert.match(result.stderr, /cannot be written.*must be writable.*\[DB_READ_ONLY\]/);
  assert.equal(result.stderr.trim().split('\n').length, 1);
  assert.equal(allRows(phone).length, before);
  assert.equal(existsSync(`${main}-sync.lock`), false);
});
