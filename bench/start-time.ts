/**
 * Start-up cost of the installed command (bin/resonance-sync.mjs, the launcher of the single-file
 * build) against `node -e 0` in the same run: `--version`, and a no-op local `status`. Each is the
 * median of interleaved runs, so a busy moment hits every command alike. Every ssh sync pays this
 * twice (here, and `serve --stdio` on the phone).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const COMMAND = join(ROOT, 'bin', 'resonance-sync.mjs');

export interface StartTimes {
  baselineSeconds: number;
  version: { seconds: number; ratio: number };
  status: { seconds: number; ratio: number };
}

function timed(args: string[]): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} failed: ${result.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

export function measureStartTimes(work: string, runs = 15): StartTimes {
  if (!existsSync(join(ROOT, 'dist', 'resonance-sync.mjs'))) throw new Error('dist/resonance-sync.mjs missing: run npm run build:dist');
  const demo = join(work, 'start-demo');
  timed([COMMAND, 'demo', demo]);
  const status = [COMMAND, 'status', '--config', join(demo, 'config.toml')];
  // Warm-up: the first run fills the compile cache (as the first sync after an install does).
  timed([COMMAND, '--version']);
  timed(status);
  const samples = { baseline: [] as number[], version: [] as number[], status: [] as number[] };
  for (let i = 0; i < runs; i++) {
    samples.baseline.push(timed(['-e', '0']));
    samples.version.push(timed([COMMAND, '--version']));
    samples.status.push(timed(status));
  }
  const baselineSeconds = median(samples.baseline);
  const of = (values: number[]) => ({ seconds: median(values), ratio: median(values) / baselineSeconds });
  return { baselineSeconds, version: of(samples.version), status: of(samples.status) };
}
