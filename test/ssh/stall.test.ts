/**
 * Liveness through a real sshd: the remote process (the `serve --stdio` agent, or the agentless
 * mode's `sqlite3`) is found with pgrep and SIGSTOPped mid-sync, which is what Android's freezer does
 * to Termux while sshd keeps answering. The sync must give it up within the stall timeout with exit 6
 * [PEER_STALLED], log the failure in sync_log, release its lock, keep the committed batches, and a
 * later sync (once the remote is continued and gone) must complete exactly. In both modes and both
 * directions. And a slow upload (our bytes trickling out while the remote says nothing) is not a stall.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { acquireSyncLock } from '../../src/store/lock.js';
import { runCli, type CliResult } from '../support/cli.js';
import { createNotesDb, identityCounts, insertNotes, withDb, type Note } from '../support/notes-db.js';
import type { SshServer } from '../support/sshd.js';
import { tempDir } from '../support/temp.js';
import { agentCommand, directionCounts, failedWith, sshdFor, sshUrl, writeConfig, writeScript } from './fixtures.js';
import { PROTOCOL_VERSION } from '../../src/protocol/protocol.js';
import { packageVersion } from '../../src/core/version.js';
import { TEST_SQLITE3, noLeftovers, privateRemoteTmp } from './sqlite-cli-support.js';

type Mode = 'agent' | 'sqlite3';
type Direction = 'pull' | 'push';

/** Short, so the test is quick; long enough that a loaded machine does not look frozen. */
const STALL_SECONDS = 4;

const two = (n: number) => String(n).padStart(2, '0');
const notes = (who: string, n: number, content: (i: number) => string = (i) => `${who} ${i}`): Note[] =>
  Array.from({ length: n }, (_, i) => ({
    timestamp: `2025-11-30 22:${two(Math.floor(i / 60) % 60)}:${two(i % 60)}`,
    content: content(i),
    context: 'c',
    source: i % 3 ? who : null,
  }));

const countOf = (path: string) => Number(withDb(path, (db) => db.prepare('SELECT count(*) AS n FROM resonance_notes').get()?.n ?? 0));

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The pids whose command line matches `pattern` (an extended regex, as pgrep -f takes it). */
function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', '--', pattern], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter((line) => line !== '')
      .map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/** The process state letter from /proc (T: stopped, Z: zombie), or undefined once it is gone. */
