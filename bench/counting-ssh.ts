/**
 * An ssh wrapper for the benchmark: runs the real `ssh` with the same arguments and counts the bytes
 * that pass through its stdin and stdout (the sync's own traffic inside the ssh channel), appending
 * "sent received" to the file named by $RESONANCE_BENCH_WIRE_LOG when ssh exits.
 * Use as RESONANCE_SYNC_SSH="node counting-ssh.js -F config".
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';

const child = spawn('ssh', process.argv.slice(2), { stdio: ['pipe', 'pipe', 'inherit'] });
let sent = 0;
let received = 0;
process.stdin.on('data', (chunk: Buffer) => {
  sent += chunk.length;
  if (!child.stdin.write(chunk)) {
    process.stdin.pause();
    child.stdin.once('drain', () => process.stdin.resume());
  }
});
process.stdin.on('end', () => child.stdin.end());
child.stdin.on('error', () => undefined);
child.stdout.on('data', (chunk: Buffer) => {
  received += chunk.length;
  if (!process.stdout.write(chunk)) {
    child.stdout.pause();
    process.stdout.once('drain', () => child.stdout.resume());
  }
});
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
child.on('close', (code, signal) => {
  const log = process.env.RESONANCE_BENCH_WIRE_LOG;
  if (log) appendFileSync(log, `${sent} ${received}\n`);
  process.exitCode = code ?? (signal ? 128 : 1);
});
