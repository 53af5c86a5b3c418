/** Config file loading and saving against real files: defaults, round-trips, error messages, paths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { addPeer, defaultConfigPath, emptyConfig, loadConfig, saveConfig, withNode, type Config } from '../../src/config/config-file.js';
import { SyncError } from '../../src/core/errors.js';
import { tempDir } from '../support/temp.js';

function expectError(fn: () => unknown, code: string, message: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof SyncError);
    assert.equal(error.code, code);
    if (typeof message === 'string') assert.equal(error.message, message);
    else assert.match(error.message, message);
    assert.ok(!error.message.includes('\n'), 'one line');
    return true;
  });
}

test('defaultConfigPath: explicit variable, then XDG, then ~/.config', () => {
  assert.equal(defaultConfigPath({ RESONANCE_SYNC_CONFIG: '/etc/rs.toml', XDG_CONFIG_HOME: '/x' }), '/etc/rs.toml');
  assert.equal(defaultConfigPath({ XDG_CONFIG_HOME: '/xdg' }), '/xdg/resonance-sync/config.toml');
  assert.equal(defaultConfigPath({ HOME: '/home/me' }), '/home/me/.config/resonance-sync/config.toml');
  // A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
  assert.equal(defaultConfigPath({ HOME: '/home/me', XDG_CONFIG_HOME: 'rel' }), '/home/me/.config/resonance-sync/config.toml');
  assert.equal(defaultConfigPath({ RESONANCE_SYNC_CONFIG: '~/c.toml' }), join(homedir(), 'c.toml'));
});

test('a missing file is an empty config unless it must exist', (t) => {
  const path = join(tempDir(t), 'nope.toml');
  assert.deepEqual(loadConfig(path, { mustExist: false }), emptyConfig());
  expectError(() => loadConfig(path, { mustExist: true }), 'CONFIG_UNREADABLE', new RegExp(`${path} does not exist`));
});

test('an unreadable path is CONFIG_UNREADABLE', (t) => {
  const dir = tempDir(t);
  expectError(() => loadConfig(dir, { mustExist: false }), 'CONFIG_UNREADABLE', `cannot read config file ${dir}: EISDIR`);
  if (process.getuid?.() !== 0) {
    const path = join(dir, 'locked.toml');
    writeFileSync(path, '');
    chmodSync(path, 0o000);
    expectError(() => loadConfig(path, { mustExist: true }), 'CONFIG_UNREADABLE', /EACCES/);
  }
});

test('defaults are applied and ~ is expanded', (t) => {
  const path = join(tempDir(t), 'c.toml');
  writeFileSync(path, '[node]\nname = "main"\ndb = "~/r/r.sqlite3"\n[peers.s]\nurl = "phone:r.sqlite3"\n');
  const config = loadConfig(path, { mustExist: true });
  assert.deepEqual(config.node, {
    name: 'main',
    db: join(homedir(), 'r/r.sqlite3'),
    naiveTimestamps: 'utc',
    syncNote: true,
    dedupe: 'timestamp-index',
    onReplaced: 'ask',
  });
  const empty = { includeContext: [], excludeContext: [], includeSource: [], excludeSource: [] };
  assert.deepEqual(config.peers, [
    {
      name: 's',
      url: 'phone:r.sqlite3',
      location: { kind: 'ssh', user: undefined, host: 'phone', port: undefined, path: 'r.sqlite3', homeRelative: true },
      mode: 'auto',
      remoteCommand: undefined,
      enabled: true,
      push: empty,
      pull: empty,
    },
  ]);
});

test('on_replaced: "ask", "continue" or "refill"; anything else is refused naming the key', (t) => {
  const dir = tempDir(t);
  const good = join(dir, 'good.toml');
  writeFileSync(good, '[node]\non_replaced = "refill"\n');
  assert.equal(loadConfig(good, { mustExist: true }).node.onReplaced, 'refill');
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, '[node]\non_replaced = "always"\n');
  assert.throws(() => loadConfig(bad, { mustExist: true }), /node\.on_replaced: expected "ask", "continue" or "refill"/);
});

function fullConfig(): Config {
  let config = withNode(emptyConfig(), { name: 'main_device', db: join(homedir(), 'resonance', 'r.sqlite3') });
  config = { ...config, node: { ...config.node, naiveTimestamps: 'local', syncNote: false, dedupe: 'unique-index' } };
  config = addPeer(config, {
    name: 'selesta',
    url: 'ssh://u0_a311@192.168.1.20:8022/~/selesta/resonance.sqlite3',
    mode: 'agent',
    remoteCommand: 'node ~/resonance-sync/dist/src/cli/main.js',
    push: { includeContext: ['leo_development', 'consilium*'], excludeSource: ['tmp?'] },
    pull: { excludeContext: ['private'] },
  });
  config = addPeer(config, { name: 'laptop.2', url: '/srv/other.sqlite3' });
  config = { ...config, peers: config.peers.map((p) => (p.name === 'laptop.2' ? { ...p, enabled: false } : p)) };
  return config;
}

test('save then load round-trips, atomically, with a header and defaults left out', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'deep', 'er', 'config.toml');
  const config = fullConfig();
  saveConfig(path, config);
  assert.deepEqual(loadConfig(path, { mustExist: true }), config);
  const text = readFileSync(path, 'utf8');
  assert.match(text, /^# resonance-sync configuration/);
  assert.match(text, /db = "~\/resonance\/r.sqlite3"/);
  assert.match(text, /\[peers\."laptop\.2"\]/);
  assert.deepEqual(readdirSync(join(dir, 'deep', 'er')), ['config.toml'], 'no temp file left behind');

  const minimal = addPeer(emptyConfig(), { name: 'p', url: 'h:x' });
  saveConfig(path, minimal);
  assert.deepEqual(loadConfig(path, { mustExist: true }), minimal);
  assert.equal(
    readFileSync(path, 'utf8')
      .replace(/^#.*\n/, '')
      .trim(),
    '[peers.p]\nurl = "h:x"',
  );
  saveConfig(path, emptyConfig());
  assert.deepEqual(loadConfig(path, { mustExist: true }), emptyConfig());
});

test('saving through a symlink replaces the target, not the link', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'dotfiles'));
  writeFileSync(join(dir, 'dotfiles', 'c.toml'), '');
  symlinkSync(join(dir, 'dotfiles', 'c.toml'), join(dir, 'link.toml'));
  saveConfig(join(dir, 'link.toml'), withNode(emptyConfig(), { name: 'n' }));
  assert.match(readFileSync(join(dir, 'dotfiles', 'c.toml'), 'utf8'), /name = "n"/);
  assert.equal(loadConfig(join(dir, 'link.toml'), { mustExist: true }).node.name, 'n');
});

test('a write failure is reported with the path', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'file'), '');
  expectError(
    () => saveConfig(join(dir, 'file', 'c.toml'), emptyConfig()),
    'CONFIG_UNREADABLE',
    /cannot write config file .*file\/c\.toml: (ENOTDIR|EEXIST)/,
  );
});

test('a TOML syntax error gives path:line:col', (t) => {
  const path = join(tempDir(t), 'c.toml');
  writeFileSync(path, '[node]\nname = "x"\ndb = = 2\n');
  expectError(() => loadConfig(path, { mustExist: true }), 'CONFIG_INVALID', `${path}:3:6: invalid value`);
  writeFileSync(path, '[node]\nname = "a"\nname = "b"\n');
  expectError(() => loadConfig(path, { mustExist: true }), 'CONFIG_INVALID', new RegExp(`^${path}:3:1: `));
});
