/**
 * The zero-install agent against a phone-like remote (test/support/phone-account.ts: Node 24 and
 * sqlite3 on its PATH, no resonance-sync, no compiler): the first sync uploads the single file into
 * the remote's cache over the sync's own ssh connection, the next finds it and uploads nothing; a
 * cached file that fails its hash is never run and is replaced; without Node, or with a home that
 * cannot hold the upload, the auto mode falls back to the agentless mode and says why in one line.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { agentBundle } from '../../src/transport/agent/agent-bundle.js';
import { runCli, type CliResult } from '../support/cli.js';
import { createNotesDb, insertNotes, identityCounts } from '../support/notes-db.js';
import { authorizeOnPhone, giveToPhone, phoneDir, requirePhoneAccount, runAsPhone, type PhoneAccount } from '../support/phone-account.js';
import { requireSshdOrSkip, startSshd, type SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { formatPeerUrl } from '../../src/core/peer-url.js';

let shared: Promise<{ server: SshServer; phone: PhoneAccount }> | undefined;
after(async () => (await shared)?.server.stop());

async function setup(t: TestContext): Promise<{ server: SshServer; phone: PhoneAccount } | undefined> {
  if (!requireSshdOrSkip(t)) return undefined;
  const phone = requirePhoneAccount(t);
  if (!phone) return undefined;
  shared ??= startSshd({ extraUsers: [{ name: phone.user, path: phone.bin }] }).then((server) => {
    authorizeOnPhone(phone, server);
    return { server, phone };
  });
  const ready = await shared;
  // Every test starts from a phone that has never seen the agent.
  runAsPhone(phone, `rm -rf ${phone.cacheDir}`);
  return ready;
}

interface Pair {
  dir: string;
  main: string;
  phoneDb: string;
  config: string;
  env: NodeJS.ProcessEnv;
  sshLog: string;
}

function pair(t: TestContext, server: SshServer, phone: PhoneAccount, extra = ''): Pair {
  const dir = tempDir(t);
  const remote = phoneDir(t, phone, 'notes');
  const main = createNotesDb(dir, 'main.sqlite3');
  const phoneDb = createNotesDb(remote, 'phone.sqlite3');
  giveToPhone(phone, phoneDb);
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'c', source: 's' }]);
  insertNotes(phoneDb, [{ timestamp: '2025-11-30 22:00:01', content: 'from phone', context: 'c', source: 's' }]);
  const url = formatPeerUrl({ kind: 'ssh', user: phone.user, host: server.host, port: server.port, path: phoneDb, homeRelative: false });
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    `[node]\nname = "main"\ndb = ${JSON.stringify(main)}\nsync_note = false\n\n[peers.phone]\nurl = ${JSON.stringify(url)}\n${extra}\n`,
  );
  const sshLog = join(dir, 'ssh.log');
  // ssh counts the bytes of the whole connection (handshake included) in its VERBOSE log.
  const env = { ...server.env, RESONANCE_SYNC_SSH: `ssh -F ${server.sshConfigPath} -o LogLevel=VERBOSE -E ${sshLog}` };
  return { dir, main, phoneDb, config, env, sshLog };
}

interface PeerJson {
  ok: boolean;
  transport: string | null;
  error: { code: string; message: string } | null;
  agent: { source: string; path: string | null; version: string | null; uploadedBytes: number } | null;
  notice: string | null;
}

async function sync(p: Pair, ...args: string[]): Promise<{ result: CliResult; peer: PeerJson; wire: number }> {
  writeFileSync(p.sshLog, '');
  const result = await runCli(['sync', '--config', p.config, '--json', ...args], { env: p.env });
  const parsed = JSON.parse(result.stdout || '{"peers":[]}') as { peers: PeerJson[] };
  const peer = parsed.peers[0] as PeerJson;
  // "Transferred: sent N, received M bytes": the last ssh of this run.
  const transferred = [...readFileSync(p.sshLog, 'utf8').matchAll(/Transferred: sent (\d+), received (\d+) bytes/g)].at(-1);
  const wire = transferred ? Number(transferred[1]) + Number(transferred[2]) : Number.NaN;
  return { result, peer, wire };
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

test('first contact uploads the agent into the phone cache, privately and verified; the next sync finds it and uploads nothing', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  const bundle = agentBundle();

  const first = await sync(p);
  assert.equal(first.result.code, 0, first.result.stderr);
  assert.equal(first.peer.transport, 'ssh agent');
  assert.equal(first.peer.agent?.source, 'uploaded');
  assert.equal(first.peer.agent?.uploadedBytes, bundle.bytes.length);
  assert.equal(first.peer.agent?.version, bundle.version);
  const cached = join(phone.cacheDir, bundle.cacheName);
  assert.equal(first.peer.agent?.path, cached);
  assert.equal(sha256(cached), bundle.sha256);
  assert.equal(statSync(cached).mode & 0o777, 0o600);
  assert.equal(statSync(phone.cacheDir).mode & 0o777, 0o700);
  assert.equal(statSync(cached).uid, phone.uid);
  assert.deepEqual(readdirSync(phone.cacheDir), [bundle.cacheName], 'no temp file left behind');
  assert.equal(identityCounts(p.phoneDb).size, 2);

  insertNotes(p.main, [{ timestamp: '2025-11-30 23:00:00', content: 'second', context: 'c', source: 's' }]);
  const second = await sync(p);
  assert.equal(second.result.code, 0, second.result.stderr);
  assert.equal(second.peer.agent?.source, 'uploaded');
  assert.equal(second.peer.agent?.uploadedBytes, 0);
  assert.equal(identityCounts(p.phoneDb).size, 3);
  t.diagnostic(
    `bytes on the wire: first sync ${first.wire} (agent ${bundle.bytes.length}), second ${second.wire}; one ssh connection each`,
  );
  assert.ok(first.wire > bundle.bytes.length, `first ${first.wire}`);
  assert.ok(second.wire < 40_000, `second ${second.wire}`);
});
