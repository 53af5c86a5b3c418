/**
 * Runs the installed command (bin/resonance-sync.mjs, the single-file build) as its own process,
 * exactly as a user runs it, and times it from outside: Node's start, loading the bundle, the work
 * and the exit all count. Peak RSS is that process's own, read at its exit by a hook loaded with
 * `--import` (rss-hook.mjs), so no `/usr/bin/time` is needed. Each run gets the bench's own state
 * folder (XDG_STATE_HOME), never the developer's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const COMMAND = join(ROOT, 'bin', 'resonance-sync.mjs');
const HOOK = join(ROOT, 'bench', 'rss-hook.mjs');

export interface CliRun {
  seconds: number;
  maxRssMb: number;
  /** The command's --json output, parsed (undefined when it printed none). */
  json: unknown;
  status: number;
  /** What the command wrote to stderr (its RESONANCE_SYNC_TRACE marks, when asked for). */
  stderr: string;
}

export function cliAvailable(): boolean {
  return existsSync(join(ROOT, 'dist', 'resonance-sync.mjs'));
}

/** `resonance-sync ARGS` in its own process; throws unless it exits with one of `okStatus`. */
export function runCli(args: string[], env: Record<string, string | undefined>, work: string, okStatus = [0]): CliRun {
  const rssFile = join(work, 'cli-rss.txt');
  rmSync(rssFile, { force: true });
  const started = performance.now();
  const result = spawnSync(process.execPath, ['--import', HOOK, COMMAND, ...args], {
    env: { ...process.env, XDG_STATE_HOME: join(work, 'state'), ...env, BENCH_RSS_FILE: rssFile },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const seconds = (performance.now() - started) / 1000;
  const status = result.status ?? -1;
  if (!okStatus.includes(status))
    throw new Error(`resonance-sync ${args.join(' ')} exited ${result.status ?? result.signal}: ${result.stderr.slice(-2000)}`);
  const kib = existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) : Number.NaN;
  let json: unknown;
  try {
    json = result.stdout.trim() ? JSON.parse(result.stdout) : undefined;
  } catch {
    json = undefined;
  }
  return { seconds, maxRssMb: kib / 1024, json, status, stderr: result.stderr };
}

/** Entries received over all peers and directions of a `sync --json` report. */
export function receivedOf(json: unknown): number {
  const peers = (json as { peers?: Array<{ directions?: Array<{ received?: number }> }> } | undefined)?.peers ?? [];
  return peers.flatMap((peer) => peer.directions ?? []).reduce((sum, d) => sum + Number(d.received ?? 0), 0);
}
