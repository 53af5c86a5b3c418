import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

test('log: the sync history as a table, newest first, by peer, limited, and as JSON', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  const laptop = createNotesDb(dir, 'laptop');
  insertNotes(phone, [
    { timestamp: '2025-11-30 22:00:00', content: 'a', source: 's' },
    { timestamp: '2025-11-30 22:00:01', content: 'b', source: 's' },
  ]);
  const config = join(dir, 'config.toml');
  await runCli(['init', '--db', main, '--node', 'main_device', '--config', config]);
  const empty = await runCli(['log', '--config', config]);
  assert.equal(empty.code, 0);
  assert.equal(empty.stdout, 'no syncs recorded yet\n');
  await runCli(['peer', 'add', 'phone', phone, '--config', config]);
  await runCli(['peer', 'add', 'laptop', laptop, '--config', config]);
  assert.equal((await runCli(['sync', '--config', config])).code, 0);
  await runCli(['peer', 'add', 'usb', join(dir, 'unplugged.sqlite3'), '--config', config]);
  await runCli(['sync', 'usb', '--config', config]);

  const table = await runCli(['log', '--config', config]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^started \(UTC\) +peer +dir +status +sent +added +dup +time +note$/);
  assert.equal(lines.length, 1 + 5);
  assert.match(
    lines[1] ?? '',
    /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ {2}usb +connect {2}failed +- +- +- +\d+\.\ds {2}database not found: .*\[DB_NOT_FOUND\]$/,
  );
  assert.match(lines.at(-1) ?? '', /^\S+ \S+ {2}phone +pull +ok +2 +2 +0 +\d+\.\ds$/, 'oldest last');

  const phoneOnly = await runCli(['log', '--peer', 'phone', '--limit', '1', '--config', config]);
  assert.deepEqual(
    phoneOnly.stdout
      .trimEnd()
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/).slice(2, 5)),
    [['phone', 'push', 'ok']],
  );
  const json = JSON.parse((await runCli(['log', '--json', '--limit', '2', '--config', config])).stdout);
  assert.equal(json.length, 2);
  assert.deepEqual(Object.keys(json[0]).sort(), [
    'batches',
    'direction',
    'duplicates',
    'errorCode',
    'finishedAt',
    'id',
    'message',
    'peer',
    'received',
    'refusals',
    'rejected',
    'sent',
    'startedAt',
    'status',
  ]);
  assert.equal(json[0].errorCode, 'DB_NOT_FOUND');
  assert.equal((await runCli(['log', '--peer', 'nobody', '--config', config])).stdout, 'no syncs with nobody recorded\n');

  const bad = await runCli(['log', '--limit', '0', '--config', config]);
  assert.equal(bad.code, 2);
  const raw = createNotesDb(dir, 'raw');
  const uninitialized = await runCli(['log', '--db', raw, '--config', config]);
  assert.equal(uninitialized.code, 4);
  assert.match(uninitialized.stderr, /has no sync history yet .*resonance-sync init --db/);
});
