import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

const note = (i: number, context = 'leo_development') => ({
  timestamp: `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`,
  content: `entry ${i} ${'w'.repeat(i % 500)}`,
  context,
  source: i % 3 ? 'agent' : null,
});

test('verify finds what cursors cannot see (an explicit id below the cursor), repairs it both ways, never deletes', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const peer = createNotesDb(dir, 'peer');
  insertNotes(
    main,
    Array.from({ length: 2000 }, (_, i) => note(i)),
  );
  insertNotes(
    peer,
    Array.from({ length: 10 }, (_, i) => ({ id: 5000 + i, ...note(10_000 + i) })),
  );
  const config = join(dir, 'c.toml');
  await runCli(['init', '--db', main, '--node', 'main', '--config', config]);
  assert.equal((await runCli(['sync', peer, '--config', config])).code, 0);
  // The second run carries the peer's own "Synced N entries" note back; then they are equal.
  assert.equal((await runCli(['sync', peer, '--config', config])).code, 0);

  const same = await runCli(['verify', peer, '--json', '--config', config]);
  assert.equal(same.code, 0, same.stderr);
  const equal = JSON.parse(same.stdout);
  assert.equal(equal.bucketsDiffering, 0);
  // 256 bucket digests a side, whatever the size of the database (the bench measures it on 1M notes).
  assert.ok(equal.bytesExchanged < 40_000, `digests are ${equal.bytesExchanged} bytes`);

  // Below every cursor: a sync cannot see these, verify must.
  withDb(peer, (db) =>
    db
      .prepare(
        `INSERT INTO resonance_notes (id, timestamp, content, context, source) VALUES (5, '2020-01-01 00:00:00', 'explicit id below the cursor', 'x', 'y')`,
      )
      .run(),
  );
  withDb(main, (db) =>
    db
      .prepare(
        `INSERT INTO resonance_notes (id, timestamp, content, context, source) VALUES (0, '2020-01-01 00:00:01', 'main, id zero', 'x', NULL)`,
      )
      .run(),
  );
  const quiet = await runCli(['sync', peer, '--json', '--config', config]);
  assert.deepEqual(
    JSON.parse(quiet.stdout).peers[0].directions.map((d: { received: number }) => d.received),
    [0, 0],
    'sync does not see them',
  );

  const differs = await runCli(['verify', peer, '--config', config]);
  assert.equal(differs.code, 1, 'differences exit 1, like diff');
  assert.match(differs.stdout, /main -> peer: 1 entries missing/);
  assert.match(differs.stdout, /peer -> main: 1 entries missing/);

  const before = allRows(main).length + allRows(peer).length;
  const repaired = await runCli(['verify', peer, '--repair', '--config', config]);
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.match(repaired.stdout, /1 entries missing, 1 repaired/);
  assert.match(repaired.stdout, /equal after repair/);
  assert.equal(allRows(main).length + allRows(peer).length, before + 2, 'only inserts');
  assert.equal((await runCli(['verify', peer, '--config', config])).code, 0);
  const origin = withDb(main, (db) =>
    db.prepare(`SELECT origin_name FROM resonance_notes_origin WHERE content = 'explicit id below the cursor'`).get(),
  );
  assert.equal(origin?.origin_name, 'peer');
});

test('verify compares within the routes only', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const peer = createNotesDb(dir, 'peer');
  insertNotes(main, [note(1), note(2, 'diary')]);
  const config = join(dir, 'c.toml');
  await runCli(['init', '--db', main, '--node', 'main', '--config', config]);
  await runCli(['peer', 'add', 'phone', peer, '--push-context', 'leo_*', '--pull-context', 'nothing', '--config', config]);
  assert.equal((await runCli(['sync', 'phone', '--config', config])).code, 0);
  // Written on the phone within the push route, but the pull route brings nothing back: its bucket
  // differs, yet no entry is missing in either direction's route; the output says why.
  insertNotes(peer, [{ timestamp: '2025-12-02 00:00:00', content: 'phone-only', context: 'leo_phone', source: 'phone' }]);
  const result = await runCli(['verify', 'phone', '--config', config]);
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /no entries missing either way/);
  assert.match(result.stdout, /[1-9]\d* of \d+ bucket digests differ: a bucket summarises many entries/);
  assert.match(result.stdout, /main -> phone: 0 entries missing/);
});

test('verify and repair over ssh (agent mode) exchange only digests when equal', async (t) => {
  const { agentCommand, sshdFor, sshUrl } = await import('../ssh/fixtures.js');
  const server = await sshdFor(t);
  if (!server) return;
  t.after(() => server.stop());
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(
    main,
    Array.from({ length: 300 }, (_, i) => note(i)),
  );
  const config = join(dir, 'c.toml');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(
    config,
    `[node]\nname = "main"\ndb = "${main}"\nsync_note = false\n\n[peers.phone]\nurl = "${sshUrl(server, phone)}"\nmode = "agent"\nremote_command = ${JSON.stringify(agentCommand())}\n`,
  );
  const env = server.env;
  assert.equal((await runCli(['sync', 'phone', '--config', config], { env })).code, 0);
  const equal = await runCli(['verify', 'phone', '--json', '--config', config], { env });
  assert.equal(equal.code, 0, equal.stderr);
  withDb(phone, (db) =>
    db
      .prepare(`INSERT INTO resonance_notes (id, timestamp, content, context, source) VALUES (-7, 'x', 'below every cursor', 'c', NULL)`)
      .run(),
  );
  const differs = await runCli(['verify', 'phone', '--config', config], { env });
  assert.equal(differs.code, 1, differs.stderr);
  const repaired = await runCli(['verify', 'phone', '--repair', '--config', config], { env });
  assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
  assert.equal(allRows(main).filter((row) => row.content === 'below every cursor').length, 1);
});
