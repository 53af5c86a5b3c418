/**
 * What a new user meets first, through the real CLI: a mistyped peer name, `peer set`, the status
 * headline after a skipped run, the time on every line a cron job logs, and an example in every --help.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { closedPort } from '../fixtures/unattended-support.js';
import { COMMANDS_WITH_EXAMPLES } from '../../src/cli/help-examples.js';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

async function setUp(dir: string) {
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'dev note', context: 'leo_development', source: 'leo' }]);
  const config = join(dir, 'c.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main_device', '--config', config])).code, 0);
  assert.equal((await runCli(['peer', 'add', 'selesta', phone, '--config', config])).code, 0);
  return { main, phone, config };
}

const logRows = (db: string) => withDb(db, (d) => Number(d.prepare('SELECT count(*) AS n FROM sync_log').get()?.n));

test('a mistyped peer name: exit 3 with "did you mean", no lock file, no log row', async (t) => {
  const dir = tempDir(t);
  const { main, config } = await setUp(dir);
  const before = logRows(main);
  const typo = await runCli(['sync', 'selsta', '--config', config], { cwd: dir });
  assert.equal(typo.code, 3, typo.stderr);
  assert.match(typo.stderr, /^resonance-sync: unknown peer "selsta"; did you mean selesta\? \(known peers: selesta\) \[PEER_UNKNOWN\]\n$/);
  assert.doesNotMatch(typo.stderr, /init --create/);
  assert.deepEqual(
    readdirSync(dir).filter((name) => name.includes('selsta')),
    [],
    'no selsta-sync.lock (or anything else) made here',
  );
  assert.equal(logRows(main), before, 'no log row for a peer that does not exist');
  // Nothing close: no guess, just the known names; verify reads names the same way.
  const far = await runCli(['verify', 'laptop', '--config', config], { cwd: dir });
  assert.equal(far.code, 3);
  assert.match(far.stderr, /unknown peer "laptop"; known peers: selesta \[PEER_UNKNOWN\]/);
  // A word that names a file here is still that file.
  assert.equal((await runCli(['sync', 'phone.sqlite3', '--config', config], { cwd: dir })).code, 0);
});

test('peer set changes addresses, mode, remote command and routes; the file keeps the rest', async (t) => {
  const dir = tempDir(t);
  const { config, phone } = await setUp(dir);
  const lan = 'ssh://u0_a311@192.168.1.20:8022/~/selesta/resonance.sqlite3';
  const tailnet = 'ssh://u0_a311@selesta.tailnet:8022/~/selesta/resonance.sqlite3';
  const set = await runCli([
    'peer',
    'set',
    'selesta',
    '--url',
    lan,
    '--url',
    tailnet,
    '--mode',
    'sqlite3',
    '--remote-command',
    '/usr/bin/sqlite3',
    '--pull-context',
    'maternal*',
    '--config',
    config,
  ]);
  assert.equal(set.code, 0, set.stderr);
  const text = readFileSync(config, 'utf8');
  assert.match(
    text,
    /url = \[\s*"ssh:\/\/u0_a311@192\.168\.1\.20:8022\/~\/selesta\/resonance\.sqlite3",\s*"ssh:\/\/u0_a311@selesta\.tailnet:8022\/~\/selesta\/resonance\.sqlite3"\s*\]/,
  );
  assert.match(text, /mode = "sqlite3"/);
  assert.match(text, /remote_command = "\/usr\/bin\/sqlite3"/);
  assert.match(text, /\[peers\.selesta\.pull\]\s*include_context = \[\s*"maternal\*"\s*\]/);
  const list = JSON.parse((await runCli(['peer', 'list', '--json', '--config', config])).stdout);
  assert.deepEqual(list[0].urls, [lan, tailnet]);
  assert.equal(list[0].url, lan);
  assert.equal(list[0].mode, 'sqlite3');
  // Back to one local address and auto; the remote command removed; disabled.
  const back = await runCli([
    'peer',
    'set',
    'selesta',
    '--url',
    phone,
    '--mode',
    'auto',
    '--remote-command',
    '',
    '--disable',
    '--config',
    config,
  ]);
  assert.equal(back.code, 0, back.stderr);
  const again = JSON.parse((await runCli(['peer', 'list', '--json', '--config', config])).stdout);
  assert.deepEqual(again[0].urls, [phone]);
  assert.equal(again[0].enabled, false);
  assert.doesNotMatch(readFileSync(config, 'utf8'), /remote_command|mode =/);
  const unknown = await runCli(['peer', 'set', 'selest', '--mode', 'agent', '--config', config]);
  assert.equal(unknown.code, 3);
  assert.match(unknown.stderr, /did you mean selesta\?/);
  const bad = await runCli(['peer', 'set', 'selesta', '--mode', 'rsync', '--config', config]);
  assert.equal(bad.code, 2);
});

test('status headline follows the last run: ok, then skipped; a quiet failure line carries its ISO time', async (t) => {
  const dir = tempDir(t);
  const { config } = await setUp(dir);
  assert.equal((await runCli(['sync', '--config', config])).code, 0);
  assert.match((await runCli(['status', '--config', config])).stdout, /peer selesta .*\n {2}last sync ok at \d{4}-/);
  const port = await closedPort();
  assert.equal((await runCli(['peer', 'set', 'selesta', '--url', `ssh://127.0.0.1:${port}/x.sqlite3`, '--config', config])).code, 0);
  const skipped = await runCli(['sync', '--quiet', '--config', config]);
  assert.equal(skipped.code, 6, skipped.stderr);
  assert.equal(skipped.stdout, '');
  assert.match(skipped.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ resonance-sync: selesta: .*\[PEER_UNREACHABLE\]\n$/);
  const status = await runCli(['status', '--config', config]);
  assert.match(status.stdout, /\n {2}last sync skipped \(peer not reachable\) at \d{4}-[^\n]*; 1 runs received into this node/);
  assert.doesNotMatch(status.stdout, /last sync ok/);
  // A fatal error under --quiet is stamped too (it is what cron appends to sync.log).
  const fatal = await runCli(['sync', '--quiet', '--config', join(dir, 'missing.toml')]);
  assert.match(fatal.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ resonance-sync: .*\[CONFIG_/);
  assert.ok(!existsSync(join(dir, 'x.sqlite3')));
});

test('every command has an example in its --help', async () => {
  const top = await runCli(['--help']);
  const commands = [...top.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1] as string).filter((name) => name !== 'help');
  assert.ok(commands.length >= 14, top.stdout);
  for (const name of commands) assert.ok(COMMANDS_WITH_EXAMPLES.includes(name), `${name} has examples`);
  for (const path of COMMANDS_WITH_EXAMPLES) {
    const help = await runCli([...path.split(' '), '--help']);
    assert.equal(help.code, 0, `${path}: ${help.stderr}`);
    assert.match(help.stdout, /\nExamples:\n {2}resonance-sync |\nExamples:\n {2}ssh /, path);
  }
});
