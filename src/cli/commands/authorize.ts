/**
 * `resonance-sync authorize --db PATH [--read-only] [--key FILE]`: prints an authorized_keys line that
 * lets one ssh key sync this one database and nothing else: a forced `serve --allow-db` command plus
 * `restrict` (no shell, no forwarding, no pty). The syncing machine's peer URL must name this path.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
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
    .option('--command <command>', 'how sshd should start resonance-sync (default: this installation, by absolute path)')
    .action((_options: unknown, command: Command) => {
      process.stdout.write(`${authorizedKeysLine(command.optsWithGlobals<AuthorizeOptions>())}\n`);
    });
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
  return `command="${serve.replaceAll('"', '\\"')}",restrict ${publicKey(options.key)}`;
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
  if (!KEY_LINE.test(text))
    throw new SyncError('USAGE', `${file} is not one OpenSSH public key line (like "ssh-ed25519 AAAA... comment"); pass the .pub file`);
  return text;
}