function processState(pid: number): string | undefined {
  try {
    return /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** The remote end of this sync: the agent serving `phone`, or the sqlite3 that has it open. */
function remotePattern(mode: Mode, phone: string): string {
  // The remote login shell's own command line holds the same words, but quoted: these match only the process itself.
  return mode === 'agent'
    ? `serve --stdio --db ${escapeRegExp(phone)}$`
    : `-bail -batch -init /dev/null ${escapeRegExp(realpathSync(phone))}$`;
}

/** Signals `pid` only while it is still the process we stopped (never a recycled pid). */
function signalIfStill(pid: number, pattern: string, signal: NodeJS.Signals): void {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    if (new RegExp(pattern).test(cmdline)) process.kill(pid, signal);
  } catch {
    // gone already
  }
}

async function waitFor<T>(what: string, probe: () => T | undefined, deadlineMs = 60_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

interface Setup {
  server: SshServer;
  dir: string;
  main: string;
  phone: string;
  config: string;
  tmp: string | undefined;
}

async function setup(t: TestContext, mode: Mode): Promise<Setup | undefined> {
  const server = await sshdFor(t);
  if (!server) return undefined;
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  // Agentless sessions run in a private remote TMPDIR, so a temp dir left behind is seen.
  const tmp = mode === 'sqlite3' ? privateRemoteTmp(t, server, dir) : undefined;
  const remoteCommand = mode === 'agent' ? agentCommand() : undefined;
  const sqlite3 = mode === 'sqlite3' && TEST_SQLITE3 ? `\nsqlite3_command = ${JSON.stringify(TEST_SQLITE3)}` : '';
  const config = writeConfig(
    dir,
    main,
    'main_device',
    [{ name: 'phone', url: sshUrl(server, phone), ...(remoteCommand ? { remoteCommand } : {}), extra: `mode = "${mode}"${sqlite3}` }],
    {
      syncNote: false,
    },
  );
  return { server, dir, main, phone, config, tmp };
}

function sync(s: Setup, direction: Direction, options: { batchRows?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const args = ['sync', 'phone', '--config', s.config, `--${direction}-only`, '--json'];
  if (options.batchRows !== undefined) args.push('--batch-rows', String(options.batchRows));
  return runCli(args, { env: { ...s.server.env, ...options.env } });
}

for (const mode of ['agent', 'sqlite3'] as const) {
  for (const direction of ['pull', 'push'] as const) {
    test(`${mode} ${direction}: a remote stopped mid-sync is given up within the stall timeout (exit 6, PEER_STALLED), nothing lost, the next sync completes exactly`, async (t) => {
      const s = await setup(t, mode);
      if (!s) return;
      const [from, to] = direction === 'pull' ? [s.phone, s.main] : [s.main, s.phone];
      // An agentless pull downloads 5,000 rows per round trip, one ahead: nine downloads make sure
      // the client still has to ask the remote for more after the stop.
      const total = mode === 'sqlite3' && direction === 'pull' ? 45_000 : 20_000;
      insertNotes(from, notes(direction, total));
      const pattern = remotePattern(mode, s.phone);
      let pid: number | undefined;
      t.after(() => {
        // Never leave a stopped process behind, whatever failed.
        if (pid !== undefined) {
          signalIfStill(pid, pattern, 'SIGCONT');
          signalIfStill(pid, pattern, 'SIGKILL');
        }
      });

      let finished = false;
      const batchRows = mode === 'sqlite3' && direction === 'pull' ? 500 : 50;
      const running = sync(s, direction, { batchRows, env: { RESONANCE_SYNC_STALL_TIMEOUT: `${STALL_SECONDS}s` } }).finally(
        () => (finished = true),
      );
      const found = await waitFor('the remote process', () => {
        const pids = pgrep(pattern);
        assert.ok(pids.length <= 1, `one remote process, not ${pids.join(', ')}`);
        return pids[0];
      });
      pid = found;
      // Some batches committed, far from all of them: then stop it, as the freezer would.
      const committed = await waitFor('the first committed batches', () => {
        assert.equal(finished, false, 'the sync ended before it could be stopped: make the delta bigger');
        const n = countOf(to);
        return n >= 500 ? n : undefined;
      });
      process.kill(found, 'SIGSTOP');
      const stoppedAt = performance.now();

      const stalled = await running;
      const seconds = (performance.now() - stoppedAt) / 1000;
      const said = `stopped answering: nothing came back for ${STALL_SECONDS} s while [a-z ]+; the connection was closed, committed batches are kept and the next sync resumes`;
      failedWith(stalled, 6, 'PEER_STALLED', new RegExp(`${said} after them \\(.*Termux.*stall_timeout`));
      // Bounded: the timeout, plus what the client still had to do on its own before it waited (an
      // agentless pull consumes up to two downloads already here), plus cutting ssh.
      assert.ok(seconds < STALL_SECONDS + 20, `gave up ${seconds.toFixed(1)} s after the stop`);
      t.diagnostic(`gave up ${seconds.toFixed(1)} s after the stop, ${/ while ([a-z ]+);/.exec(stalled.stderr)?.[1] ?? '?'}`);
      assert.equal(processState(found), 'T', 'the remote was still stopped: the watchdog, not the remote, ended the sync');

      const log = withDb(s.main, (db) =>
        db
          .prepare(`SELECT direction, status, error_code FROM sync_log ORDER BY id`)
          .all()
          .map((row) => ({ ...row })),
      );
      assert.deepEqual(log, [{ direction, status: 'failed', error_code: 'PEER_STALLED' }]);
      // The lock is free for the next run (a cron run would otherwise fail with "sync already running").
      acquireSyncLock(s.main).release();

      // Continued, the remote finds its connection gone and exits (an agent may first finish the batch
      // in hand, committing it with its cursor, which is exactly-once too).
      process.kill(found, 'SIGCONT');
      const gone = await waitFor('the remote to exit', () => (processState(found) === undefined ? true : undefined), 20_000).catch(
        () => false,
      );
      if (!gone) signalIfStill(found, pattern, 'SIGKILL');
      assert.equal(gone, true, 'the continued remote exits on its own');
      if (s.tmp !== undefined) assert.deepEqual(await noLeftovers(s.tmp), [], 'the remote temp dir is removed');

      const kept = countOf(to);
      assert.ok(kept >= committed && kept < total, `committed batches kept (${committed} seen before the stop, ${kept} now, of ${total})`);

      const again = await sync(s, direction);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(directionCounts(again.stdout)[0]?.duplicates, 0, 'resumed after the last committed batch');
      const counts = identityCounts(to);
      assert.deepEqual(counts, identityCounts(from), 'every entry arrived');
      assert.ok(
        [...counts.values()].every((n) => n === 1),
        'each exactly once',
      );
      assert.equal(countOf(to), total);
    });
  }
}

/**
 * ssh behind a relay that passes our stdin on slowly (16 KiB every 125 ms, 128 KiB/s), holding little
 * itself: an upload takes seconds during which the remote, still reading it, says nothing. What sits
 * beyond our pipe cannot be seen leaving (a real ssh holds up to its 2 MB channel window; the pipe to
 * the relay here, a socket pair, about 200 KB), so the stall timeout must cover sending that much.
 */
function throttledSsh(s: Setup): NodeJS.ProcessEnv {
  const relay = join(s.dir, 'throttle.cjs');
  writeFileSync(
    relay,
    `const { spawn } = require('node:child_process');
const { createReadStream } = require('node:fs');
const [file, ...args] = process.argv.slice(2);
const child = spawn(file, args, { stdio: ['pipe', 'inherit', 'inherit'] });
child.stdin.on('error', () => {});
const input = createReadStream('', { fd: 0, highWaterMark: 16 * 1024 });
input.on('data', (chunk) => {
  input.pause();
  child.stdin.write(chunk);
  setTimeout(() => input.resume(), 125);
});
input.on('end', () => child.stdin.end());
child.on('exit', (code) => process.exit(code ?? 255));
`,
  );
  return { RESONANCE_SYNC_SSH: `${process.execPath} ${relay} ${s.server.env.RESONANCE_SYNC_SSH ?? 'ssh'}` };
}

for (const mode of ['agent', 'sqlite3'] as const) {
  test(`${mode}: a slow upload is not a stall: our bytes leaving count as progress while the remote is silent`, async (t) => {
    const s = await setup(t, mode);
    if (!s) return;
    // One batch of random text, which does not deflate away: about 0.9 MB on the agent's wire, and
    // 1.4 MB as the agentless mode's hex of 1000 rows: 7 to 11 s through the relay.
    const rows = mode === 'agent' ? 2500 : 1000;
    insertNotes(
      s.main,
      notes('push', rows, () => randomBytes(360).toString('base64')),
    );
    const started = performance.now();
    const result = await sync(s, 'push', {
      batchRows: rows,
      env: { ...throttledSsh(s), RESONANCE_SYNC_STALL_TIMEOUT: `${STALL_SECONDS}s` },
    });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(countOf(s.phone), rows);
    // The upload alone kept the remote silent for several stall timeouts: without counting our own
    // bytes leaving as progress, this sync would have been given up.
    assert.ok(seconds > 2 * STALL_SECONDS, `the sync took ${seconds.toFixed(1)} s`);
  });
}

test('agent: an agent that announces itself and then says nothing is given up while opening the database; logged as a failed connect', async (t) => {
  const s = await setup(t, 'agent');
  if (!s) return;
  // Reads (and so keeps the session open) but never answers HELLO, like an agent frozen right after starting.
  const silent = writeScript(
    s.dir,
    'silent-agent',
    `printf '\\000resonance-sync agent ${PROTOCOL_VERSION} ${packageVersion()}\\n'\nexec cat > /dev/null`,
  );
  writeFileSync(s.config, readFileSync(s.config, 'utf8').replace(/remote_command = .*/, `remote_command = ${JSON.stringify(silent)}`));
  const started = performance.now();
  const result = await sync(s, 'pull', { env: { RESONANCE_SYNC_STALL_TIMEOUT: `${STALL_SECONDS}s` } });
  const seconds = (performance.now() - started) / 1000;
  failedWith(
    result,
    6,
    'PEER_STALLED',
    new RegExp(`stopped answering: nothing came back for ${STALL_SECONDS} s while opening the database;`),
  );
  assert.ok(seconds >= STALL_SECONDS && seconds < STALL_SECONDS + 15, `${seconds.toFixed(1)} s`);
  const log = withDb(s.main, (db) =>
    db
      .prepare(`SELECT direction, status, error_code FROM sync_log`)
      .all()
      .map((row) => ({ ...row })),
  );
  assert.deepEqual(log, [{ direction: 'connect', status: 'failed', error_code: 'PEER_STALLED' }]);
  acquireSyncLock(s.main).release();
});

test('sqlite3: a remote sqlite3 that starts and then answers nothing is given up before it says its version', async (t) => {
  const s = await setup(t, 'sqlite3');
  if (!s) return;
  const silent = writeScript(s.dir, 'silent-sqlite3', 'exec cat > /dev/null');
  const config = readFileSync(s.config, 'utf8').replace(/sqlite3_command = .*\n/, '');
  writeFileSync(s.config, config.replace('mode = "sqlite3"', `mode = "sqlite3"\nsqlite3_command = ${JSON.stringify(silent)}`));
  const started = performance.now();
  const result = await sync(s, 'pull', { env: { RESONANCE_SYNC_STALL_TIMEOUT: `${STALL_SECONDS}s` } });
  const seconds = (performance.now() - started) / 1000;
  failedWith(result, 6, 'PEER_STALLED', new RegExp(`stopped answering: nothing came back for ${STALL_SECONDS} s while starting sqlite3;`));
  assert.ok(seconds >= STALL_SECONDS && seconds < STALL_SECONDS + 15, `${seconds.toFixed(1)} s`);
  assert.deepEqual(await noLeftovers(s.tmp as string), [], 'no session directory is left once the connection is cut');
});

test('a malformed RESONANCE_SYNC_STALL_TIMEOUT is a usage error, found before ssh is started', async (t) => {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const started = join(dir, 'ssh-started');
  const ssh = writeScript(dir, 'recording-ssh', `touch '${started}'\nexit 255`);
  for (const mode of ['agent', 'sqlite3']) {
    const result = await runCli(['sync', 'ssh://phone.invalid/data/phone.sqlite3', '--db', main, '--mode', mode], {
      env: { RESONANCE_SYNC_SSH: ssh, RESONANCE_SYNC_STALL_TIMEOUT: '60' },
    });
    failedWith(
      result,
      2,
      'USAGE',
      /RESONANCE_SYNC_STALL_TIMEOUT must be a whole number with a unit: ms, s, m, h or d \(e\.g\. 30m, 2h, 1d\), from 1s to 1d, not "60"/,
    );
  }
  assert.equal(existsSync(started), false, 'ssh never ran');
});
