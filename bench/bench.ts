/**
 * `npm run bench`: resonance-sync against honest floors measured in the same run (machines are noisy:
 * compare the ratios of one run, not seconds across runs). Prints a table and writes
 * bench-results/*.json. `npm run bench -- --quick` is a reduced run (under two minutes; CI runs it
 * once as a smoke test, figures printed, never asserted). `-- --scale-10m` adds the curve's 10M point
 * for +1k and no-op at the end (~15 GB of disk, ~18 min more on a busy 2-core machine).
 *
 * Every resonance-sync figure is a whole process of the installed command (bin/resonance-sync.mjs,
 * the single-file build), timed from outside, as a user runs it. The floors (floors.ts):
 * - `node -e 0`: starting Node at all;
 * - the SQL floor: a sqlite3 process moving the same rows itself (INSERT … SELECT … WHERE NOT
 *   EXISTS, one transaction, the same timestamp index and an origin column);
 * - the identity scan: a sqlite3 process reading both databases' identities once (for verify);
 * - `ssh HOST true`, and `scp` of the whole file + the SQL floor (for syncs over ssh).
 * The write-lock yielder's gaps (the fairness price: 150 ms before a sync's holding would pass
 * 1.5 s) are part of the wall time; the in-process row beside the initial sync says how much.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalReplica } from '../src/transport/local/local-replica.js';
import { prepareDatabase } from '../src/store/prepare.js';
import { openDatabase } from '../src/store/sqlite/open-database.js';
import { yieldedMilliseconds } from '../src/store/write-lock-yield.js';
import { syncReplicas } from '../src/sync/engine.js';
import { EVERYTHING } from '../src/core/route.js';
import { appendNotes, createBenchDb, growBenchDb } from './generate.js';
import { cliAvailable, receivedOf, runCli, type CliRun } from './cli-run.js';
import { agentlessDigestAlone, identityScanFloor, nodeSqlFloor, removeDatabaseFiles, sqlFloor, sqlite3Available } from './floors.js';
import { measureStartTimes } from './start-time.js';
import { REMOTE_START, SshBench, formatWire, rsyncAvailable, type Wire } from './ssh-bench.js';

const quick = process.argv.includes('--quick');
/** The scale curve: initial, +1k, no-op and verify, locally, at each size. */
const CURVE = quick ? [10_000, 30_000] : [10_000, 100_000, 1_000_000];
/** The initial sync compared with its floors (local and over ssh). */
const N_INITIAL = quick ? 10_000 : 100_000;
/** The pair that +1k, no-op and verify run on over ssh. */
const N_PAIR = quick ? 30_000 : 300_000;
const N_INCREMENT = 1_000;
/**
 * `--scale-10m` adds the curve's 10M point for the costs that must not grow with the database
 * (+1k and no-op, locally and over ssh in agent mode), after everything else: about 15 GB of disk
 * and ~15 min more, so not in every full run. The pair is made honestly (see scaleTenMillion).
 */
const scale10m = process.argv.includes('--scale-10m');
const N_SCALE = 10_000_000;
/** The 10M sender is grown inside SQLite from this many notes made by the generator. */
const N_SCALE_BASE = 100_000;
/** What the 10M pair needs: two ~7.4 GB files, the receiver's WAL, and room to spare for the machine's other work. */
const SCALE_DISK_BYTES = 25e9;
const work = mkdtempSync(join(tmpdir(), 'resonance-bench-'));
const results: Record<string, unknown> = {
  machine: machine(),
  quick,
  sizes: { curve: CURVE, initial: N_INITIAL, pair: N_PAIR, ...(scale10m ? { scale: N_SCALE } : {}) },
};
const rows: Array<[string, string, string]> = [];
const benchStarted = performance.now();
/** A progress line on stderr, so a slow phase shows where the time goes. */
function phase(what: string): void {
  process.stderr.write(`[${((performance.now() - benchStarted) / 1000).toFixed(0)} s] ${what}\n`);
}

