/**
 * The ssh child process: spawned in its own process group (so the terminal's Ctrl-C reaches only us,
 * and we can finish the batch in flight before closing the connection), with its stderr kept for
 * diagnosis, closed gently (EOF, then SIGTERM, then SIGKILL) and never left behind when we exit.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { createRequire } from 'node:module';
import type { SshOutcome } from './ssh-command.js';
import { trace, traceEnabled } from '../../core/trace.js';

/** node:child_process, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const childProcess = (): typeof import('node:child_process') => createRequire(import.meta.url)('node:child_process');

const STDERR_KEEP = 16 * 1024;
/** After EOF the agent closes its database and exits; ssh follows. This is generous for a slow phone. */
const EXIT_GRACE_MS = 5_000;
const TERM_GRACE_MS = 2_000;
const STDIO_GRACE_MS = 300;

const live = new Set<SshProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Runs on any exit, including process.exit() after a second Ctrl-C; only synchronous work is possible.
  process.once('exit', () => {
    for (const child of live) child.signal('SIGTERM');
  });
}

/**
 * Where an ssh started ahead waits for its transport: on globalThis, because the installed command
 * starts it from a small file of its own (cli/early-ssh.ts) before the command line's file is
 * loaded, and each file has its own copy of this module.
 */
const EARLY_KEY = Symbol.for('resonance-sync.early-ssh');
interface EarlySsh {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  process: SshProcess;
}
type WithEarlySsh = typeof globalThis & { [EARLY_KEY]?: EarlySsh | undefined };

/**
 * Starts ssh with `argv` now, for the transport that will ask for exactly that command line (and
 * environment) a moment later (startSsh): the login then overlaps the loading of the rest of the
 * program. Nothing is written to it here; a newer one replaces (and ends) an unclaimed one.
 */
export function startSshEarly(argv: readonly string[], env: NodeJS.ProcessEnv): void {
  discardEarlySsh();
  (globalThis as WithEarlySsh)[EARLY_KEY] = { argv: [...argv], env, process: new SshProcess(argv, env, 'ssh spawned early') };
}

/** Ends an ssh started ahead that no transport claimed (the command failed first, or wanted another). */
export function discardEarlySsh(): void {
  const early = (globalThis as WithEarlySsh)[EARLY_KEY];
  (globalThis as WithEarlySsh)[EARLY_KEY] = undefined;
  if (early === undefined) return;
  trace('early ssh discarded');
  void early.process.kill();
}

/** ssh running `argv`: the one started ahead for exactly this command line and environment, else a new one. */
export function startSsh(argv: readonly string[], env: NodeJS.ProcessEnv): SshProcess {
  const early = (globalThis as WithEarlySsh)[EARLY_KEY];
  if (early !== undefined && early.env === env && early.argv.length === argv.length && early.argv.every((word, at) => word === argv[at])) {
    (globalThis as WithEarlySsh)[EARLY_KEY] = undefined;
    trace('early ssh taken');
    return early.process;
  }
  discardEarlySsh();
  return new SshProcess(argv, env);
}

export class SshProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<SshOutcome>;
  private head = '';
  private tail = '';
  private spawnError: NodeJS.ErrnoException | undefined;
  private done = false;

  constructor(argv: readonly string[], env: NodeJS.ProcessEnv, mark = 'ssh spawned') {
    const [file, ...args] = argv;
    installExitHook();
    this.child = childProcess().spawn(file ?? 'ssh', args, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    live.add(this);
    trace(mark);
    this.child.once('exit', () => trace('ssh exited'));
    this.child.stdin.on('error', () => undefined); // EPIPE when the remote is gone; the exit status tells why
    this.child.stderr.on('data', (chunk: Buffer) => this.keepStderr(chunk.toString('utf8')));
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.done) return;
        this.done = true;
        live.delete(this);
        resolve({ code, signal, stderr: this.stderr, spawnError: this.spawnError });
      };
      this.child.once('error', (error: NodeJS.ErrnoException) => {
        this.spawnError = error;
        // A spawn failure emits no 'close' when no process ever existed.
        if (this.child.pid === undefined) finish(null, null);
      });
      this.child.once('close', finish);
      // 'close' waits for stdio to close, which a leftover grandchild (a ProxyCommand, a wrapper's
      // child) can hold open; the exit status is known anyway, and its stderr is in by now mostly.
      this.child.once('exit', (code, signal) => {
        // Whatever ssh (or a wrapper) left behind in its group belongs to this dead connection. The
        // group id cannot be reused while any member lives, so this reaches nobody else.
        this.signalGroup('SIGTERM');
        setTimeout(() => finish(code, signal), STDIO_GRACE_MS).unref();
      });
    });
  }

  get stderr(): string {
    return this.tail === '' ? this.head : `${this.head}\n...\n${this.tail}`;
  }

  get running(): boolean {
    return !this.done;
  }

  /** Ends our side: the agent sees EOF, finishes, and exits; escalates if it does not. */
  async close(graceMs = EXIT_GRACE_MS): Promise<SshOutcome> {
    this.child.stdin.end();
    return this.waitOrKill(graceMs);
  }

  /** Stops at once (deadline, abort, broken protocol). */
  kill(): Promise<SshOutcome> {
    this.child.stdin.destroy();
    this.signal('SIGTERM');
    return this.waitOrKill(TERM_GRACE_MS, true);
  }

  /** Sends a signal to ssh's whole process group (a ProxyCommand child too). */
  signal(name: NodeJS.Signals): void {
    if (this.done || this.child.pid === undefined) return;
    if (!this.signalGroup(name)) this.child.kill(name);
  }

  private signalGroup(name: NodeJS.Signals): boolean {
    if (this.child.pid === undefined) return false;
    try {
      process.kill(-this.child.pid, name);
      return true;
    } catch {
      return false; // ESRCH: the group is gone already
    }
  }

  private async waitOrKill(graceMs: number, termSent = false): Promise<SshOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const escalate = (signal: NodeJS.Signals, after: number) =>
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.signal(signal);
          resolve();
        }, after);
      });
    try {
      const outcome = await Promise.race([this.exited, escalate(termSent ? 'SIGKILL' : 'SIGTERM', graceMs).then(() => undefined)]);
      if (outcome) return outcome;
      clearTimeout(timer);
      if (!termSent) await Promise.race([this.exited, escalate('SIGKILL', TERM_GRACE_MS)]);
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private keepStderr(text: string): void {
    // The far side's own trace marks (core/trace.ts), passed on so both ends' lines can be merged.
    if (traceEnabled()) process.stderr.write(text);
    // Keep the start (ssh's diagnosis) and the end (the latest words), not an unbounded middle.
    if (this.head.length < STDERR_KEEP) {
      const room = STDERR_KEEP - this.head.length;
      this.head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text !== '') this.tail = (this.tail + text).slice(-STDERR_KEEP);
  }
}
