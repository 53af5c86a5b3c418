/**
 * Rotation over a real sshd in agent mode: the phone rotates (with `resonance-sync rotate`, or with
 * the users' own script replayed by python3) while the desktop syncs it over ssh. Afterwards only new
 * entries flow, both ways, and a file replaced behind the agent's back is not refilled unasked.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { runCli } from '../support/cli.js';
import { createNotesDb, identityCounts, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, directionCounts, sshdFor, sshUrl, writeConfig } from './fixtures.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));
const SCHEMA = join(FIXTURES, 'init_resonance.sql');

function notes(path: string, who: string, from: number, count: number): void {
  insertNotes(
    path,
    Array.from({ length: count }, (_, i) => ({
      timestamp: `2025-12-01 10:00:${String(from + i).padStart(2, '0')}`,
      content: `${who} ${from + i}`,
      context: 'consilium',
      source: who,
    })),
  );
}

function userEntries(path: string): number {
  return withDb(path, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context != 'system'`).get()?.n));
}

async function pair(t: TestContext) {
  const server = await sshdFor(t);
  if (!server) return undefined;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main', 'c');
  const phone = createNotesDb(dir, 'phone', 'c');
  notes(main, 'main', 0, 20);
  notes(phone, 'phone', 20, 20);
  const config = writeConfig(
    dir,
    main,
    'main_device',
    [{ name: 'main_phone', url: sshUrl(server, phone), remoteCommand: agentCommand(), extra: 'mode = "agent"' }],
    {
      syncNote: false,
    },
  );
  const env = { ...server.env, XDG_STATE_HOME: join(dir, 'state') };
  const phoneEnv = { XDG_STATE_HOME: join(dir, 'phone-state') };
  const sync = async () => {
    const run = await runCli(['sync', '--json', '--config', config], { env });
    assert.equal(run.code, 0, run.stderr);
    return directionCounts(run.stdout).map((d) => d.sent);
  };
  assert.deepEqual(await sync(), [20, 20]);
  return { dir, main, phone, config, env, phoneEnv, sync };
}

test('ssh agent: the phone runs resonance-sync rotate; the desktop then sends and receives only new entries', async (t) => {
  const set = await pair(t);
  if (!set) return;
  const rotated = await runCli(['rotate', '--db', set.phone, '--force', '--schema', SCHEMA], { env: set.phoneEnv });
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.equal(userEntries(set.phone), 0);
  notes(set.main, 'main', 40, 3);
  notes(set.phone, 'phone', 50, 2);
  // Pull: the phone's 2 new-cycle notes + 2 new entries; push: main's 3 new. Nothing of the archived cycle.
  assert.deepEqual(await set.sync(), [4, 3]);
  assert.deepEqual(await set.sync(), [0, 0]);
  assert.equal(userEntries(set.main), 45);
  assert.equal(userEntries(set.phone), 5);
  for (const [, count] of identityCounts(set.main)) assert.equal(count, 1);
});

test("ssh agent: the users' script rotates the phone; the sync stops (exit 10); adopt main_phone --continue; only new entries flow", async (t) => {
  const set = await pair(t);
  if (!set) return;
  execFileSync('python3', [join(FIXTURES, 'their-rotation.py'), set.phone, SCHEMA, '0', '5']);
  const stopped = await runCli(['sync', '--quiet', '--config', set.config], { env: set.env });
  assert.equal(stopped.code, 10, stopped.stderr);
  assert.match(stopped.stderr, /main_phone's database .* was replaced .*\[DATABASE_REPLACED\]/);
  assert.equal(userEntries(set.phone), 0, 'not refilled');
  const adopted = await runCli(['adopt', 'main_phone', '--continue', '--config', set.config], { env: set.env });
  assert.equal(adopted.code, 0, adopted.stderr);
  notes(set.main, 'main', 40, 3);
  assert.deepEqual(await set.sync(), [2, 3], "pull: the phone's two rotation notes; push: main's three new entries");
  assert.equal(userEntries(set.phone), 3);
});
