import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

test("demo: two nodes, the users' routes, both ways; a second run moves only the fresh notes", async (t) => {
  const dir = join(tempDir(t), 'demo');
  const first = await runCli(['demo', dir]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /pull selesta -> main_device: added 3\b/);
  assert.match(first.stdout, /push main_device -> selesta: added 7\b/);
  assert.match(first.stdout, /\[selesta -> main_device\] \(maternal_conversation\)/);
  const selesta = join(dir, 'selesta.sqlite3');
  const diary = withDb(selesta, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'diary'`).get()?.n));
  assert.equal(diary, 0, 'the diary stays on main_device');
  const origins = withDb(selesta, (db) =>
    db
      .prepare(`SELECT DISTINCT origin_name FROM resonance_notes_origin ORDER BY 1`)
      .all()
      .map((r) => r.origin_name),
  );
  assert.deepEqual(origins, ['main_device', 'selesta']);

  const second = await runCli(['demo', dir]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /pull selesta -> main_device: added 1\b/);
  assert.match(second.stdout, /push main_device -> selesta: added 1\b/);
  const status = await runCli(['status', '--config', join(dir, 'config.toml')]);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /peer selesta/);
});
