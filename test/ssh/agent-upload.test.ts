/**
 * The zero-install agent against a phone-like remote (test/support/phone-account.ts: Node 24 and
 * sqlite3 on its PATH, no resonance-sync, no compiler): the first sync uploads the single file into
 * the remote's cache over the sync's own ssh connection, the next finds it and uploads nothing; a
 * cached file that fails its hash is never run and is replaced; without Node, or with a home that
 * cannot hold the upload, the auto mode falls back to the agentless mode and says why in one line.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { agentBundle } from '../../src/transport/agent/agent-bundle.js';
import { runCli, type CliResult } from '../support/cli.js';
import { createNotesDb, insertNotes, identityCounts } from '../support/notes-db.js';
import { authorizeOnPhone, giveToPhone, phoneDir, requirePhoneAccount, runAsPhone, type PhoneAccount } from '../support/phone-account.js';
import { requireSshdOrSkip, startSshd, type SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { formatPeerUrl } from '../../src/core/peer-url.js';
import { PROTOCOL_VERSION } from '../../src/protocol/protocol.js';
import type { StatusReport } from '../../src/api/contract.js';

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
  rmSync(join(phone.home, '.cache'), { recursive: true, force: true });
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
  assert.deepEqual(readdirSync(phone.cacheDir).sort(), [bundle.cacheName, 'compile-cache'], 'no temp file left behind');
  // Node kept the agent's compiled code beside it (NODE_COMPILE_CACHE): the next start skips compiling it.
  assert.ok(readdirSync(join(phone.cacheDir, 'compile-cache')).length > 0, 'the agent compile cache was written');
  assert.equal(identityCounts(p.phoneDb).size, 2);
  // status, without connecting, says how the phone was last reached and which agent answered.
  const shown = await runCli(['status', '--config', p.config, '--json'], { env: p.env });
  assert.equal(shown.code, 0, shown.stderr);
  const contact = (JSON.parse(shown.stdout) as StatusReport).peers[0]?.contact;
  assert.equal(contact?.transport, 'ssh agent');
  assert.deepEqual(contact?.agent, { source: 'uploaded', path: cached, version: bundle.version });
  const text = await runCli(['status', '--config', p.config], { env: p.env });
  assert.match(
    text.stdout,
    new RegExp(`last reached from here by ssh agent \\(uploaded agent ${bundle.version.replaceAll('.', '\\.')} at `),
  );

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

test('a cached agent that fails its hash is never run: it is deleted and replaced by a fresh upload', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  const bundle = agentBundle();
  assert.equal((await sync(p)).result.code, 0);
  const cached = join(phone.cacheDir, bundle.cacheName);
  // Tampered with: would leave a mark if it ever ran.
  const mark = join(phone.home, 'tampered-agent-ran');
  writeFileSync(cached, `require('fs').writeFileSync(${JSON.stringify(mark)}, 'ran');\n`);
  const { result, peer } = await sync(p);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(existsSync(mark), false, 'the tampered file ran');
  assert.equal(peer.agent?.source, 'uploaded');
  assert.equal(peer.agent?.uploadedBytes, bundle.bytes.length);
  assert.equal(sha256(cached), bundle.sha256);
  assert.match(peer.notice ?? '', /failed its sha256 check: deleted unrun, and replaced/);
  assert.match(result.stderr, /^resonance-sync: phone: the cached agent .* failed its sha256 check/m);
});

test("the agent's compile cache never fails a sync: corrupt, then unwritable, the agent starts and syncs as before", async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  assert.equal((await sync(p)).result.code, 0);
  const compileCache = join(phone.cacheDir, 'compile-cache');
  const written = readdirSync(compileCache, { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  assert.ok(written.length > 0, 'the first sync wrote the compile cache');
  // Every cached entry garbled: Node checks what it reads and compiles afresh.
  for (const entry of written) writeFileSync(join(entry.parentPath, entry.name), 'not a code cache\n');
  insertNotes(p.main, [{ timestamp: '2025-11-30 23:00:00', content: 'after corruption', context: 'c', source: 's' }]);
  const corrupt = await sync(p);
  assert.equal(corrupt.result.code, 0, corrupt.result.stderr);
  assert.equal(corrupt.peer.transport, 'ssh agent');
  assert.equal(corrupt.result.stderr, '', 'nothing to say about it');
  // Unwritable (the phone's own account cannot write there): Node runs without a cache.
  rmSync(compileCache, { recursive: true, force: true });
  writeFileSync(compileCache, 'a file where the cache folder would go\n');
  chmodSync(phone.cacheDir, 0o500);
  t.after(() => chmodSync(phone.cacheDir, 0o700));
  insertNotes(p.main, [{ timestamp: '2025-11-30 23:00:01', content: 'cache unwritable', context: 'c', source: 's' }]);
  const unwritable = await sync(p);
  assert.equal(unwritable.result.code, 0, unwritable.result.stderr);
  assert.equal(unwritable.peer.transport, 'ssh agent');
  assert.equal(unwritable.peer.agent?.uploadedBytes, 0, 'the cached agent itself is still used');
  assert.equal(unwritable.result.stderr, '');
  assert.equal(identityCounts(p.phoneDb).size, 4);
});

test('auto mode on a remote without Node: agentless, with one line saying why', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  const node = join(phone.bin, 'node');
  renameSync(node, `${node}.away`);
  t.after(() => renameSync(`${node}.away`, node));
  const { result, peer } = await sync(p);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(peer.transport, 'ssh sqlite3');
  assert.equal(peer.agent, null);
  assert.match(
    peer.notice ?? '',
    /no usable agent \(.*no resonance-sync on its PATH and no Node\.js.*\[AGENT_MISSING\]\); syncing agentless/,
  );
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.equal(identityCounts(p.phoneDb).size, 2);
  // In agent mode the same remote fails with the reason.
  const agentOnly = await sync(p, '--mode', 'agent');
  assert.equal(agentOnly.result.code, 7);
  assert.equal(agentOnly.peer.error?.code, 'AGENT_MISSING');
});

test('a home that cannot hold the upload: auto falls back to agentless with a clear line; nothing is left behind', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  chmodSync(phone.home, 0o500);
  t.after(() => chmodSync(phone.home, 0o700));
  const { result, peer } = await sync(p);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(peer.transport, 'ssh sqlite3');
  assert.match(peer.notice ?? '', /the agent cannot be uploaded into its cache \(mkdir: .*Permission denied\)/);
  assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr);
  assert.equal(existsSync(join(phone.home, '.cache')), false);
});

test('agent_upload = false: nothing is uploaded; agent mode says so, auto mode syncs agentless', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone, 'agent_upload = false');
  const agentOnly = await sync(p, '--mode', 'agent');
  assert.equal(agentOnly.result.code, 7, agentOnly.result.stderr);
  assert.match(agentOnly.peer.error?.message ?? '', /agent_upload = false/);
  const auto = await sync(p);
  assert.equal(auto.result.code, 0, auto.result.stderr);
  assert.equal(auto.peer.transport, 'ssh sqlite3');
  assert.equal(existsSync(phone.cacheDir), false);
});

test('the user own resonance-sync on the remote PATH is used, and never overwritten', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  const own = join(phone.bin, 'resonance-sync');
  const copy = join(phone.home, 'own-resonance-sync.mjs');
  copyFileSync(agentBundle().path, copy);
  giveToPhone(phone, copy);
  writeFileSync(own, `#!/bin/sh\nexec node ${copy} "$@"\n`, { mode: 0o755 });
  t.after(() => rmSync(own, { force: true }));
  t.after(() => rmSync(copy, { force: true }));
  const before = readFileSync(own, 'utf8');
  const { result, peer } = await sync(p);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(peer.agent?.source, 'installed');
  assert.equal(peer.agent?.path, own);
  assert.equal(peer.agent?.uploadedBytes, 0);
  assert.equal(existsSync(phone.cacheDir), false);
  assert.equal(readFileSync(own, 'utf8'), before);
});

test('an own resonance-sync on the remote PATH that speaks an older protocol: ours is uploaded and used, theirs left alone', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  // What a phone upgraded later than this machine has: its install answers with the previous
  // protocol's preamble (the preamble never changes between versions), then waits for the client.
  const own = join(phone.bin, 'resonance-sync');
  writeFileSync(own, `#!/bin/sh\nprintf '\\000resonance-sync agent ${PROTOCOL_VERSION - 1} 0.0.9\\n'\nexec cat > /dev/null\n`, {
    mode: 0o755,
  });
  t.after(() => rmSync(own, { force: true }));
  const before = readFileSync(own, 'utf8');
  const { result, peer } = await sync(p);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(peer.agent?.source, 'uploaded');
  assert.ok((peer.agent?.uploadedBytes ?? 0) > 0, 'our agent was uploaded');
  assert.equal(identityCounts(p.phoneDb).size, 2);
  assert.equal(identityCounts(p.main).size, 2);
  assert.equal(readFileSync(own, 'utf8'), before);
});

test('authorize on the phone with the uploaded agent: the forced command names it, and syncs keep working', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  assert.equal((await sync(p)).result.code, 0);
  const cached = join(phone.cacheDir, agentBundle().cacheName);
  const line = runAsPhone(
    phone,
    `node ${cached} authorize --db ${p.phoneDb} --key /dev/stdin <<EOF\n${readFileSync(`${server.identityPath}.pub`, 'utf8').trim()}\nEOF`,
  ).trim();
  const forced = `'${join(phone.bin, 'node')}' '${cached}' 'serve' '--stdio' '--allow-db' '${p.phoneDb}'`;
  assert.ok(line.startsWith(`command="${forced}",restrict ssh-ed25519 `), line);
  const [options] = line.split(' ssh-ed25519 ');
  authorizeOnPhone(phone, server, options);
  t.after(() => authorizeOnPhone(phone, server));
  insertNotes(p.main, [{ timestamp: '2025-11-30 23:30:00', content: 'through the forced command', context: 'c', source: 's' }]);
  const { result, peer } = await sync(p);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(peer.agent?.source, 'forced command');
  assert.equal(peer.agent?.version, agentBundle().version);
  assert.equal(identityCounts(p.phoneDb).size, 3);
});

test('agent install, status and remove PEER: upload ahead of the first sync, report, and clean only what was uploaded', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  const bundle = agentBundle();
  const agent = async (action: string) => {
    const result = await runCli(['agent', action, 'phone', '--json', '--config', p.config], { env: p.env });
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as { node: string | null; cached: string | null; uploadedBytes: number; removed: string[] };
  };
  const cached = join(phone.cacheDir, bundle.cacheName);
  assert.equal((await agent('status')).cached, null);
  const installed = await agent('install');
  assert.equal(installed.uploadedBytes, bundle.bytes.length);
  assert.equal(installed.cached, cached);
  assert.equal((await agent('install')).uploadedBytes, 0);
  const status = await agent('status');
  assert.match(status.node ?? '', /^v24\./);
  assert.equal(status.cached, cached);
  const first = await sync(p);
  assert.equal(first.peer.agent?.uploadedBytes, 0, 'installed ahead: the first sync sends nothing');
  assert.deepEqual((await agent('remove')).removed, [cached]);
  assert.equal(existsSync(phone.cacheDir), false);
});

test('doctor says which agent the phone would run: none yet (the first sync uploads it), then the uploaded one', async (t) => {
  const ready = await setup(t);
  if (!ready) return;
  const { server, phone } = ready;
  const p = pair(t, server, phone);
  const doctor = async () => {
    const result = await runCli(['doctor', 'phone', '--json', '--config', p.config], { env: p.env });
    const report = JSON.parse(result.stdout) as { checks: Array<{ check: string; status: string; detail: string }> };
    const mode = report.checks.find((c) => c.check === 'remote mode');
    // When the check is missing, every check doctor did make says why.
    assert.ok(mode, JSON.stringify(report.checks));
    return mode;
  };
  const before = await doctor();
  assert.equal(before?.status, 'ok', before?.detail);
  assert.match(before?.detail ?? '', /none yet: the first sync uploads resonance-sync \S+ \(node v24\./);
  assert.equal((await sync(p)).result.code, 0);
  const after = await doctor();
  assert.match(after?.detail ?? '', new RegExp(`uploaded at ${join(phone.cacheDir, agentBundle().cacheName)}`));
});