function machine() {
  const cpus = execFileSync('nproc').toString().trim();
  const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
  return { node: process.version, cpus, platform: `${process.platform}-${process.arch}`, loadAtStart: load };
}

const s = (seconds: number) => `${seconds.toFixed(seconds < 10 ? 3 : 1)} s`;
const rss = (run: CliRun) => `RSS ${run.maxRssMb.toFixed(0)} MB`;
const peakRss: Record<string, number> = {};
function noteRss(what: string, run: CliRun): void {
  peakRss[what] = run.maxRssMb;
}

/** A fresh empty receiver (variant b, like the sender) at `path`. */
function emptyReceiver(path: string): void {
  removeDatabaseFiles(path);
  createBenchDb(path, 'b', 0);
}

/**
 * A sender of `count` notes, prepared as its owner's first `init` would (not timed): with
 * --build-index, the owner's explicit choice, as `init` builds no index past 128 MB without it.
 */
function preparedSender(path: string, count: number, firstSerial: number): void {
  createBenchDb(path, 'b', count, firstSerial);
  runCli(['init', '--db', path, '--node', 'bench-sender', '--build-index', '--config', join(work, 'sender-config.toml')], {}, work);
}

function append(path: string, count: number, firstSerial: number): void {
  const db = openDatabase(path);
  try {
    appendNotes(db, 'b', count, firstSerial);
  } finally {
    db.close();
  }
}

function dropDb(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '-sync.lock', '-sync.lock-journal']) rmSync(`${path}${suffix}`, { force: true });
}

const localSync = (sender: string, receiver: string, extra: string[] = []) =>
  runCli(['sync', sender, '--db', receiver, '--json', ...extra], {}, work);

/** `node -e 0` as measured at the start of this run (the start of every process of ours). */
let nodeStartSeconds = 0;

function startRows(): number {
  const start = measureStartTimes(work, quick ? 5 : 15);
  nodeStartSeconds = start.baselineSeconds;
  results.startTime = start;
  rows.push(['node -e 0 (floor)', s(start.baselineSeconds), 'starting Node at all']);
  rows.push(['resonance-sync --version', s(start.version.seconds), `${start.version.ratio.toFixed(2)}× node -e 0`]);
  rows.push(['resonance-sync status, no-op local', s(start.status.seconds), `${start.status.ratio.toFixed(2)}× node -e 0`]);
  return start.baselineSeconds;
}

/** The scale curve, locally, each figure a whole process against its floor. */
function curve(): void {
  const points: Array<Record<string, unknown>> = [];
  for (const n of CURVE) {
    phase(`scale curve at ${n}`);
    const sender = join(work, `curve-sender-${n}.sqlite3`);
    const receiver = join(work, `curve-receiver-${n}.sqlite3`);
    const floorDb = join(work, 'floor.sqlite3');
    preparedSender(sender, n, 0);
    const floor = sqlFloor(sender, floorDb);
    dropDb(floorDb);
    const nodeFloor = nodeSqlFloor(sender, floorDb);
    dropDb(floorDb);
    emptyReceiver(receiver);
    const initial = localSync(sender, receiver, ['--pull-only']);
    localSync(sender, receiver); // the first push reads the received feed once for echoes: not "+1k"
    append(sender, N_INCREMENT, 10_000_000);
    const increment = localSync(sender, receiver);
    const noop = localSync(sender, receiver);
    const verify = runCli(['verify', sender, '--db', receiver, '--json'], {}, work);
    const scan = identityScanFloor(sender, receiver);
    for (const [what, run] of Object.entries({ initial, increment, noop, verify })) noteRss(`${what} ${n} local`, run);
    points.push({ notes: n, floor, nodeFloor, initial, increment, noop, verify, scan });
    rows.push([
      `initial ${n} local`,
      `${s(initial.seconds)}, ${rss(initial)}`,
      `${(floor.seconds / initial.seconds).toFixed(2)}× the SQL floor (${s(floor.seconds)}, ${floor.how}); target ≥ 0.5×`,
    ]);
    // Not a floor the issue names: what the row above cannot go below as a Node program.
    rows.push([
      '  the SQL floor in a bare Node process',
      s(nodeFloor.seconds),
      `${(floor.seconds / nodeFloor.seconds).toFixed(2)}× the SQL floor: Node, the binding and the same SQL alone; the sync is ${(nodeFloor.seconds / initial.seconds).toFixed(2)}× it`,
    ]);
    rows.push([`+${N_INCREMENT} into ${n} local`, `${s(increment.seconds)}, received ${receivedOf(increment.json)}`, rss(increment)]);
    rows.push([`no-op on ${n} local`, s(noop.seconds), rss(noop)]);
    rows.push([
      `verify identical ${n} local`,
      `${s(verify.seconds)}, ${rss(verify)}`,
      `${(verify.seconds / scan.seconds).toFixed(2)}× one identity scan of both (${s(scan.seconds)}); target ≤ 3×`,
    ]);
    dropDb(sender);
    dropDb(receiver);
  }
  results.curve = points;
}

