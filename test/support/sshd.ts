/**
 * Starts a real OpenSSH server on 127.0.0.1 for integration tests. Everything (host key, user key,
 * sshd_config, ssh_config, known_hosts, authorized_keys) lives in a fresh temp dir, and the client
 * config verifies the host key strictly against a per-run known_hosts file: no test ever weakens
 * host-key checking.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import type { TestContext } from 'node:test';

export interface SshServer {
  host: '127.0.0.1';
  port: number;
  user: string;
  dir: string;
  knownHostsPath: string;
  identityPath: string;
  sshConfigPath: string;
  /** `['ssh', '-F', sshConfigPath]`: append any host name (HostName is forced) and a command. */
  sshCommand: string[];
  /** process.env plus RESONANCE_SYNC_SSH, for running the product against this server. */
  env: NodeJS.ProcessEnv;
  authorizedKeysPath: string;
  setAuthorizedKeys(lines: string[]): void;
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  /** Prefix for the default authorized_keys line, e.g. `command="...",restrict`. */
  authorizedKeysOptions?: string;
  /**
   * More accounts that may log in, each with its own PATH (sshd's SetEnv, so no startup file is
   * involved) and its keys in ~/.ssh/authorized_keys (sshd reads it as that user).
   */
  extraUsers?: Array<{ name: string; path: string }>;
}

const INSTALL_HINT = 'apt-get install openssh-server openssh-client';
const READY_DEADLINE_MS = 10_000;

/** Absolute path of an executable; sshd lives in /usr/sbin, which is often not on a non-root PATH. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs.filter((d) => d.startsWith('/'))) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export function sshdAvailable(): boolean {
  return ['sshd', 'ssh', 'ssh-keygen'].every((name) => findExecutable(name) !== undefined);
}

/** Skips locally when OpenSSH is missing, but fails in CI so a broken CI image cannot pass silently. */
export function requireSshdOrSkip(t: TestContext): boolean {
  if (sshdAvailable()) return true;
  if (process.env.CI) throw new Error(`sshd/ssh not installed but CI is set: ${INSTALL_HINT}`);
  t.skip('sshd not installed: apt-get install openssh-server');
  return false;
}

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs = 10_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr: stderr || (error?.message ?? '') });
    });
  });
}

async function keygen(path: string, comment: string): Promise<string> {
  const result = await run('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', comment, '-f', path]);
  if (result.code !== 0) throw new Error(`ssh-keygen failed (${INSTALL_HINT}): ${result.stderr}`);
  return readFileSync(`${path}.pub`, 'utf8').trim();
}

