/**
 * Pairing end to end, as a new user would do it, against the real test sshd and the phone-like account
 * (Node 24, no resonance-sync but the single file it was given, as after `npm install -g` in Termux):
 * `pair --show` runs AS the phone account and prints a token; `pair TOKEN --name phone` runs on the
 * "desktop" with HOME in a temp folder (the real ~/.ssh is never touched) and plain `ssh -F /dev/null`
 * (no test ssh config: the pinned host key and the dedicated key must carry the whole login). The line
 * it prints runs on the phone, and then `sync phone` works under StrictHostKeyChecking through the
 * forced command; a different host key is refused.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/config-file.js';
import { agentBundlePath } from '../../src/transport/agent/agent-bundle.js';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes } from '../support/notes-db.js';
import { giveToPhone, phoneDir, requirePhoneAccount, runAsPhone, type PhoneAccount } from '../support/phone-account.js';
import { requireSshdOrSkip, startSshd, type SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { writeScript } from './fixtures.js';
import { encodeForTest } from '../unit/pair-token-fixtures.js';

let shared: Promise<{ server: SshServer; phone: PhoneAccount }> | undefined;
after(async () => (await shared)?.server.stop());

async function setup(t: TestContext): Promise<{ server: SshServer; phone: PhoneAccount } | undefined> {
  if (!requireSshdOrSkip(t)) return undefined;
  const phone = requirePhoneAccount(t);
  if (!phone) return undefined;
  shared ??= startSshd({ extraUsers: [{ name: phone.user, path: phone.bin }] }).then((server) => ({ server, phone }));
  const ready = await shared;
  // A phone that has authorized nothing yet.
  rmSync(join(phone.home, '.ssh'), { recursive: true, force: true });
  return ready;
}

/** The phone: its database, its sshd's host key (readable by it), and resonance-sync on its PATH. */
function preparePhone(t: TestContext, server: SshServer, phone: PhoneAccount): { dir: string; db: string; path: string } {
  const dir = phoneDir(t, phone, 'pairing');
  const db = createNotesDb(dir, 'phone');
  insertNotes(db, [
    { timestamp: '2025-11-30 22:00:01', content: 'from the phone', context: 'maternal_conversation', source: 's' },
    { timestamp: '2025-11-30 22:00:02', content: 'scratch on the phone', context: 'scratch', source: 's' },
  ]);
  giveToPhone(phone, db);
  copyFileSync(join(server.dir, 'ssh_host_ed25519_key.pub'), join(dir, 'host_key.pub'));
  giveToPhone(phone, join(dir, 'host_key.pub'));
  copyFileSync(agentBundlePath(), join(dir, 'resonance-sync.mjs'));
  giveToPhone(phone, join(dir, 'resonance-sync.mjs'));
  writeScript(join(dir, 'bin'), 'resonance-sync', `exec node ${join(dir, 'resonance-sync.mjs')} "$@"`);
  giveToPhone(phone, join(dir, 'bin'));
  return { dir, db, path: `${join(dir, 'bin')}:${phone.bin}` };
}

function desktop(t: TestContext): { home: string; main: string; config: string; env: NodeJS.ProcessEnv } {
  const home = tempDir(t);
  const main = createNotesDb(home, 'main');
  insertNotes(main, [
    { timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'leo_development', source: 's' },
    { timestamp: '2025-11-30 22:00:03', content: 'main only', context: 'private', source: 's' },
  ]);
  const config = join(home, 'config.toml');
  writeFileSync(config, `[node]\nname = "main"\ndb = ${JSON.stringify(main)}\nsync_note = false\n`);
  // `ssh -F /dev/null`: no test ssh config, so nothing but what pair wrote lets ssh in.
  const env = { HOME: home, RESONANCE_SYNC_CONFIG: config, RESONANCE_SYNC_SSH: 'ssh -F /dev/null' };
  return { home, main, config, env };
}