/** In-process beside the whole process: how much of an initial sync is the yielder's gaps. */
async function initialInProcess(sender: string): Promise<void> {
  const path = join(work, 'in-process-receiver.sqlite3');
  emptyReceiver(path);
  const db = openDatabase(path);
  prepareDatabase(db, path, { nodeName: 'receiver' });
  db.close();
  const local = LocalReplica.open(path);
  const remote = LocalReplica.open(sender);
  const yieldedBefore = yieldedMilliseconds();
  const started = performance.now();
  await syncReplicas(local, remote, { peerName: 'source', pull: EVERYTHING, push: undefined, dryRun: false, writeSyncNote: false });
  const seconds = (performance.now() - started) / 1000;
  const yielded = (yieldedMilliseconds() - yieldedBefore) / 1000;
  await local.close();
  await remote.close();
  dropDb(path);
  results.initialInProcess = { seconds, yieldedSeconds: yielded };
  rows.push([
    `initial ${N_INITIAL} local, in-process`,
    s(seconds),
    `of which ${s(yielded)} yielding the write lock (150 ms per 1.5 s held: the fairness price)`,
  ]);
}

const median = <T>(items: T[], key: (item: T) => number): T =>
  [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)] as T;

async function overSsh(): Promise<void> {
  const ssh = await SshBench.start(work);
  if (!ssh) {
    rows.push(['ssh transports', 'skipped: sshd or sqlite3 not installed', 'apt-get install openssh-server sqlite3']);
    return;
  }
  const out: Record<string, unknown> = {};
  try {
    const roundTrip = ssh.roundTrip();
    out.roundTrip = roundTrip;
    rows.push([
      'ssh HOST true (floor)',
      `${s(roundTrip.seconds)}, wire ${formatWire(roundTrip.wire)}`,
      'the floor under any sync over ssh',
    ]);

    // Initial sync against scp of the whole file + the SQL floor.
    const sender = join(work, 'ssh-sender.sqlite3');
    preparedSender(sender, N_INITIAL, 0);
    const config = ssh.configFor(sender);
    const floor = ssh.scpFloor(sender, join(work, 'floor.sqlite3'));
    dropDb(join(work, 'floor.sqlite3'));
    out.scpFloor = floor;
    rows.push([
      `scp of the ${N_INITIAL} file + SQL floor`,
      s(floor.seconds),
      `scp ${s(floor.scpSeconds)} + SQL ${s(floor.sqlSeconds)}: the ssh floor of an initial sync`,
    ]);
    for (const mode of ['agent', 'sqlite3'] as const) {
      // A path of its own per run: the program remembers each database path, and an emptied one is a replaced database.
      const receiver = join(work, `ssh-receiver-${mode}.sqlite3`);
      emptyReceiver(receiver);
      const run = ssh.cli(`initial-${mode}`, config, ['sync', `bench-${mode}`, '--db', receiver, '--pull-only', '--json']);
      out[`initial-${mode}`] = run;
      noteRss(`initial ${N_INITIAL} ssh ${mode}`, run);
      rows.push([
        `initial ${N_INITIAL} over ssh, ${mode}`,
        `${s(run.seconds)}, wire ${formatWire(run.wire)}, ${rss(run)}`,
        `${(floor.seconds / run.seconds).toFixed(2)}× the ssh floor; target ≥ 0.5×`,
      ]);
      dropDb(receiver);
    }
    dropDb(sender);

    // +1k, no-op and verify on a pair of N_PAIR: three trials (one when quick), each against a round trip measured just before.
    const pairSender = join(work, 'pair-sender.sqlite3');
    const pairReceiver = join(work, 'pair-receiver.sqlite3');
    preparedSender(pairSender, N_PAIR, 20_000_000);
    emptyReceiver(pairReceiver);
    localSync(pairSender, pairReceiver);
    const pairConfig = ssh.configFor(pairSender);
    for (const mode of ['agent', 'sqlite3'] as const) {
      phase(`pair of ${N_PAIR} over ssh, ${mode}`);
      const peer = `bench-${mode}`;
      ssh.cli(`settle-${mode}`, pairConfig, ['sync', peer, '--db', pairReceiver, '--json']); // first contact in this mode
      const trials = (quick ? [0] : [0, 1, 2]).map((trial) => {
        append(pairSender, N_INCREMENT, 30_000_000 + (mode === 'agent' ? 0 : 10) * N_INCREMENT + trial * N_INCREMENT);
        const rt = ssh.roundTrip().seconds;
        const increment = ssh.cli(`increment-${mode}`, pairConfig, ['sync', peer, '--db', pairReceiver, '--json']);
        const noop = ssh.cli(`noop-${mode}`, pairConfig, ['sync', peer, '--db', pairReceiver, '--json']);
        return { roundTrip: rt, increment, noop };
      });
      const inc = median(trials, (t) => t.increment.seconds - t.roundTrip);
      const noop = median(trials, (t) => t.noop.seconds - t.roundTrip);
      noteRss(`+1k ssh ${mode}`, inc.increment);
      const verify = ssh.cli(`verify-${mode}`, pairConfig, ['verify', peer, '--db', pairReceiver, '--json']);
      const scan = identityScanFloor(pairSender, pairReceiver);
      noteRss(`verify ${N_PAIR} ssh ${mode}`, verify);
      out[`pair-${mode}`] = { trials, verify, scan };
      rows.push([
        `+${N_INCREMENT} into ${N_PAIR} over ssh, ${mode}`,
        `${s(inc.increment.seconds)}, wire ${formatWire(inc.increment.wire)}`,
        `rtt (${s(inc.roundTrip)}) + ${s(inc.increment.seconds - inc.roundTrip)}; target ≤ rtt + 0.25 s; median of ${trials.length}`,
      ]);
      rows.push([
        `no-op on ${N_PAIR} over ssh, ${mode}`,
        `${s(noop.noop.seconds)}, wire ${formatWire(noop.noop.wire)}`,
        `rtt (${s(noop.roundTrip)}) + ${s(noop.noop.seconds - noop.roundTrip)}; target ≤ rtt + 0.15 s; median of ${trials.length}`,
      ]);
      // Not a floor the issue names, but what the two rows above cannot go below: where it is past
      // their target, the target is out of reach for a sync that is a Node program (agent mode: at both ends).
      const start = REMOTE_START[mode];
      const remoteStart = ssh.roundTrip(start.words).seconds;
      const rtt = noop.roundTrip;
      const overRtt = nodeStartSeconds + remoteStart - rtt;
      out[`processes-${mode}`] = { nodeStartSeconds, remoteStart, roundTrip: rtt };
      rows.push([
        `  its processes alone, ${mode}`,
        s(nodeStartSeconds + remoteStart),
        `node -e 0 here (${s(nodeStartSeconds)}) + ssh HOST ${start.label} (${s(remoteStart)}) = rtt (${s(rtt)}) ${overRtt >= 0 ? '+' : '−'} ${s(Math.abs(overRtt))}`,
      ]);
      rows.push([
        `verify identical ${N_PAIR} over ssh, ${mode}`,
        `${s(verify.seconds)}, wire ${formatWire(verify.wire)}, ${rss(verify)}`,
        `${(verify.seconds / scan.seconds).toFixed(2)}× one identity scan of both (${s(scan.seconds)}); target ≤ 3×`,
      ]);
      if (mode === 'sqlite3') {
        // Not a floor the issue names: what verify cannot go below with an agentless peer, whose
        // shell computes the digest itself (one thread, SHA3 its only hash) after the login.
        const digest = agentlessDigestAlone(pairSender, pairConfig, peer);
        out['digest-alone-sqlite3'] = digest;
        rows.push([
          '  its remote digest alone, sqlite3',
          s(digest.seconds),
          `the script verify sends the shell, run by a sqlite3 process on the same file; + rtt (${s(noop.roundTrip)}) = ${((digest.seconds + noop.roundTrip) / scan.seconds).toFixed(2)}× the scan`,
        ]);
      }
    }
    if (!quick && rsyncAvailable()) {
      const before = join(work, 'pair-before.sqlite3');
      execFileSync('cp', [pairSender, before]);
      append(pairSender, N_INCREMENT, 40_000_000);
      const inc = ssh.cli('rsync-increment', pairConfig, ['sync', 'bench-agent', '--db', pairReceiver, '--json']);
      const rsync = ssh.rsync(pairSender, before);
      out.rsync = { rsync, increment: inc };
      rows.push([
        `rsync -az of the ${N_PAIR} file (reference)`,
        `${s(rsync.seconds)}, wire ${formatWire(rsync.wire)}`,
        `the same +${N_INCREMENT} by sync (agent): ${s(inc.seconds)}, wire ${formatWire(inc.wire)}${bytesRatio(rsync.wire, inc.wire)}`,
      ]);
      dropDb(before);
    }
    dropDb(pairSender);
    dropDb(pairReceiver);
  } finally {
    results.ssh = out;
    await ssh.stop();
  }
}