/** Asks the kernel for a free port; another process may grab it before sshd binds, so callers retry. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Children and dirs still alive, so a test that forgets stop() (or a crash) does not leak sshd.
const live = new Map<ChildProcess, string>();
let cleanupInstalled = false;

function killAllSync(): void {
  for (const [child, dir] of live) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  live.clear();
}

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.once('exit', killAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllSync();
      // Re-raise so the default "die on signal" behaviour still applies unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.ref(); // keep the event loop alive until sshd is really gone
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
  await exited;
  clearTimeout(timer);
}

export async function startSshd(options: StartSshdOptions = {}): Promise<SshServer> {
  const sshd = findExecutable('sshd');
  if (sshd === undefined || !sshdAvailable()) throw new Error(`OpenSSH not found: ${INSTALL_HINT}`);
  // sshd refuses to start as root without its privilege separation dir, which a fresh container lacks.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  installCleanup();

  const dir = mkdtempSync(join(tmpdir(), 'resonance-sshd-'));
  try {
    return await startIn(dir, sshd, options);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function startIn(dir: string, sshd: string, options: StartSshdOptions): Promise<SshServer> {
  const user = userInfo().username;
  const hostKeyPath = join(dir, 'ssh_host_ed25519_key');
  const identityPath = join(dir, 'id_ed25519');
  const authorizedKeysPath = join(dir, 'authorized_keys');
  const knownHostsPath = join(dir, 'known_hosts');
  const sshConfigPath = join(dir, 'ssh_config');
  const sshdConfigPath = join(dir, 'sshd_config');
  const logPath = join(dir, 'sshd.log');
  const [hostPub, userPub] = await Promise.all([keygen(hostKeyPath, 'resonance-test-host'), keygen(identityPath, 'resonance-test-user')]);

  const setAuthorizedKeys = (lines: string[]): void =>
    writeFileSync(authorizedKeysPath, lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  setAuthorizedKeys([options.authorizedKeysOptions ? `${options.authorizedKeysOptions} ${userPub}` : userPub]);

  let lastError = '';
  // The free port can be stolen between probing and sshd's bind; retry only that failure.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeConfigs({
      dir,
      port,
      user,
      extraUsers: options.extraUsers ?? [],
      hostKeyPath,
      identityPath,
      authorizedKeysPath,
      knownHostsPath,
      sshConfigPath,
      sshdConfigPath,
    });
    writeFileSync(knownHostsPath, `[127.0.0.1]:${port} ${hostPub.split(' ').slice(0, 2).join(' ')}\n`);

    const logFd = openSync(logPath, 'w');
    const child = spawn(sshd, ['-D', '-e', '-f', sshdConfigPath], { stdio: ['ignore', 'ignore', logFd] });
    closeSync(logFd);
    // Unref so a forgotten stop() cannot hang the test process; the exit hook still kills sshd.
    child.unref();
    live.set(child, dir);
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.once('error', () => undefined); // spawn failures surface as an early exit below
    exited.then(
      () => live.delete(child),
      () => undefined,
    );

    const readyError = await waitReady(child, port, sshConfigPath);
    if (readyError === undefined) {
      let stopped: Promise<void> | undefined;
      return {
        host: '127.0.0.1',
        port,
        user,
        dir,
        knownHostsPath,
        identityPath,
        sshConfigPath,
        authorizedKeysPath,
        setAuthorizedKeys,
        sshCommand: ['ssh', '-F', sshConfigPath],
        env: { ...process.env, RESONANCE_SYNC_SSH: `ssh -F ${sshConfigPath}` },
        stop: () => {
          stopped ??= stopChild(child, exited).then(() => {
            live.delete(child);
            rmSync(dir, { recursive: true, force: true });
          });
          return stopped;
        },
      };
    }
    await stopChild(child, exited);
    live.delete(child);
    lastError = `${readyError}\nsshd stderr:\n${readFileSync(logPath, 'utf8').trim() || '(empty)'}`;
    if (!/Address already in use/i.test(lastError)) break;
  }
  throw new Error(`sshd did not become ready (is OpenSSH installed? ${INSTALL_HINT}): ${lastError}`);
}

interface ConfigPaths {
  dir: string;
  port: number;
  user: string;
  extraUsers: Array<{ name: string; path: string }>;
  hostKeyPath: string;
  identityPath: string;
  authorizedKeysPath: string;
  knownHostsPath: string;
  sshConfigPath: string;
  sshdConfigPath: string;
}

function writeConfigs(p: ConfigPaths): void {
  // No Include lines on purpose: the system's sshd_config.d/ssh_config.d must not leak into tests.
  const sshdConfig = [
    'ListenAddress 127.0.0.1',
    `Port ${p.port}`,
    `HostKey ${p.hostKeyPath}`,
    `PidFile ${join(p.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${p.authorizedKeysPath}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no', // mkdtemp dirs live under a world-writable /tmp, which StrictModes rejects
    'PermitRootLogin prohibit-password', // tests run as root here and in CI
    `AllowUsers ${[p.user, ...p.extraUsers.map((u) => u.name)].join(' ')}`,
    'LogLevel ERROR',
    // Match blocks last: everything after a Match line belongs to it.
    ...p.extraUsers.flatMap((u) => [`Match User ${u.name}`, '  AuthorizedKeysFile .ssh/authorized_keys', `  SetEnv PATH=${u.path}`]),
  ];
  const sshConfig = [
    'HostName 127.0.0.1',
    `Port ${p.port}`,
    `User ${p.user}`,
    `IdentityFile ${p.identityPath}`,
    'IdentitiesOnly yes',
    `UserKnownHostsFile ${p.knownHostsPath}`,
    'GlobalKnownHostsFile /dev/null',
    'StrictHostKeyChecking yes',
    'UpdateHostKeys no', // keep known_hosts exactly as the harness (or a test) wrote it
    'BatchMode yes',
    'ConnectTimeout 5',
    'LogLevel ERROR',
  ];
  writeFileSync(p.sshdConfigPath, `${sshdConfig.join('\n')}\n`);
  writeFileSync(p.sshConfigPath, `${sshConfig.join('\n')}\n`);
}

/** Resolves undefined once a real login works, else a description of what went wrong. */
async function waitReady(child: ChildProcess, port: number, sshConfigPath: string): Promise<string | undefined> {
  const deadline = Date.now() + READY_DEADLINE_MS;
  const exitedEarly = (): string | undefined =>
    child.exitCode !== null || child.signalCode !== null
      ? `sshd exited early (code ${child.exitCode}, signal ${child.signalCode})`
      : undefined;
  for (;;) {
    const early = exitedEarly();
    if (early !== undefined) return early;
    if (await acceptsTcp(port)) break;
    if (Date.now() > deadline) return `port ${port} did not accept connections within ${READY_DEADLINE_MS} ms`;
    await sleep(50);
  }
  let last = '';
  do {
    const result = await run('ssh', ['-F', sshConfigPath, '127.0.0.1', 'true']);
    // ssh reserves 255 for its own failures; anything else means we logged in (a forced command may exit non-zero).
    if (result.code !== null && result.code !== 255) return undefined;
    last = `ssh login check failed (exit ${result.code}): ${result.stderr.trim()}`;
    const early = exitedEarly();
    if (early !== undefined) return `${early}; ${last}`;
    await sleep(100);
  } while (Date.now() < deadline);
  return last;
}
