/** Config validation messages (each names the exact key) and the pure peer/node edit helpers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { addPeer, emptyConfig, findPeer, loadConfig, removePeer, saveConfig, withNode } from '../../src/config/config-file.js';
import { formatKeyPath } from '../../src/config/schema.js';
import { SyncError } from '../../src/core/errors.js';
import { tempDir } from '../support/temp.js';

function expectError(fn: () => unknown, code: string, message: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SyncError);
    assert.equal(error.code, code);
    assert.equal(error.message, message);
    return true;
  });
}

const STALL_RULE = 'must be a string of a whole number with a unit: ms, s, m, h or d (e.g. 30m, 2h, 1d), from 1s to 1d (default "1m")';

const invalidCases: [toml: string, problem: string][] = [
  [
    '[peers.selesta]\nurl = "h:x"\n[peers.selesta.push]\ninclude_context = ["a", 1]',
    'peers.selesta.push.include_context[1]: expected a string',
  ],
  ['[node]\nnaive_timestamps = "utc+2"', 'node.naive_timestamps: expected "utc" or "local"'],
  ['[node]\ndedupe = "none"', 'node.dedupe: expected "timestamp-index" or "unique-index"'],
  ['[node]\nsync_note = "yes"', 'node.sync_note: expected true or false'],
  ['[node]\nname = ""', 'node.name: must not be empty'],
  // Other nodes refuse a name of any other form, so the config cannot give one.
  [
    `[node]\nname = "Anna's phone"`,
    `node.name: ${'must start with a letter or digit, contain only letters, digits, "_", "." and "-", and be at most 255 characters'}`,
  ],
  ['[node]\ndb = "relative.sqlite3"', 'node.db: must be an absolute path or start with "~/"'],
  ['node = 1979-05-27', 'node: expected a table'],
  ['peers = ["x"]', 'peers: expected a table'],
  // The misspelt key is reported, not the "missing url" it causes.
  ['[peers.x]\nur = "h:x"', 'peers.x: unknown key "ur"'],
  ['[node]\nname = "a"\nsyncnote = true\nfoo = 1', 'node: unknown keys "syncnote", "foo"'],
  ['nodes = 1', 'unknown top-level key "nodes"'],
  ['[peers.x]\nmode = "agent"', 'peers.x.url: is required'],
  ['[peers.x]\nurl = 5', 'peers.x.url: expected a string or an array of strings'],
  ['[peers.x]\nurl = []', 'peers.x.url: must name at least one URL'],
  ['[peers.x]\nurl = ["h:x", 5]', 'peers.x.url[1]: expected a string'],
  ['[peers.x]\nurl = ["h:x", "relative.sqlite3"]', 'peers.x.url[1]: a local path in the config file must be absolute or start with "~/"'],
  ['[peers.x]\nurl = "h:x"\nmode = "rsync"', 'peers.x.mode: expected "auto", "agent" or "sqlite3"'],
  ['[peers.x]\nurl = "h:x"\nenabled = 1', 'peers.x.enabled: expected true or false'],
  ['[peers.x]\nurl = "h:x"\nremote_command = ""', 'peers.x.remote_command: must not be empty'],
  [
    '[peers.x]\nurl = "h:x"\nmode = "sqlite3"\nremote_command = "/usr/bin/sqlite3"',
    'peers.x.remote_command: remote_command names the agent only; in mode "sqlite3" name the remote sqlite3 with sqlite3_command',
  ],
  ['[peers.x]\nurl = "h:x"\nagent_upload = "no"', 'peers.x.agent_upload: expected true or false'],
  ['[peers.x]\nurl = "h:x"\npull = ["a"]', 'peers.x.pull: expected a table'],
  ['[peers.x]\nurl = "h:x"\n[peers.x.pull]\nexclude_source = [""]', 'peers.x.pull.exclude_source[0]: must not be empty'],
  [
    '[peers.x]\nurl = "h:x"\n[peers.x.push]\ninclude_source = ["a\\u0000"]',
    'peers.x.push.include_source[0]: must not contain a NUL character',
  ],
  ['[peers.x]\nurl = "h:x"\n[peers.x.push]\ninclude_contexts = []', 'peers.x.push: unknown key "include_contexts"'],
  [
    '[peers."b c"]\nurl = "h:x"',
    'peers."b c": invalid peer name; a peer name must start with a letter or digit, contain only letters, digits, "_", "." and "-", and be at most 255 characters',
  ],
  [
    `[peers.${'p'.repeat(256)}]\nurl = "h:x"`,
    `peers.${'p'.repeat(256)}: invalid peer name; a peer name ${'must start with a letter or digit, contain only letters, digits, "_", "." and "-", and be at most 255 characters'}`,
  ],
  [
    '[peers."-bad"]\nurl = "h:x"',
    'peers.-bad: invalid peer name; a peer name must start with a letter or digit, contain only letters, digits, "_", "." and "-", and be at most 255 characters',
  ],
  ['[peers.x]\nurl = "relative.sqlite3"', 'peers.x.url: a local path in the config file must be absolute or start with "~/"'],
  ['[node]\nstall_timeout = 60', `node.stall_timeout: ${STALL_RULE}, not 60`],
  ['[peers.x]\nurl = "h:x"\nstall_timeout = "500ms"', `peers.x.stall_timeout: ${STALL_RULE}, not "500ms"`],
  ['[peers.x]\nurl = "h:x"\nstall_timeout = "2d"', `peers.x.stall_timeout: ${STALL_RULE}, not "2d"`],
  ['[peers.x]\nurl = "h:x"\nstall_timeout = "soon"', `peers.x.stall_timeout: ${STALL_RULE}, not "soon"`],
];

test('each validation error names the key path', (t) => {
  const path = join(tempDir(t), 'config.toml');
  for (const [toml, problem] of invalidCases) {
    writeFileSync(path, toml);
    expectError(() => loadConfig(path, { mustExist: true }), 'CONFIG_INVALID', `${path}: ${problem}`);
  }
});

test('a bad peer URL in the file reports the key and the URL problem', (t) => {
  const path = join(tempDir(t), 'config.toml');
  writeFileSync(path, '[peers.evil]\nurl = "-oProxyCommand=x:db"\n');
  assert.throws(
    () => loadConfig(path, { mustExist: true }),
    (error: unknown) =>
      error instanceof SyncError &&
      error.code === 'CONFIG_INVALID' &&
      error.message.startsWith(`${path}: peers.evil.url: invalid peer URL "-oProxyCommand=x:db": the host must not start with "-"`),
  );
});

test('valid local peer URLs in the file: absolute, ~ and file:///', (t) => {
  const path = join(tempDir(t), 'config.toml');
  writeFileSync(path, '[peers.a]\nurl = "/x.db"\n[peers.b]\nurl = "~/y.db"\n[peers.c]\nurl = "file:///z%20z.db"\n');
  const peers = loadConfig(path, { mustExist: true }).peers;
  assert.deepEqual(
    peers.map((p) => p.name),
    ['a', 'b', 'c'],
  );
  assert.deepEqual(peers[2]?.location, { kind: 'local', path: '/z z.db' });
});

test('stall_timeout: globally in [node], per peer over it, absent by default, and kept when the file is rewritten', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'config.toml');
  writeFileSync(path, '[node]\nstall_timeout = "90s"\n[peers.phone]\nurl = "h:x"\nstall_timeout = "2m"\n[peers.laptop]\nurl = "h:y"\n');
  const config = loadConfig(path, { mustExist: true });
  assert.equal(config.node.stallTimeoutMs, 90_000);
  assert.deepEqual(
    config.peers.map((p) => [p.name, p.stallTimeoutMs]),
    [
      ['phone', 120_000],
      ['laptop', undefined],
    ],
  );
  // `peer add` rewrites the whole file: the keys must survive it.
  const copy = join(dir, 'copy.toml');
  saveConfig(copy, addPeer(config, { name: 'usb', url: '/media/usb/r.sqlite3' }));
  const again = loadConfig(copy, { mustExist: true });
  assert.equal(again.node.stallTimeoutMs, 90_000);
  assert.deepEqual(
    again.peers.map((p) => [p.name, p.stallTimeoutMs]),
    [
      ['phone', 120_000],
      ['laptop', undefined],
      ['usb', undefined],
    ],
  );
  assert.match(readFileSync(copy, 'utf8'), /stall_timeout = "2m"/);
  writeFileSync(path, '[node]\nname = "a"\n');
  assert.equal(loadConfig(path, { mustExist: true }).node.stallTimeoutMs, undefined);
});

test('formatKeyPath quotes keys that are not bare TOML keys', () => {
  assert.equal(formatKeyPath(['peers', 'my.peer', 'push', 'include_context', 0]), 'peers."my.peer".push.include_context[0]');
  assert.equal(formatKeyPath([]), '');
});

test('addPeer appends with defaults, rejects duplicates and bad input', () => {
  const config = addPeer(emptyConfig(), { name: 'phone', url: 'phone:r.sqlite3', push: { includeContext: ['a*'] } });
  assert.equal(config.peers.length, 1);
  assert.deepEqual(config.peers[0]?.push, { includeContext: ['a*'], excludeContext: [], includeSource: [], excludeSource: [] });
  assert.equal(config.peers[0]?.mode, 'auto');
  assert.equal(config.peers[0]?.enabled, true);
  assert.deepEqual(emptyConfig().peers, [], 'the input config is not mutated');
  expectError(
    () => addPeer(config, { name: 'phone', url: 'x:y' }),
    'PEER_EXISTS',
    'peer "phone" already exists; change it with `resonance-sync peer set phone`, or pick another name',
  );
  expectError(
    () => addPeer(config, { name: '.hidden', url: 'x:y' }),
    'USAGE',
    'invalid peer name ".hidden"; a peer name must start with a letter or digit, contain only letters, digits, "_", "." and "-", and be at most 255 characters',
  );
  expectError(
    () => addPeer(config, { name: 'p', url: 'x:y', pull: { excludeSource: [''] } }),
    'USAGE',
    'invalid pattern "": patterns must be non-empty and contain no NUL',
  );
  assert.throws(
    () => addPeer(config, { name: 'p', url: '$(id):x' }),
    (e: unknown) => e instanceof SyncError && e.code === 'PEER_URL_INVALID',
  );
  // A relative local path is pinned to where the command ran.
  assert.equal(addPeer(config, { name: 'l', url: './o.sqlite3' }).peers[1]?.url, resolve('o.sqlite3'));
});

test('findPeer and removePeer report unknown peers with the known names', () => {
  const config = addPeer(addPeer(emptyConfig(), { name: 'a', url: 'h:x' }), { name: 'b', url: 'h:y' });
  assert.equal(findPeer(config, 'b').url, 'h:y');
  expectError(() => findPeer(config, 'c'), 'PEER_UNKNOWN', 'unknown peer "c"; known peers: a, b');
  expectError(
    () => findPeer(emptyConfig(), 'c'),
    'PEER_UNKNOWN',
    'unknown peer "c"; no peers are configured; add one with `resonance-sync peer add NAME URL`',
  );
  assert.deepEqual(
    removePeer(config, 'a').peers.map((p) => p.name),
    ['b'],
  );
  assert.equal(config.peers.length, 2, 'the input config is not mutated');
  expectError(() => removePeer(config, 'zz'), 'PEER_UNKNOWN', 'unknown peer "zz"; known peers: a, b');
  // A typo of a longer name is answered with the nearest names.
  const named = addPeer(addPeer(emptyConfig(), { name: 'selesta', url: 'h:x' }), { name: 'laptop', url: 'h:y' });
  expectError(
    () => findPeer(named, 'selsta'),
    'PEER_UNKNOWN',
    'unknown peer "selsta"; did you mean selesta? (known peers: selesta, laptop)',
  );
  expectError(
    () => findPeer(named, 'Lpatop'),
    'PEER_UNKNOWN',
    'unknown peer "Lpatop"; did you mean laptop? (known peers: selesta, laptop)',
  );
});

test('withNode sets name and an absolute db, leaving the rest', () => {
  const config = withNode(emptyConfig(), { name: 'n1', db: 'rel/r.sqlite3' });
  assert.equal(config.node.name, 'n1');
  assert.equal(config.node.db, resolve('rel/r.sqlite3'));
  assert.equal(withNode(config, { name: 'n2' }).node.db, resolve('rel/r.sqlite3'));
  assert.equal(emptyConfig().node.name, undefined);
  expectError(() => withNode(config, { name: '' }), 'USAGE', 'the node name must not be empty');
  expectError(() => withNode(config, { db: '' }), 'USAGE', 'the database path must not be empty');
});
