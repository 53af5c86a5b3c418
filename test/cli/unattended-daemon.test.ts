import assert from 'node:assert/strict';
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { acquireSyncLock } from '../../src/store/lock.js';
import { logRows, startCli, waitFor } from '../fixtures/unattended-support.js';
import { runCli } from '../support/cli.js';
import { createNotesDb, identityCounts, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

function notes(count: number, tag: string) {
  return Array.from({ length: count }, (_, i) => ({
    timestamp: `2025-11-30 22:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
    content: `${tag} ${i}`,
    context: 'c',
    source: 's',
  }));
}

async function configured(dir: string, phoneNotes: number) {
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone');
  insertNotes(main, notes(3, 'main'));
  insertNotes(phone, notes(phoneNotes, 'phone'));
  const config = join(dir, 'config.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main_device', '--config', config])).code, 0);
  assert.equal((await runCli(['peer', 'add', 'phone', phone, '--config', config])).code, 0);
  return { main, phone, config };
}

const received = (db: string) =>
  withDb(db, (h) => Number(h.prepare('SELECT count(*) AS n FROM resonance_notes WHERE sync_origin IS NOT NULL').get()?.n));

test('daemon: failures back off exponentially (visible in sync_log), a success resets the backoff, SIGTERM stops it with 0', async (t) => {
  const dir = tempDir(t);
  const { main, phone, config } = await configured(dir, 5);
  renameSync(phone, `${phone}.away`); // the peer is gone: every run fails
  const daemon = startCli(t, ['daemon', '--every', '2s', '--retry', '100ms', '--config', config]);
  const failed = () => logRows(main).filter((row) => row.direction === 'connect' && row.status === 'failed');
  await waitFor('five failed runs', () => failed().length >= 5);
  renameSync(`${phone}.away`, phone); // it comes back: the next retry succeeds
  // Both directions done (moving the file away mid-push would fail that run instead).
  const success = await waitFor('a successful run', () => logRows(main).find((row) => row.direction === 'push' && row.status === 'ok'));
  const firstFailures = failed();
  renameSync(phone, `${phone}.away`); // gone again: the backoff starts from the retry delay again
  await waitFor('two failures after the success', () => failed().length >= firstFailures.length + 2, 10_000);
  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  const { stdout, stderr } = daemon.output();
  assert.equal(exit.code, 0, stderr);

  // The daemon's wait between two runs: from the end of one failed run to the start of the next (a
  // run's own duration varies with the machine's load and is no part of the backoff).
  const gaps = firstFailures.slice(1).map((row, i) => row.started - (firstFailures[i]?.finished ?? 0));
  for (let i = 1; i < Math.min(gaps.length, 4); i++) {
    assert.ok((gaps[i] ?? 0) > (gaps[i - 1] ?? 0) * 1.3, `each wait is about twice the one before: ${gaps.join(', ')} ms`);
  }
  for (const row of firstFailures) assert.equal(row.errorCode, 'DB_NOT_FOUND');
  const after = failed().slice(firstFailures.length);
  const resetGap = (after[1]?.started ?? 0) - (after[0]?.started ?? 0);
  assert.ok(
    resetGap < 700,
    `after a success, the first retry is short again (${resetGap} ms; the wait before the success was ${gaps.at(-1)} ms)`,
  );
  assert.ok((after[0]?.started ?? 0) - success.started >= 1700, 'after the success, the next run waits the full interval (2s, jittered)');

  assert.match(stdout, /daemon started \(pid \d+\): every 2s, first retry after a failure in 100ms/);
  assert.match(stdout, /run \d+ ok: phone pull \+5, push \+4; next run in /);
  assert.match(stdout, /daemon stopped \(interrupted by SIGTERM\)/);
  assert.match(stderr, /run 1 failed \(1 of 1 peers failed\); next run in 0\.\d+s \(backing off: first failure\)/);
  assert.match(stderr, /run 3 failed .* \(backing off: 3 failures in a row\)/);
  assert.match(stderr, /phone: database not found: .*\[DB_NOT_FOUND\]/);
});

test('daemon: SIGTERM mid-sync commits the batch in flight, leaves both databases consistent; a concurrent sync is refused; the next run completes', async (t) => {
  const dir = tempDir(t);
  // A delta large enough for several batches, so SIGTERM lands mid-sync.
  const { main, phone, config } = await configured(dir, 15_000);
  const daemon = startCli(t, ['daemon', '--every', '1h', '--batch-rows', '20', '--config', config]);
  await waitFor('the first batches', () => received(main) > 0, 20_000, 5);
  const concurrent = await runCli(['sync', '--config', config]);
  assert.equal(concurrent.code, 5, 'runs never overlap');
  assert.match(concurrent.stderr, /another resonance-sync is already syncing .*\[SYNC_RUNNING\]/);
  const midway = received(main);
  assert.ok(midway < 15_000, `still syncing (${midway})`);
  daemon.child.kill('SIGTERM');
  const exit = await daemon.exited;
  assert.equal(exit.code, 0, daemon.output().stderr);
  assert.match(daemon.output().stdout, /daemon stopped \(interrupted by SIGTERM\)/);

  const kept = received(main);
  assert.ok(kept > 0 && kept < 15_000, `interrupted midway (${kept} of 15000)`);
  assert.equal(kept % 20, 0, 'only whole batches were committed');
  for (const db of [main, phone])
    assert.equal(
      withDb(db, (h) => String(h.prepare('PRAGMA integrity_check').get()?.integrity_check)),
      'ok',
    );
  const pull = logRows(main)
    .filter((row) => row.direction === 'pull')
    .at(-1);
  assert.equal(pull?.status, 'failed');
  assert.match(pull?.message ?? '', /interrupted by SIGTERM/);

  const next = await runCli(['sync', '--config', config]);
  assert.equal(next.code, 0, next.stderr);
  assert.equal(received(main), 15_000, 'every phone note, once');
  for (const [key, count] of identityCounts(main)) assert.equal(count, 1, `no duplicate: ${key}`);
  // One more run brings the phone's own sync note over; then both ends hold the same entries.
  assert.equal((await runCli(['sync', '--config', config])).code, 0);
  assert.deepEqual([...identityCounts(phone).keys()].sort(), [...identityCounts(main).keys()].sort());
});

test('daemon: SIGTERM mid-way through an initial sync of 10^5 notes stops within seconds', async (t) => {
  const dir = tempDir(t);
  const { main, config } = await configured(dir, 100_000);
  const daemon = startCli(t, ['daemon', '--every', '1h', '--config', config]);
  await waitFor('the first batches', () => received(main) > 0, 30_000, 5);
  const signalled = Date.now();
  daemon.child.kill('SIGTERM');
  assert.equal((await daemon.exited).code, 0);
  assert.ok(received(main) < 100_000, `stopped before the end (${received(main)})`);
  assert.ok(Date.now() - signalled < 2000, 'stopped at the next batch boundary');
});

test('daemon: a run that finds another sync holding the lock waits for the next tick without counting a failure', async (t) => {
  const dir = tempDir(t);
  const { main, config } = await configured(dir, 5);
  const lock = acquireSyncLock(main);
  const daemon = startCli(t, ['daemon', '--every', '300ms', '--config', config]);
  await waitFor(
    'two skipped runs',
    () => (daemon.output().stdout.match(/skipped: another resonance-sync is syncing this database/g) ?? []).length >= 2,
  );
  assert.equal(logRows(main).length, 0, 'a refused run writes nothing');
  assert.doesNotMatch(daemon.output().stderr, /failed/);
  lock.release();
  await waitFor('a run once the lock is free', () => logRows(main).some((row) => row.status === 'ok'));
  daemon.child.kill('SIGINT');
  assert.equal((await daemon.exited).code, 0);
  assert.match(daemon.output().stdout, /next run in 0\.\d+s/);
});

test('daemon: a broken config is reported at start with its exit code, not retried forever', async (t) => {
  const dir = tempDir(t);
  const { config } = await configured(dir, 1);
  const noPeers = join(dir, 'empty.toml');
  const { writeFileSync } = await import('node:fs');
  writeFileSync(noPeers, `[node]\nname = "x"\ndb = "${join(dir, 'main.sqlite3')}"\n`);
  const result = await runCli(['daemon', '--every', '1s', '--config', noPeers]);
  assert.equal(result.code, 3);
  assert.match(result.stderr, /no enabled peers .*\[PEER_UNKNOWN\]/);
  const bad = await runCli(['daemon', '--every', 'often', '--config', config]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--every must be a whole number with a unit/);
});
