import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { formatPeerUrl } from '../../src/core/peer-url.js';
import { shellQuote } from '../../src/transport/ssh/ssh-command.js';
import { closedPort, fakeCrontab, writeScript } from '../fixtures/unattended-support.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { requireSshdOrSkip, startSshd, type SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';

let shared: Promise<SshServer> | undefined;
after(async () => (await shared)?.stop());
async function sshd(t: TestContext): Promise<SshServer | undefined> {
  if (!requireSshdOrSkip(t)) return undefined;
  shared ??= startSshd();
  return shared;
}

const AGENT = `${shellQuote(process.execPath)} ${shellQuote(CLI_PATH)}`;

function sshUrl(server: SshServer, path: string): string {
  return formatPeerUrl({ kind: 'ssh', user: server.user, host: server.host, port: server.port, path, homeRelative: false });
}

function writeConfig(dir: string, db: string, peers: Array<{ name: string; url: string; remoteCommand?: string; mode?: string }>): string {
  const lines = ['[node]', 'name = "main_device"', `db = ${JSON.stringify(db)}`, ''];
  for (const peer of peers) {
    lines.push(`[peers.${peer.name}]`, `url = ${JSON.stringify(peer.url)}`);
    if (peer.remoteCommand) lines.push(`remote_command = ${JSON.stringify(peer.remoteCommand)}`);
    if (peer.mode) lines.push(`mode = ${JSON.stringify(peer.mode)}`);
    lines.push('');
  }
  const path = join(dir, 'config.toml');
  writeFileSync(path, lines.join('\n'));
  return path;
}

/** The check lines (all but the summary), looked up by subject, e.g. "phone: ssh". */
function checks(stdout: string): { get(subject: string): string | undefined } {
  const lines = stdout.trimEnd().split('\n').slice(0, -1);
  for (const line of lines) assert.match(line, /^(ok|warn|FAIL|skip) +\S/, 'every line is a check');
  return { get: (subject) => lines.find((line) => line.replace(/^\S+ +/, '').startsWith(`${subject}: `)) };
}

test('doctor on a healthy setup: every check passes, one line each, exit 0', async (t) => {
  const server = await sshd(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const laptop = createNotesDb(dir, 'laptop');
  const phone = createNotesDb(dir, 'phone', 'a');
  withDb(main, (db) => db.exec('PRAGMA journal_mode = WAL'));
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'x', source: 's' }]);
  const config = writeConfig(dir, main, [
    { name: 'laptop', url: laptop },
    { name: 'phone', url: sshUrl(server, phone), remoteCommand: AGENT },
  ]);
  assert.equal((await runCli(['init', '--config', config])).code, 0);
  const env = { ...server.env, RESONANCE_SYNC_CRONTAB: fakeCrontab(dir, join(dir, 'crontab.txt')) };
  assert.equal((await runCli(['schedule', 'install', '--config', config], { env })).code, 0);

  const result = await runCli(['doctor', '--config', config], { env });
  assert.equal(result.code, 0, result.stdout + result.stderr);
  assert.equal(result.stderr, '');
  assert.doesNotMatch(result.stdout, /^FAIL/m);
  const lines = checks(result.stdout);
  for (const name of [
    'config',
    'database',
    'journal mode',
    'identity',
    'dedupe',
    'duplicates',
    'laptop: database',
    'laptop: identity',
    'phone: ssh',
    'phone: remote mode',
    'phone: remote database',
    'phone: clock skew',
    'schedule',
  ]) {
    assert.match(lines.get(name) ?? '(missing)', /^ok /, `${name}: ${lines.get(name)}`);
  }
  assert.match(lines.get('phone: remote mode') ?? '', /mode auto: agent resonance-sync.*; sqlite3 3\.\d+/);
  assert.match(lines.get('phone: remote database') ?? '', /has resonance_notes/);
  assert.match(lines.get('schedule') ?? '', /every 2h \(0 \*\/2 \* \* \*\) via cron/);
  assert.match(result.stdout, /\n(all checks passed|\d+ warnings?)\n$/);

  const json = JSON.parse((await runCli(['doctor', 'phone', '--json', '--config', config], { env })).stdout);
  assert.equal(json.ok, true);
  assert.deepEqual(
    json.checks.filter((c: { peer?: string }) => c.peer !== undefined).map((c: { check: string }) => c.check),
    ['ssh', 'remote mode', 'remote database', 'clock skew'],
    'doctor PEER checks only that peer',
  );
});