const fileBytes = (path: string) =>
  ['', '-wal'].reduce((sum, suffix) => sum + (existsSync(`${path}${suffix}`) ? statSync(`${path}${suffix}`).size : 0), 0);
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

/**
 * The curve's 10M point for +1k and no-op. The pair is in sync the honest way, by resonance-sync
 * itself: a 10M sender (grown inside SQLite, growBenchDb; its owner's `init`), an empty receiver, a
 * real initial sync of all 10M (timed: the initial point at 10M) and the first two-way sync (timed:
 * the receiver's first push reads what it received once for echoes). Only then are both cursors at
 * the end, so a no-op is a true no-op. Copying the file instead would still leave a first sync to
 * read and dedupe all 10M rows. Then three trials of +1k (appended to the sender) and a no-op,
 * locally, and the same over ssh in agent mode after its first contact; medians. No verify or SQL
 * floor at 10M: both read or write every row (the floor's one transaction would put all 7 GB in
 * its WAL), which is not what this point is for.
 */
async function scaleTenMillion(): Promise<void> {
  const free = statfsSync(work).bavail * statfsSync(work).bsize;
  if (free < SCALE_DISK_BYTES) {
    rows.push([`${N_SCALE} notes`, 'skipped', `needs ${gb(SCALE_DISK_BYTES)} free in ${work}, has ${gb(free)}`]);
    return;
  }
  const out: Record<string, unknown> = {};
  results.scale = out;
  const sender = join(work, 'scale-sender.sqlite3');
  const receiver = join(work, 'scale-receiver.sqlite3');
  try {
    phase(`${N_SCALE}: generating the sender`);
    const started = performance.now();
    createBenchDb(sender, 'b', N_SCALE_BASE, 0);
    growBenchDb(sender, N_SCALE_BASE, N_SCALE);
    const generation = (performance.now() - started) / 1000;
    phase(`${N_SCALE}: init`);
    const init = runCli(
      ['init', '--db', sender, '--node', 'bench-sender', '--build-index', '--config', join(work, 'sender-config.toml')],
      {},
      work,
    );
    out.generation = { seconds: generation, init, senderBytes: fileBytes(sender) };
    rows.push([
      `${N_SCALE} sender: generated, init`,
      `${s(generation)}, init ${s(init.seconds)}`,
      `${gb(fileBytes(sender))}; ${N_SCALE_BASE} notes by the generator, the rest by one INSERT … SELECT`,
    ]);

    phase(`${N_SCALE}: initial sync`);
    emptyReceiver(receiver);
    const initial = localSync(sender, receiver, ['--pull-only']);
    phase(`${N_SCALE}: first two-way sync`);
    const settle = localSync(sender, receiver);
    noteRss(`initial ${N_SCALE} local`, initial);
    noteRss(`first two-way ${N_SCALE} local`, settle);
    out.initial = initial;
    out.settle = settle;
    rows.push([`initial ${N_SCALE} local`, `${s(initial.seconds)}, ${rss(initial)}`, `received ${receivedOf(initial.json)}`]);
    rows.push([
      `first two-way sync on ${N_SCALE} local`,
      `${s(settle.seconds)}, ${rss(settle)}`,
      'the first push reads the received feed once for echoes',
    ]);

    phase(`${N_SCALE}: +${N_INCREMENT} and no-op, local`);
    const local = [0, 1, 2].map((trial) => {
      append(sender, N_INCREMENT, 50_000_000 + trial * N_INCREMENT);
      const increment = localSync(sender, receiver);
      const noop = localSync(sender, receiver);
      return { increment, noop };
    });
    out.local = local;
    const inc = median(local, (t) => t.increment.seconds).increment;
    const noop = median(local, (t) => t.noop.seconds).noop;
    noteRss(`+1k ${N_SCALE} local`, inc);
    noteRss(`no-op ${N_SCALE} local`, noop);
    rows.push([`+${N_INCREMENT} into ${N_SCALE} local`, `${s(inc.seconds)}, received ${receivedOf(inc.json)}`, `${rss(inc)}; median of 3`]);
    rows.push([`no-op on ${N_SCALE} local`, `${s(noop.seconds)}, received ${receivedOf(noop.json)}`, `${rss(noop)}; median of 3`]);
    out.diskBytes = fileBytes(sender) + fileBytes(receiver);
    rows.push([`disk used by the ${N_SCALE} pair`, gb(out.diskBytes as number), 'sender + receiver, with their WAL files']);

    const ssh = await SshBench.start(work);
    if (!ssh) {
      rows.push([`${N_SCALE} over ssh`, 'skipped: sshd or sqlite3 not installed', '']);
      return;
    }
    try {
      phase(`${N_SCALE}: +${N_INCREMENT} and no-op over ssh, agent`);
      const config = ssh.configFor(sender);
      const contact = ssh.cli('scale-settle-agent', config, ['sync', 'bench-agent', '--db', receiver, '--json']);
      const trials = [0, 1, 2].map((trial) => {
        append(sender, N_INCREMENT, 60_000_000 + trial * N_INCREMENT);
        const rt = ssh.roundTrip().seconds;
        const increment = ssh.cli('scale-increment-agent', config, ['sync', 'bench-agent', '--db', receiver, '--json']);
        const noop = ssh.cli('scale-noop-agent', config, ['sync', 'bench-agent', '--db', receiver, '--json']);
        return { roundTrip: rt, increment, noop };
      });
      out.sshAgent = { contact, trials };
      const sshInc = median(trials, (t) => t.increment.seconds - t.roundTrip);
      const sshNoop = median(trials, (t) => t.noop.seconds - t.roundTrip);
      noteRss(`+1k ${N_SCALE} ssh agent`, sshInc.increment);
      noteRss(`no-op ${N_SCALE} ssh agent`, sshNoop.noop);
      rows.push([`first agent contact on ${N_SCALE}`, `${s(contact.seconds)}, wire ${formatWire(contact.wire)}`, rss(contact)]);
      rows.push([
        `+${N_INCREMENT} into ${N_SCALE} over ssh, agent`,
        `${s(sshInc.increment.seconds)}, wire ${formatWire(sshInc.increment.wire)}`,
        `rtt (${s(sshInc.roundTrip)}) + ${s(sshInc.increment.seconds - sshInc.roundTrip)}; ${rss(sshInc.increment)}; median of 3`,
      ]);
      rows.push([
        `no-op on ${N_SCALE} over ssh, agent`,
        `${s(sshNoop.noop.seconds)}, wire ${formatWire(sshNoop.noop.wire)}`,
        `rtt (${s(sshNoop.roundTrip)}) + ${s(sshNoop.noop.seconds - sshNoop.roundTrip)}; ${rss(sshNoop.noop)}; median of 3`,
      ]);
    } finally {
      await ssh.stop();
    }
  } finally {
    dropDb(sender);
    dropDb(receiver);
  }
}

