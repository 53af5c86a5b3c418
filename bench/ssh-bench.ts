/**
 * The SSH half of the benchmark: a real sshd on 127.0.0.1 (the test harness), the ssh round trip as
 * the reference, initial sync per transport, incremental and no-op over ssh, rsync of the whole file,
 * and bytes on the wire counted inside the ssh channel (bench/counting-ssh.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSshd, sshdAvailable, type SshServer } from '../test/support/sshd.js';

const CHILD = fileURLToPath(new URL('./sync-child.js', import.meta.url));
const COUNTING_SSH = fileURLToPath(new URL('./counting-ssh.js', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface SshRun {
  seconds: number;
  maxRssMb: number;
  received: number;
  wireBytes: number;
}

export class SshBench {
  private constructor(
    readonly server: SshServer,
    private readonly work: string,
  ) {}

  static async start(work: string): Promise<SshBench | undefined> {
    if (!sshdAvailable() || !existsSync('/usr/bin/sqlite3')) return undefined;
    return new SshBench(await startSshd(), work);
  }

  url(path: string): string {
    return `ssh://${this.server.user}@127.0.0.1:${this.server.port}${path}`;
  }

  /** `ssh HOST true`, the floor under any sync over ssh (median of five). */
  roundTripSeconds(): number {
    const times = Array.from({ length: 5 }, () => {
      const started = performance.now();
      execFileSync(this.server.sshCommand[0] as string, [...this.server.sshCommand.slice(1), '127.0.0.1', 'true']);
      return (performance.now() - started) / 1000;
    }).sort((a, b) => a - b);
    return times[2] as number;
  }

  sync(localDb: string, remoteDb: string, which: 'pull' | 'push' | 'both', mode: 'agent' | 'sqlite3'): SshRun {
    const wireLog = join(this.work, `wire-${Date.now()}-${Math.random()}.log`);
    const env = {
      ...process.env,
      ...this.server.env,
      RESONANCE_SYNC_SSH: `${process.execPath} ${COUNTING_SSH} -F ${this.server.sshConfigPath}`,
      RESONANCE_BENCH_WIRE_LOG: wireLog,
    };
    // In agent mode remote_command starts resonance-sync; in sqlite3 mode it would name sqlite3.
    const remoteCommand = mode === 'agent' ? `${process.execPath} ${CLI}` : '';
    const args = [CHILD, localDb, this.url(remoteDb), which, mode, ...(remoteCommand ? [remoteCommand] : [])];
    const result = spawnSync(process.execPath, args, { env, encoding: 'utf8', maxBuffer: 1 << 20 });
    if (result.status !== 0) throw new Error(`ssh ${mode} sync failed: ${result.stderr}`);
    const wireBytes = existsSync(wireLog)
      ? readFileSync(wireLog, 'utf8').trim().split('\n').reduce((sum, line) => sum + line.split(' ').reduce((s, n) => s + Number(n), 0), 0)
      : 0;
    rmSync(wireLog, { force: true });
    return { ...JSON.parse(result.stdout), wireBytes } as SshRun;
  }

  /** rsync -az of the whole file over the same ssh, onto an older copy: time and bytes on the wire. */
  rsync(source: string, olderCopy: string): { seconds: number; wireBytes: number } {
    const target = join(this.work, 'rsync-target.sqlite3');
    copyFileSync(olderCopy, target);
    const started = performance.now();
    const output = execFileSync('rsync', ['-az', '--stats', '-e', `ssh -F ${this.server.sshConfigPath}`, source, `127.0.0.1:${target}`], { encoding: 'utf8' });
    const seconds = (performance.now() - started) / 1000;
    const number = (label: string) => Number(new RegExp(`${label}: ([\\d,]+)`).exec(output)?.[1]?.replaceAll(',', '') ?? 0);
    return { seconds, wireBytes: number('Total bytes sent') + number('Total bytes received') };
  }

  async stop(): Promise<void> {
    await this.server.stop();
  }
}

export function rsyncAvailable(): boolean {
  return spawnSync('rsync', ['--version']).status === 0;
}
