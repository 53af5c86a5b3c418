import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createProgress, isInteractive, type ProgressContext } from '../../src/cli/progress.js';
import { parsePeerUrl } from '../../src/core/peer-url.js';
import type { PeerConfig } from '../../src/config/schema.js';
import type { ProgressEvent } from '../../src/sync/engine.js';
import { EVERYTHING } from '../../src/core/route.js';
import { shellQuote } from '../../src/transport/ssh/ssh-command.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

/** A stream that says it is a terminal and keeps what is written to it. */
class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly columns = 160;
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

const plain = (text: string) => text.replace(/\x1B\[[0-9;?]*[A-Za-z]|\x1B[78]/g, '');
const peer: PeerConfig = {
  name: 'phone',
  url: '/x/phone.sqlite3',
  location: parsePeerUrl('/x/phone.sqlite3'),
  mode: 'auto',
  remoteCommand: undefined,
  enabled: true,
  push: EVERYTHING,
  pull: EVERYTHING,
};
const event = (direction: 'pull' | 'push', sent: number, remainingRowids: number): ProgressEvent => ({
  direction,
  peer: 'phone',
  sent,
  received: sent - 10,
  duplicates: 10,
  bytes: sent * 100,
  remainingRowids,
});

function drive(context: ProgressContext, steps: Array<[number, ProgressEvent]>) {
  const stream = new FakeTerminal();
  let now = 0;
  const progress = createProgress(context, { stream, now: () => now, showAfterMs: 300, lineEveryMs: 5000 });
  progress.onPeerStart(peer, 'local file');
  for (const [at, e] of steps) {
    now = at;
    progress.onProgress(e);
  }
  progress.finish();
  progress.finish(); // idempotent
  return stream.text;
}

const LONG: Array<[number, ProgressEvent]> = [
  [100, event('pull', 2000, 98_000)],
  [400, event('pull', 4000, 96_000)],
  [1000, event('pull', 50_000, 50_000)],
  [2000, event('pull', 100_000, 0)],
  [2200, event('push', 500, 0)],
];

test('progress on a terminal: a bar per direction with counts and rate, drawn only once the sync runs a while, cleared at the end', () => {
  const out = drive({ quiet: false, verbose: false, isTTY: true }, LONG);
  const text = plain(out);
  assert.match(text, /phone pull \[[=-]+\] 4% \| 4,000\/~100,000 entries \| 10,000\/s \| 3,990 new, 10 dup/);
  assert.match(text, /phone pull \[=+-*\] 50% \| 50,000\/~100,000 entries \| 50,000\/s \| 49,990 new, 10 dup/);
  assert.match(text, /phone pull \[=+\] 100% \| 100,000\/~100,000 entries/);
  assert.doesNotMatch(text, /2,000\/~100,000/, 'nothing drawn in the first 300 ms');
  assert.ok(!out.includes('\x1B[?25l'), 'the cursor is never hidden');
  assert.ok(out.endsWith('\x1B[0J') || out.includes('\x1B[0J'), 'the bars are cleared for the summary');
  assert.ok(out.includes('\x1B[?7h'), 'line wrapping is given back');
});

test('progress: nothing at all without a terminal, with --quiet, or for a sync that ends at once', () => {
  assert.equal(drive({ quiet: false, verbose: false, isTTY: false }, LONG), '');
  assert.equal(drive({ quiet: true, verbose: false, isTTY: true }, LONG), '');
  assert.equal(drive({ quiet: true, verbose: true, isTTY: true }, LONG), 'phone: local file /x/phone.sqlite3\n', '--verbose details stay');
  assert.equal(
    drive({ quiet: false, verbose: false, isTTY: true }, [
      [50, event('pull', 10, 0)],
      [80, event('push', 3, 0)],
    ]),
    '',
  );
});

test('progress with --verbose and no terminal: the peer and a plain line now and then, for logs', () => {
  const out = drive({ quiet: false, verbose: true, isTTY: false }, [...LONG, [9000, event('push', 600, 10)]]);
  assert.equal(
    out,
    [
      'phone: local file /x/phone.sqlite3',
      'phone pull: 100,000 sent of ~100,000, 99,990 new, 10 dup, 50,000/s',
      'phone push: 500 sent of ~500, 490 new, 10 dup, 2,500/s',
      'phone push: 600 sent of ~610, 590 new, 10 dup, 86/s',
      '',
    ].join('\n'),
  );
});

test('isInteractive: both streams terminals, and a terminal that can move the cursor', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  assert.equal(isInteractive({}, tty, tty), true);
  assert.equal(isInteractive({ TERM: 'dumb' }, tty, tty), false);
  assert.equal(isInteractive({}, pipe, tty), false, 'stdout redirected: nobody watches');
  assert.equal(isInteractive({}, tty, pipe), false, 'stderr redirected: bars would fill a log');
});

test('sync on a real terminal (script(1)) shows the bar; piped or --quiet it shows none', async (t) => {
  if (spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0) {
    // Debian always has it (bsdutils); in CI a missing one must fail, not pass silently.
    if (process.env.CI) throw new Error('script(1) from util-linux is not installed');
    return t.skip('script(1) from util-linux is not installed');
  }
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(
    phone,
    Array.from({ length: 30_000 }, (_, i) => ({
      timestamp: `2025-11-30 22:00:${String(i % 60).padStart(2, '0')}`,
      content: `note ${i}`,
      context: 'c',
      source: 's',
    })),
  );
  const config = join(dir, 'config.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main_device', '--config', config])).code, 0);
  assert.equal((await runCli(['peer', 'add', 'phone', phone, '--config', config])).code, 0);
  const onTerminal = (args: string[]) => {
    const command = [process.execPath, CLI_PATH, ...args, '--batch-rows', '500', '--config', config].map(shellQuote).join(' ');
    const result = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    return result.stdout;
  };
  const shown = plain(onTerminal(['sync', '--pull-only']));
  assert.match(shown, /phone pull \[[=-]+\] \d+% \| [\d,]+\/~30,000 entries \| [\d,]+\/s \| [\d,]+ new, 0 dup/);
  assert.match(shown, /pull phone -> main_device: added 30000/);

  const piped = await runCli(['sync', '--config', config]);
  assert.equal(piped.code, 0);
  assert.equal(piped.stderr, '');
  assert.doesNotMatch(piped.stdout, /\x1B|\[=/);
  const quiet = onTerminal(['sync', '--quiet']);
  assert.equal(plain(quiet).trim(), '');
});