function bytesRatio(a: Wire, b: Wire): string {
  return a.kind === 'counted' && b.kind === 'counted' ? ` (rsync moved ${(a.bytes / b.bytes).toFixed(1)}× the bytes)` : '';
}

async function main() {
  if (!cliAvailable()) throw new Error('dist/resonance-sync.mjs missing: run npm run build:dist');
  console.log(
    `resonance-sync bench${quick ? ' (quick)' : ''} in ${work}; load ${(results.machine as { loadAtStart: string }).loadAtStart}`,
  );
  if (!sqlite3Available()) console.log('no sqlite3 CLI: the SQL floors run in-process through the binding');
  // With it set, every Node process parses that PEM bundle at start (~0.4 G instructions, 0.06 s):
  // an environment's setting for https, no part of a sync, so the measured processes run without it.
  if (process.env.NODE_EXTRA_CA_CERTS) {
    delete process.env.NODE_EXTRA_CA_CERTS;
    console.log('NODE_EXTRA_CA_CERTS is set here: every measured process (node -e 0 too) runs without it');
  }
  phase('start times');
  startRows();
  if (process.argv.includes('--start-only')) return printResults();
  curve();
  const sender = join(work, 'in-process-sender.sqlite3');
  preparedSender(sender, N_INITIAL, 0);
  phase('in-process initial');
  await initialInProcess(sender);
  dropDb(sender);
  phase('over ssh');
  await overSsh();
  if (scale10m) await scaleTenMillion();
  const worst = Math.max(...Object.values(peakRss));
  rows.push(['peak RSS, every process above', `${worst.toFixed(0)} MB`, 'target ≤ 150 MB at any size']);
  results.peakRssMb = peakRss;
  printResults();
}

function printResults(): void {
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log();
  for (const [what, figure, reference] of rows) console.log(`${what.padEnd(width)}  ${figure.padEnd(44)}  ${reference}`);
  const load = execFileSync('cat', ['/proc/loadavg']).toString().split(' ').slice(0, 3).join(' ');
  results.loadAtEnd = load;
  results.wallSeconds = (performance.now() - benchStarted) / 1000;
  console.log(`\nthe whole bench took ${(results.wallSeconds as number).toFixed(0)} s wall`);
  console.log(`\nload average at start ${(results.machine as { loadAtStart: string }).loadAtStart}, at end ${load}`);
  mkdirSync('bench-results', { recursive: true });
  const file = join('bench-results', `bench-${quick ? 'quick-' : ''}${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`written ${file}`);
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