test('doctor on a broken setup: each problem on its own line with its code and a fix; exit code of the mix', async (t) => {
  const server = await sshd(t);
  if (!server) return;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  insertNotes(main, [
    { timestamp: '2025-11-30 22:00:00', content: 'twice', source: null },
    { timestamp: '2025-11-30 22:00:00', content: 'twice', source: null },
  ]);
  const laptop = join(dir, 'laptop.sqlite3');
  writeFileSync(laptop, 'this is not a database, just text that is long enough to not be empty.'.repeat(20));
  const notes = join(dir, 'other.sqlite3');
  withDb(createNotesDb(dir, 'other'), (db) => db.exec('DROP TABLE resonance_notes; CREATE TABLE t (x)'));
  const config = writeConfig(dir, main, [
    { name: 'laptop', url: laptop },
    { name: 'asleep', url: `ssh://127.0.0.1:${await closedPort()}/x.sqlite3` },
    { name: 'wrongpath', url: sshUrl(server, join(dir, 'nowhere.sqlite3')), remoteCommand: AGENT },
    { name: 'noagent', url: sshUrl(server, main), remoteCommand: '/nonexistent/bin/resonance-sync', mode: 'agent' },
    { name: 'agentless', url: sshUrl(server, main), remoteCommand: '/nonexistent/bin/resonance-sync' },
    { name: 'nonotes', url: sshUrl(server, notes), remoteCommand: AGENT },
  ]);
  assert.equal((await runCli(['init', '--config', config])).code, 0);
  withDb(main, (db) => db.exec('DROP INDEX resonance_sync_timestamp_idx'));
  const crontab = join(dir, 'crontab.txt');
  writeFileSync(
    crontab,
    `0 */2 * * * PATH='/bin' '/nonexistent/node' '${CLI_PATH}' sync --quiet --config '${config}' >> '/tmp/x.log' 2>&1 # resonance-sync config=${config}\n`,
  );
  const env = { ...server.env, RESONANCE_SYNC_CRONTAB: fakeCrontab(dir, crontab) };

  const result = await runCli(['doctor', '--config', config], { env });
  assert.equal(result.code, 8, 'failures of several kinds');
  const lines = checks(result.stdout);
  const expect = (name: string, pattern: RegExp) => assert.match(lines.get(name) ?? '(missing)', pattern, name);
  expect('duplicates', /^warn .*1 extra copies in 1 groups were already there/);
  expect('dedupe', /^FAIL .*index resonance_sync_timestamp_idx is missing.*\[DB_NOT_INITIALIZED\] — fix: resonance-sync init --db /);
  expect('laptop: database', /^FAIL .*not a SQLite database.*\[DB_NOT_SQLITE\]/);
  expect('asleep: ssh', /^FAIL .*127\.0\.0\.1:\d+ is unreachable.*Connection refused.*\[PEER_UNREACHABLE\]/);
  expect('asleep: remote checks', /^skip .*no ssh login/);
  expect('wrongpath: ssh', /^ok /);
  expect('wrongpath: remote database', /^FAIL .*no file .*nowhere\.sqlite3 on .*\[DB_NOT_FOUND\] — fix: check the peer URL/);
  expect(
    'noagent: remote mode',
    /^FAIL .*no agent \(\/nonexistent\/bin\/resonance-sync: not found\); sqlite3 3\..*\[AGENT_MISSING\] — fix: check remote_command for this peer/,
  );
  // auto without an agent syncs over sqlite3: healthy, with a word on the faster agent.
  expect('agentless: remote mode', /^ok .*mode auto: no agent .*; sqlite3 3\..*syncs agentless \(sqlite3\); the agent would be faster/);
  expect('nonotes: remote database', /^FAIL .*has no resonance_notes table \[DB_NO_NOTES_TABLE\]/);
  expect('schedule', /^FAIL .*runs \/nonexistent\/node, which no longer exist.*\[NO_SCHEDULER\] — fix: resonance-sync schedule install/);
  assert.match(result.stdout, /\n\d+ problems, \d+ warnings?\n$/);
});

test('doctor: clock skew between the devices, and a config it cannot read', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  // An ssh stand-in that runs the command here, with a `date` three hours ahead on its PATH.
  const bin = join(dir, 'skewed-bin');
  mkdirSync(bin);
  writeScript(bin, 'date', 'echo $(( $(/bin/date -u +%s) + 10800 ))');
  const ssh = writeScript(dir, 'skewed-ssh', `PATH='${bin}':$PATH; export PATH\nfor last; do :; done\nexec sh -c "$last"`);
  const config = writeConfig(dir, main, [
    { name: 'phone', url: `ssh://phone.invalid${phone}`, remoteCommand: AGENT },
    { name: 'asleep', url: `ssh://127.0.0.1:${await closedPort()}/x.sqlite3` },
  ]);
  assert.equal((await runCli(['init', '--db', main, '--config', config])).code, 0);
  const env = { RESONANCE_SYNC_SSH: ssh, RESONANCE_SYNC_CRONTAB: join(dir, 'no-crontab') };
  const result = await runCli(['doctor', 'phone', '--config', config], { env });
  assert.equal(result.code, 0, result.stdout);
  assert.match(
    result.stdout,
    /^warn {2}phone: clock skew: the remote clock is 3h 0m ahead of this one .* — fix: turn on automatic date and time/m,
  );

  const unreachable = await runCli(['doctor', 'asleep', '--config', config], { env: { ...env, RESONANCE_SYNC_SSH: 'ssh -F none' } });
  assert.equal(unreachable.code, 6, 'one kind of failure: its own exit code');
  assert.match(unreachable.stdout, /^FAIL {2}asleep: ssh: .*unreachable.*\[PEER_UNREACHABLE\]$/m);
  assert.match(unreachable.stdout, /^warn {2}schedule: there is no crontab program here/m);

  const quiet = await runCli(['doctor', 'phone', '--quiet', '--config', config], {
    env: { ...env, RESONANCE_SYNC_CRONTAB: fakeCrontab(dir, join(dir, 'crontab.txt')) },
  });
  assert.equal(quiet.stdout, '', '--quiet prints only failures, and there are none');

  const broken = join(dir, 'broken.toml');
  writeFileSync(broken, '[node\nname = ');
  const bad = await runCli(['doctor', '--config', broken], { env });
  assert.equal(bad.code, 3);
  assert.match(bad.stdout, /^FAIL {2}config: .*broken\.toml:1:\d+: .*\[CONFIG_INVALID\] — fix: /m);
  const unknown = await runCli(['doctor', 'nobody', '--config', config], { env });
  assert.equal(unknown.code, 3);
  assert.match(unknown.stdout, /^FAIL {2}peer: unknown peer "nobody"; known peers: phone, asleep \[PEER_UNKNOWN\]$/m);
});
