/**
 * `resonance-sync authorize --db PATH [--read-only] [--key FILE | --public-key LINE] [--install]`:
 * prints an authorized_keys line that lets one ssh key sync this one database and nothing else: a
 * forced `serve --allow-db` command plus `restrict` (no shell, no forwarding, no pty). The syncing
 * machine's peer URL must name this path. `--install` puts the line into ~/.ssh/authorized_keys itself
 * (what `pair` on the desktop tells the phone to run).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { expandHome } from '../../core/peer-url.js';
import { SyncError } from '../../core/errors.js';
import { runningBundled } from '../../core/version.js';
import { shellQuote } from '../../transport/ssh/ssh-command.js';
import type { GlobalOptions } from '../context.js';

interface AuthorizeOptions extends GlobalOptions {
  db?: string;
  readOnly?: boolean;
  key?: string;
  publicKey?: string;
  install?: boolean;
  command?: string;
}

const KEY_PLACEHOLDER = 'PUBLIC-KEY-OF-THE-SYNCING-MACHINE';
const KEY_LINE = /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( [^\r\n]*)?$/;

export function registerAuthorize(program: Command): void {
  program
    .command('authorize')
    .description('print an authorized_keys line that lets one ssh key sync only this database')
    .requiredOption('--db <path>', 'the database the key may sync')
    .option('--read-only', 'the key may only pull from the database, never write to it')
    .option('--key <file>', "the syncing machine's public key file (default: a placeholder to replace)")
    .option('--public-key <line>', 'the public key itself, "ssh-ed25519 AAAA... comment" (instead of --key)')
    .option('--install', "add the line to this account's ~/.ssh/authorized_keys (replacing that key's old line)")
    .option('--command <command>', 'how sshd should start resonance-sync (default: this installation, by absolute path)')
    .action((_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<AuthorizeOptions>();
      const line = authorizedKeysLine(options);
      if (!options.install) {
        process.stdout.write(`${line}\n`);
        return;
      }
      if (options.key === undefined && options.publicKey === undefined)
        throw new SyncError('USAGE', '--install needs --key FILE or --public-key LINE');
      const { path, replaced } = installAuthorizedKey(line);
      process.stdout.write(
        `${replaced ? 'replaced this key in' : 'added the key to'} ${path}: it may only sync ${resolve(expandHome(options.db ?? ''))}\n`,
      );
    });
}

/** The key's blob: what identifies a key in an authorized_keys line, whatever its options or comment. */
function keyBlob(line: string): string | undefined {
  return /(?:^|\s)(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) ([A-Za-z0-9+/=]{16,})/.exec(line)?.[1];
}

/**
 * Appends the line to ~/.ssh/authorized_keys (0700 folder, 0600 file), written atomically. sshd uses
 * the first line that matches a key, so an older line for the same key (unrestricted, or naming
 * another database) would win over the new one: it is removed.
 */
export function installAuthorizedKey(line: string): { path: string; replaced: boolean } {
  const dir = join(homedir(), '.ssh');
  const path = join(dir, 'authorized_keys');
  const blob = keyBlob(line);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const lines = old.split('\n').filter((l) => l !== '');
  const kept = lines.filter((l) => blob === undefined || keyBlob(l) !== blob);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, [...kept, line].map((l) => `${l}\n`).join(''), { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  return { path, replaced: kept.length !== lines.length };
}

export function authorizedKeysLine(options: AuthorizeOptions): string {
  const path = resolve(expandHome(options.db ?? ''));
  if (!existsSync(path)) throw new SyncError('DB_NOT_FOUND', `database not found: ${path} (check the path)`);
  const real = realpathSync(path);
  // sshd's command="..." only unescapes \" ; a newline would end the authorized_keys line.
  if (/[\r\n]/.test(real))
    throw new SyncError('USAGE', `the database path contains a newline, which authorized_keys cannot hold: ${JSON.stringify(real)}`);
  const words = ['serve', '--stdio', '--allow-db', real, ...(options.readOnly ? ['--read-only'] : [])];
  const serve = `${options.command ?? thisInstallation()} ${words.map(shellQuote).join(' ')}`;
  const key = options.publicKey === undefined ? publicKey(options.key) : checkedKeyLine(options.publicKey, '--public-key');
  return `command="${serve.replaceAll('"', '\\"')}",restrict ${key}`;
}

/**
 * Absolute paths: sshd runs forced commands with a minimal PATH, where `resonance-sync` may not be.
 * From the single-file build that is the running file itself: on a phone, the agent the desktop
 * uploaded into ~/.cache/resonance-sync, so the forced command names exactly that agent.
 */
function thisInstallation(): string {
  const program = runningBundled() ? fileURLToPath(import.meta.url) : fileURLToPath(new URL('../main.js', import.meta.url));
  return `${shellQuote(process.execPath)} ${shellQuote(program)}`;
}

function publicKey(file: string | undefined): string {
  if (file === undefined) return KEY_PLACEHOLDER;
  let text: string;
  try {
    text = readFileSync(resolve(expandHome(file)), 'utf8').trim();
  } catch (error) {
    throw new SyncError('USAGE', `cannot read the public key ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      cause: error,
    });
  }
  return checkedKeyLine(text, file);
}

function checkedKeyLine(text: string, what: string): string {
  const line = text.trim();
  if (!KEY_LINE.test(line))
    throw new SyncError('USAGE', `${what} is not one OpenSSH public key line (like "ssh-ed25519 AAAA... comment"); pass the .pub file`);
  return line;
}
