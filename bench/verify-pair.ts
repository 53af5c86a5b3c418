/**
 * `node dist/bench/verify-pair.js [N] [--dir DIR] [--trials T]`: only the bench's verify figures, on a pair of N identical
 * notes (300k by default), made as bench.ts makes its pair (a generated sender, its owner's `init`, a local sync into
 * an empty receiver) and kept in DIR between runs. Prints, per trial, the identity scan floor and `verify` locally,
 * over ssh with the agent and agentless, each a whole process with its ratio to the scan, as bench.ts does.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBenchDb } from './generate.js';
import { runCli, type CliRun } from './cli-run.js';
import { identityScanFloor } from './floors.js';
import { SshBench } from './ssh-bench.js';

const args = process.argv.slice(2);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : undefined;
};
const n = Number(args.find((arg) => /^\d+$/.test(arg)) ?? 300_000);
const trials = Number(option('--trials') ?? 1);
const modes = (option('--modes') ?? 'local,agent,sqlite3').split(',');
const work = option('--dir') ?? join(tmpdir(), `resonance-verify-pair-${n}`);
mkdirSync(work, { recursive: true });
const sender = join(work, 'sender.sqlite3');
const receiver = join(work, 'receiver.sqlite3');
if (!existsSync(receiver)) {
  createBenchDb(sender, 'b', n, 20_000_000);
  runCli(['init', '--db', sender, '--node', 'bench-sender', '--build-index', '--config', join(work, 'sender-config.toml')], {}, work);
  createBenchDb(receiver, 'b', 0);
  runCli(['sync', sender, '--db', receiver, '--json'], {}, work);
}
const ssh = await SshBench.start(work);
try {
  const config = ssh?.configFor(sender);
  for (let trial = 0; trial < trials; trial++) {
    const scan = identityScanFloor(sender, receiver);
    const runs: Array<[string, CliRun]> = [];
    if (modes.includes('local')) runs.push(['local', runCli(['verify', sender, '--db', receiver, '--json'], {}, work)]);
    if (ssh && config)
      for (const mode of ['agent', 'sqlite3'].filter((mode) => modes.includes(mode)))
        runs.push([mode, ssh.cli(`verify-${mode}`, config, ['verify', `bench-${mode}`, '--db', receiver, '--json'])]);
    const scanAfter = identityScanFloor(sender, receiver);
    const floor = Math.min(scan.seconds, scanAfter.seconds);
    console.log(
      `trial ${trial}: identity scan of both ${floor.toFixed(3)} s (${scan.seconds.toFixed(3)}, ${scanAfter.seconds.toFixed(3)})`,
    );
    for (const [mode, run] of runs) {
      const differing = (run.json as { bucketsDiffering?: number } | undefined)?.bucketsDiffering;
      console.log(
        `  verify ${n} ${mode.padEnd(7)} ${run.seconds.toFixed(3)} s = ${(run.seconds / floor).toFixed(2)}× scan, RSS ${run.maxRssMb.toFixed(0)} MB, differing ${differing}`,
      );
      if (process.env.RESONANCE_SYNC_TRACE) console.log(run.stderr);
    }
  }
} finally {
  await ssh?.stop();
}
