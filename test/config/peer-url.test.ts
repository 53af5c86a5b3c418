/** Peer URL parsing: every accepted spelling, and the hostile inputs that must never reach ssh. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeLocation, expandHome, formatPeerUrl, parsePeerUrl, type PeerLocation } from '../../src/core/peer-url.js';
import { SyncError } from '../../src/core/errors.js';

const ssh = (host: string, path: string, extra: Partial<Extract<PeerLocation, { kind: 'ssh' }>> = {}): PeerLocation => ({
  kind: 'ssh',
  user: undefined,
  host,
  port: undefined,
  path,
  homeRelative: false,
  ...extra,
});

test('file: URLs are local, percent-decoded and absolute', () => {
  assert.deepEqual(parsePeerUrl('file:///abs/my%20notes.sqlite3'), { kind: 'local', path: '/abs/my notes.sqlite3' });
  assert.deepEqual(parsePeerUrl('file://localhost/abs/x'), { kind: 'local', path: '/abs/x' });
  assert.deepEqual(parsePeerUrl('file:relative/path'), { kind: 'local', path: resolve('relative/path') });
  assert.deepEqual(parsePeerUrl('FILE:/abs'), { kind: 'local', path: '/abs' });
});

test('ssh:// URLs: absolute, home-relative, user, port, IPv6', () => {
  assert.deepEqual(parsePeerUrl('ssh://host/abs/db.sqlite3'), ssh('host', '/abs/db.sqlite3'));
  assert.deepEqual(
    parsePeerUrl('ssh://u0_a311@192.168.1.20:8022/~/selesta/resonance.sqlite3'),
    ssh('192.168.1.20', 'selesta/resonance.sqlite3', { user: 'u0_a311', port: 8022, homeRelative: true }),
  );
  assert.deepEqual(parsePeerUrl('ssh://[::1]:2222/x'), ssh('::1', '/x', { port: 2222 }));
  assert.deepEqual(parsePeerUrl('ssh://me@[fe80::1%25eth0]/x'), ssh('fe80::1%25eth0', '/x', { user: 'me' }));
  assert.deepEqual(parsePeerUrl('ssh://h/a%20b'), ssh('h', '/a b'));
});

test('scp-like host:path is ssh; relative paths are home-relative', () => {
  assert.deepEqual(parsePeerUrl('pi@raspberry:notes/db.sqlite3'), ssh('raspberry', 'notes/db.sqlite3', { user: 'pi', homeRelative: true }));
  assert.deepEqual(parsePeerUrl('host:~/db.sqlite3'), ssh('host', 'db.sqlite3', { homeRelative: true }));
  assert.deepEqual(parsePeerUrl('host:/srv/db.sqlite3'), ssh('host', '/srv/db.sqlite3'));
  assert.deepEqual(parsePeerUrl('u@[::1]:db'), ssh('::1', 'db', { user: 'u', homeRelative: true }));
});

test('everything else is a local path, resolved to absolute', () => {
  assert.deepEqual(parsePeerUrl('/abs/x.sqlite3'), { kind: 'local', path: '/abs/x.sqlite3' });
  assert.deepEqual(parsePeerUrl('./x'), { kind: 'local', path: resolve('x') });
  assert.deepEqual(parsePeerUrl('../x'), { kind: 'local', path: resolve('..', 'x') });
  assert.deepEqual(parsePeerUrl('~/x.sqlite3'), { kind: 'local', path: join(homedir(), 'x.sqlite3') });
  assert.deepEqual(parsePeerUrl('name.sqlite3'), { kind: 'local', path: resolve('name.sqlite3') });
  // ':' after a '/' does not make it remote, like git.
  assert.deepEqual(parsePeerUrl('./a:b'), { kind: 'local', path: resolve('a:b') });
});

function rejects(url: string, reason: RegExp): void {
  assert.throws(
    () => parsePeerUrl(url),
    (error: unknown) => {
      assert.ok(error instanceof SyncError, `expected a SyncError for ${JSON.stringify(url)}`);
      assert.equal(error.code, 'PEER_URL_INVALID');
      assert.ok(error.message.includes(JSON.stringify(url)), `message names the URL: ${error.message}`);
      assert.match(error.message, /ssh:\/\/\[user@\]host\[:port\]/, 'message lists the accepted forms');
      assert.ok(!error.message.includes('\n'), 'message is one line');
      assert.match(error.message, reason);
      return true;
    },
  );
}

test('hostile hosts and users are rejected before they can reach ssh', () => {
  rejects('-oProxyCommand=x:db', /host must not start with "-"/);
  rejects('ssh://-oProxyCommand=x/db', /host must not start with "-"/);
  rejects('ssh://-l@host/db', /user name must not start with "-"/);
  rejects('host;rm -rf ~:db', /host may only contain/);
  rejects('ssh://host;rm -rf /x', /host may only contain/);
  // With a '/' before the ':' it is a (harmless) local file name, never a host.
  assert.equal(parsePeerUrl('host;rm -rf /:db').kind, 'local');
  rejects('$(id):db', /host may only contain/);
  rejects('`id`:db', /host may only contain/);
  rejects('ssh://$(id)/db', /host may only contain/);
  rejects('bad user@host:db', /user name may only contain/);
  rejects('ssh://a b@host/db', /user name may only contain/);
  rejects('ssh://h\tx/db', /host may only contain/);
  rejects('ssh://u@/db', /host is empty/);
  rejects('@host:db', /user name is empty/);
  rejects('ssh://[::1/db', /unclosed/);
});

test('bad ports, paths and empty inputs are rejected', () => {
  rejects('', /empty/);
  rejects('   ', /empty/);
  rejects('ssh://h:0/x', /port/);
  rejects('ssh://h:65536/x', /port/);
  rejects('ssh://h:22a/x', /port/);
  rejects('ssh://h:/x', /port/);
  rejects('host:db\nrm -rf ~', /NUL or newline/);
  rejects('/tmp/a\0b', /NUL or newline/);
  rejects('ssh://h/a%0Ab', /NUL or newline/);
  rejects('file:///a%00b', /NUL or newline/);
  rejects('ssh://h/a%ZZ', /percent-encoding/);
  rejects('ssh://h', /remote path is empty/);
  rejects('ssh://h/', /remote path is empty/);
  rejects('ssh://h/~', /remote path is empty/);
  rejects('host:', /remote path is empty/);
  rejects('host:~', /remote path is empty/);
  rejects('host:a\x1bb', /control character/);
  rejects('file://otherhost/x', /another host/);
  rejects('http://example.com/x', /unsupported scheme/);
});

test('formatPeerUrl is canonical and parses back to the same location', () => {
  const cases: [string, string][] = [
    ['pi@raspberry:notes/db.sqlite3', 'ssh://pi@raspberry/~/notes/db.sqlite3'],
    ['ssh://u@h:8022/abs/x', 'ssh://u@h:8022/abs/x'],
    ['[::1]:/x', 'ssh://[::1]/x'],
    ['ssh://h/a%25b%20c', 'ssh://h/a%25b c'],
    ['ssh://h/%7E/x', 'ssh://h/%7E/x'],
    ['/abs/x', '/abs/x'],
  ];
  for (const [input, canonical] of cases) {
    const location = parsePeerUrl(input);
    assert.equal(formatPeerUrl(location), canonical);
    assert.deepEqual(parsePeerUrl(formatPeerUrl(location)), location);
  }
  // The absolute path "/~/x" must not turn home-relative on the way back.
  assert.deepEqual(parsePeerUrl('ssh://h/%7E/x'), ssh('h', '/~/x'));
});

test('describeLocation and expandHome', () => {
  assert.equal(describeLocation(parsePeerUrl('ssh://u@h:2/~/a')), '~/a on u@h:2 (ssh)');
  assert.equal(describeLocation(parsePeerUrl('ssh://[::1]/a')), '/a on [::1] (ssh)');
  assert.equal(describeLocation({ kind: 'local', path: '/x' }), '/x (local)');
  assert.equal(expandHome('~'), homedir());
  assert.equal(expandHome('~/a/b'), join(homedir(), 'a/b'));
  assert.equal(expandHome('~other/a'), '~other/a');
  assert.equal(expandHome('/a/~/b'), '/a/~/b');
});
