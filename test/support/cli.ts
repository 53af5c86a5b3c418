/** Runs the real CLI as a child process, as a user or cron would. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Run through another program first, e.g. ['setpriv', '--reuid=65534', ...]. */
  prefix?: string[];
}

export function spawnCli(args: string[], options: CliOptions = {}): ChildProcess {
  const command = [...(options.prefix ?? []), process.execPath, CLI_PATH, ...args];
  return spawn(command[0] as string, command.slice(1), {
    cwd: options.cwd,
    // A config path that exists nowhere, so a developer's own config never leaks into a test.
    env: { ...process.env, RESONANCE_SYNC_CONFIG: '/nonexistent/resonance-sync/config.toml', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