test('pair --show on the phone, pair TOKEN on the desktop, the printed line on the phone: then sync works, host key pinned', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = preparePhone(t, server, phone);
  const d = desktop(t);

  const token = runAsPhone(
    phone,
    `PATH=${p.path}; resonance-sync pair --show --db ~/pairing/phone.sqlite3 --host-key ~/pairing/host_key.pub --port ${server.port} --address 127.0.0.1 --name selesta`,
  ).trim();
  assert.match(token, /^rspair1:[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{8}$/, 'one line: the token alone when stdout is no terminal');

  const init = await runCli(['init', '--db', d.main, '--node', 'main'], { env: d.env });
  assert.equal(init.code, 0, init.stderr);
  const paired = await runCli(['pair', token, '--name', 'phone'], { env: d.env });
  assert.equal(paired.code, 0, paired.stderr);
  assert.equal(paired.stderr, '');
  // The host key, pinned under the peer's alias in resonance-sync's own known-hosts file.
  const hostKey = readFileSync(join(server.dir, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const knownHosts = join(d.home, '.ssh', 'resonance-sync_known_hosts');
  assert.equal(readFileSync(knownHosts, 'utf8'), `resonance-sync.phone ${hostKey}\n`);
  assert.equal(statSync(knownHosts).mode & 0o777, 0o600);
  // A dedicated key without passphrase, said so.
  const key = join(d.home, '.ssh', 'resonance-sync_ed25519');
  assert.equal(statSync(key).mode & 0o777, 0o600);
  assert.match(paired.stdout, /created a key without passphrase for unattended syncs: ~\/\.ssh\/resonance-sync_ed25519/);
  // The peer, with the seed routes and its own ssh settings.
  const peer = loadConfig(d.config, { mustExist: true }).peers.find((x) => x.name === 'phone');
  assert.ok(peer);
  assert.equal(peer.url, `ssh://${phone.user}@127.0.0.1:${server.port}/~/pairing/phone.sqlite3`);
  assert.deepEqual(
    { identityFile: peer.identityFile, knownHostsFile: peer.knownHostsFile, hostKeyAlias: peer.hostKeyAlias },
    {
      identityFile: '~/.ssh/resonance-sync_ed25519',
      knownHostsFile: '~/.ssh/resonance-sync_known_hosts',
      hostKeyAlias: 'resonance-sync.phone',
    },
  );
  assert.deepEqual(peer.pull.includeContext, ['maternal*', 'config*']);
  // Not authorized yet: the preview says so and how to run it later.
  assert.match(
    paired.stdout,
    /The preview did not run yet: .*\[AUTH_FAILED\]\nOnce the line above ran on the phone, preview with: resonance-sync sync phone --dry-run\n$/,
  );

  const publicKey = readFileSync(`${key}.pub`, 'utf8').trim();
  const line = /^ {2}(resonance-sync authorize .*)$/m.exec(paired.stdout)?.[1];
  assert.equal(line, `resonance-sync authorize --db '~/pairing/phone.sqlite3' --public-key '${publicKey}' --install`);

  const installed = runAsPhone(phone, `PATH=${p.path}; ${line}`);
  assert.match(
    installed,
    /^added the key to \/home\/rs-phone\/\.ssh\/authorized_keys: it may only sync \/home\/rs-phone\/pairing\/phone\.sqlite3\n$/,
  );
  const authorized = readFileSync(join(phone.home, '.ssh', 'authorized_keys'), 'utf8');
  assert.match(
    authorized,
    /^command=".*'serve' '--stdio' '--allow-db' '\/home\/rs-phone\/pairing\/phone\.sqlite3'",restrict ssh-ed25519 \S+ resonance-sync@\S+\n$/,
  );
  assert.equal(statSync(join(phone.home, '.ssh', 'authorized_keys')).uid, phone.uid);
  // Again: the key's line is replaced, never doubled (sshd would use the first).
  runAsPhone(phone, `PATH=${p.path}; ${line}`);
  assert.equal(readFileSync(join(phone.home, '.ssh', 'authorized_keys'), 'utf8'), authorized);

  // First contact: the phone's database was never prepared, and the preview still runs, writing nothing.
  const mainRows = allRows(d.main).length;
  const preview = await runCli(['sync', 'phone', '--dry-run'], { env: d.env });
  assert.equal(preview.code, 0, preview.stderr);
  assert.match(preview.stdout, /dry run: nothing written/);
  assert.match(preview.stdout, /pull phone -> main: would add \d+/);
  assert.equal(allRows(d.main).length, mainRows, 'the preview wrote nothing here');

  const synced = await runCli(['sync', 'phone', '--json'], { env: d.env });
  assert.equal(synced.code, 0, synced.stderr);
  const report = JSON.parse(synced.stdout) as { peers: Array<{ transport: string; agent: { source: string } | null }> };
  assert.equal(report.peers[0]?.transport, 'ssh agent');
  assert.equal(report.peers[0]?.agent?.source, 'forced command');
  const contents = (db: string) =>
    allRows(db)
      .map((row) => String(row.content))
      .sort();
  assert.deepEqual(contents(d.main), ['from main', 'from the phone', 'main only']);
  assert.deepEqual(contents(p.db), ['from main', 'from the phone', 'scratch on the phone']);

  // Pairing again (another name, same phone): the key is reused, and with it authorized the preview runs.
  const again = await runCli(['pair', token, '--name', 'phone2'], { env: d.env });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /syncing with the key ~\/\.ssh\/resonance-sync_ed25519\n/);
  assert.match(
    again.stdout,
    /Preview of the first sync \(resonance-sync sync phone2 --dry-run\): nothing was written\n[\s\S]*Sync for real with: resonance-sync sync phone2\n$/,
  );
  assert.equal(readFileSync(knownHosts, 'utf8'), `resonance-sync.phone ${hostKey}\nresonance-sync.phone2 ${hostKey}\n`);
  assert.equal(allRows(d.main).length, 3, 'the preview wrote nothing');

  // The pin holds: another key for the alias and the sync refuses the host.
  writeFileSync(knownHosts, `resonance-sync.phone ${readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`);
  const spoofed = await runCli(['sync', 'phone'], { env: d.env });
  assert.equal(spoofed.code, 7, spoofed.stderr);
  assert.match(spoofed.stderr, /\[HOST_KEY_CHANGED\]\n$/);
});

test('a damaged token or one carrying ssh options or shell text is refused in one line, and nothing is written', async (t) => {
  const home = tempDir(t);
  const env = { HOME: home, RESONANCE_SYNC_CONFIG: join(home, 'config.toml') };
  const good = encodeForTest({});
  const cases: Array<[string, RegExp]> = [
    [`${good.slice(0, 20)}${good[20] === 'A' ? 'B' : 'A'}${good.slice(21)}`, /checksum does not match/],
    [good.slice(0, -3), /damaged or cut short/],
    [encodeForTest({ u: '-oProxyCommand=touch /tmp/x' }), /user name must not start with "-"/],
    [encodeForTest({ u: 'u;id' }), /user name may only contain/],
    [encodeForTest({ h: ['127.0.0.1 -oProxyCommand=x'] }), /the host may only contain/],
    [encodeForTest({ h: ['-oProxyCommand=x'] }), /host must not start with "-"/],
    [encodeForTest({ h: ['a@b'] }), /the host may only contain/],
    [encodeForTest({ d: '~/x\nssh-ed25519 AAAA evil' }), /control character/],
    [encodeForTest({ d: 'relative.sqlite3' }), /absolute or start with "~\/"/],
    [encodeForTest({ n: '../x' }), /node name/],
    [encodeForTest({ k: ['ssh-ed25519 AAAA\nevil'] }), /host key/],
    [encodeForTest({ extra: 1 } as never), /unknown fields "extra"/],
  ];
  for (const [token, expected] of cases) {
    const result = await runCli(['pair', token, '--no-preview'], { env });
    assert.equal(result.code, 2, `${token}: ${result.stderr}`);
    assert.match(result.stderr, expected);
    assert.match(result.stderr, /^resonance-sync: invalid pairing token: [^\n]*\[PAIR_TOKEN_INVALID\]\n$/);
    assert.equal(existsSync(join(home, '.ssh')), false, 'no key or known_hosts written');
    assert.equal(existsSync(join(home, 'config.toml')), false, 'no config written');
  }
});

test('a database path full of quotes and shell syntax is data: the line for the phone quotes it word for word', async (t) => {
  const home = tempDir(t);
  const env = { HOME: home, RESONANCE_SYNC_CONFIG: join(home, 'config.toml') };
  const marker = join(home, 'pwned');
  const db = `~/it's "x" $(touch ${marker}); \`id\`.sqlite3`;
  const result = await runCli(['pair', encodeForTest({ d: db }), '--no-preview'], { env });
  assert.equal(result.code, 0, result.stderr);
  const line = /^ {2}resonance-sync (authorize .*)$/m.exec(result.stdout)?.[1];
  assert.ok(line);
  const words = execFileSync('sh', ['-c', `printf '%s\\n' ${line}`], { encoding: 'utf8' })
    .split('\n')
    .slice(0, -1);
  const publicKey = readFileSync(join(home, '.ssh', 'resonance-sync_ed25519.pub'), 'utf8').trim();
  assert.deepEqual(words, ['authorize', '--db', db, '--public-key', publicKey, '--install']);
  assert.equal(existsSync(marker), false);
  assert.equal(loadConfig(join(home, 'config.toml'), { mustExist: true }).peers[0]?.location.path, db.slice(2));
});
