/**
 * The installed command (bin/resonance-sync.mjs) runs `serve` from its own file, the agent's code
 * alone (dist/resonance-sync-serve.mjs, scripts/build-dist.mjs), so the far side of a sync starts
 * sooner. That file must be a faithful `serve`: the same answers as the full command line to what a
 * user or a forced command may get wrong, and a real sync through it over the test sshd, both ways.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test, type TestContext } from 'node:test';
import { shellQuote } from '../../src/transport/ssh/ssh-command.js';
import { runCli } from '../support/cli.js';
import { createNotesDb, identityCounts } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';
import { directionCounts, notesPair, sshdFor, sshUrl, writeConfig } from './fixtures.js';

const BIN = fileURLToPath(new URL('../../../bin/resonance-sync.mjs', import.meta.url));
const FULL = fileURLToPath(new URL('../../../dist/resonance-sync.mjs', import.meta.url));
const SERVE = fileURLToPath(new URL('../../../dist/resonance-sync-serve.mjs', import.meta.url));

function built(t: TestContext): boolean {
  if (existsSync(FULL) && existsSync(SERVE)) return true;
  if (process.env.CI) throw new Error(`${SERVE} is missing; npm test builds it (npm run build:dist)`);
  t.skip('the single files are not built (npm run build:dist)');
  return false;
}

test('serve from its own file answers as the full command line does, and is under half its size', (t) => {
  if (!built(t)) return;
  const dir = tempDir(t);
  const db = createNotesDb(dir, 'served');
  const cases = [
    ['serve'],
    ['serve', '--bogus'],
    ['serve', '--stdio'],
    ['serve', '--stdio', '--name', 'not a name', '--db', db],
    ['serve', '--help'],
    ['--quiet', 'serve'],
  ];
  // A quiet (unattended) run stamps its lines with the time: two runs may fall in different seconds.
  const unstamped = (text: string) => text.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /gm, '<time> ');
  for (const args of cases) {
    const run = (file: string) => spawnSync(process.execPath, [file, ...args], { input: '', encoding: 'utf8' });
    const [full, alone] = [run(FULL), run(SERVE)];
    assert.deepEqual(
      { status: alone.status, stdout: alone.stdout, stderr: unstamped(alone.stderr) },
      { status: full.status, stdout: full.stdout, stderr: unstamped(full.stderr) },
      args.join(' '),
    );
  }
  // With stdin closed at once, the agent announces itself and ends: the same bytes from both.
  const serveArgs = ['serve', '--stdio', '--db', db];
  const viaBin = spawnSync(process.execPath, [BIN, ...serveArgs], { input: '' });
  const viaFull = spawnSync(process.execPath, [FULL, ...serveArgs], { input: '' });
  assert.equal(viaBin.status, 0, String(viaBin.stderr));
  assert.deepEqual(viaBin.stdout, viaFull.stdout);
  assert.ok(statSync(SERVE).size * 2 < statSync(FULL).size, `${statSync(SERVE).size} bytes vs ${statSync(FULL).size}`);
});

test('a sync whose remote runs the installed command: its serve file moves entries both ways, exactly once', async (t) => {
  if (!built(t)) return;
  const server = await sshdFor(t);
  if (!server) return;
  const dir = tempDir(t);
  const { main, phone } = notesPair(dir);
  const remoteCommand = `${shellQuote(process.execPath)} ${shellQuote(BIN)}`;
  const config = writeConfig(dir, main, 'main_device', [{ name: 'phone', url: sshUrl(server, phone), remoteCommand }], { syncNote: false });
  const first = await runCli(['sync', 'phone', '--config', config, '--json'], { env: server.env });
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual(
    directionCounts(first.stdout).map((d) => [d.direction, d.received]),
    [
      ['pull', 1],
      ['push', 1],
    ],
  );
  const again = await runCli(['sync', 'phone', '--config', config, '--json'], { env: server.env });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(
    directionCounts(again.stdout).map((d) => d.received),
    [0, 0],
  );
  assert.equal(identityCounts(main).size, 2);
  assert.equal(identityCounts(phone).size, 2);
});
