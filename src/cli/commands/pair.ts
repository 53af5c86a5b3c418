/**
 * `resonance-sync pair`: a phone in two commands. On the phone, `pair --show` prints one token (and,
 * on a terminal, its QR code) holding the login, addresses, port, database and sshd host key. On the
 * desktop, `pair TOKEN` pins that host key (no trust-on-first-use prompt), makes a key without
 * passphrase for unattended runs if none is named, adds the peer, prints the one line that authorizes
 * the key on the phone (a forced command: that database only), and previews the first sync.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { renderUnicodeCompact } from 'uqr';
import { addPeer, saveConfig } from '../../config/config-file.js';
import type { Route } from '../../core/route.js';
import { describeRoute } from '../../core/route.js';
import { SyncError } from '../../core/errors.js';
import { decodePairToken, encodePairToken, type PairToken } from '../../core/pair-token.js';
import { formatPeerUrl } from '../../core/peer-url.js';
import { DEMO_ROUTES } from '../../demo/sample-notes.js';
import { shellQuote } from '../../transport/ssh/ssh-command.js';
import { CliContext, type GlobalOptions } from '../context.js';
import { advertise } from '../pair/advertise.js';
import { homeRelative, pinHostKeys, reachableHost, syncKey } from '../pair/ssh-setup.js';

/** node:child_process, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const childProcess = (): typeof import('node:child_process') => createRequire(import.meta.url)('node:child_process');
/** node:readline/promises, loaded on first use: an import would load it into the start of every command and of the agent (cli/main.ts). */
const readline = (): typeof import('node:readline/promises') => createRequire(import.meta.url)('node:readline/promises');

interface PairOptions extends GlobalOptions {
  show?: boolean;
  db?: string;
  name?: string;
  port?: string;
  address?: string[];
  hostKey?: string[];
  identity?: string;
  everything?: boolean;
  preview?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerPair(program: Command): void {
  program
    .command('pair')
    .description('pair a phone: `pair --show` on the phone prints a token; `pair TOKEN` on the desktop adds it as a peer')
    .argument('[token]', 'the token `pair --show` printed on the phone')
    .option('--show', 'on the phone: print the token for this device (and its QR code on a terminal)')
    .option('--db <path>', "--show: the database to pair (default: the config's node.db)")
    .option('--name <name>', "the phone's name: with --show, the name it offers (default: the config's node name); else the peer name")
    .option('--port <port>', "--show: the sshd port (default: sshd_config's Port, else 8022 in Termux, 22 elsewhere)")
    .option('--address <host>', "--show: an address the desktop can reach (repeatable; default: this device's)", collect)
    .option('--host-key <file>', '--show: the sshd public host key file (repeatable; default: found beside sshd_config)', collect)
    .option('--identity <file>', 'the private key to sync with (default: ~/.ssh/resonance-sync_ed25519, created if missing)')
    .option('--everything', 'start the routes with everything but device-local contexts (default: the seed routes)')
    .option('--no-preview', 'do not preview the first sync')
    .action(async (token: string | undefined, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<PairOptions>();
      const context = new CliContext(options);
      if (options.show) {
        if (token !== undefined) throw new SyncError('USAGE', '`pair --show` takes no token: it prints one');
        show(context, options);
        return;
      }
      if (token === undefined)
        throw new SyncError('USAGE', 'pair needs a token (run `resonance-sync pair --show` on the phone), or --show');
      await join(context, decodePairToken(token), options);
    });
}

function show(context: CliContext, options: PairOptions): void {
  const config = context.config();
  const port = options.port === undefined ? undefined : Number(options.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new SyncError('USAGE', `--port must be a number from 1 to 65535, not ${JSON.stringify(options.port)}`);
  }
  const token = encodePairToken(
    advertise({
      db: options.db ?? config.node.db,
      name: options.name ?? config.node.name,
      port,
      addresses: options.address,
      hostKeys: options.hostKey,
      env: process.env,
    }),
  );
  // The token alone on stdout when it is piped; the QR code and the next step only for a person.
  process.stdout.write(`${token}\n`);
  if (!process.stdout.isTTY) return;
  process.stdout.write(`\n${renderUnicodeCompact(token, { ecc: 'L', border: 2 })}\n\n`);
  process.stdout.write('On the desktop, run:  resonance-sync pair <the line above>\n');
}

/** `SHA256:…` as ssh-keygen -l prints it, to compare by eye with the phone's. */
function fingerprint(key: string): string {
  const blob = Buffer.from(key.split(' ')[1] ?? '', 'base64');
  return `${key.split(' ')[0]} SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

function seedRoutes(everything: boolean): { push: Partial<Route>; pull: Partial<Route> } {
  if (everything) return { push: {}, pull: {} };
  return { push: { includeContext: DEMO_ROUTES.toSelesta }, pull: { includeContext: DEMO_ROUTES.fromSelesta } };
}

async function join(context: CliContext, token: PairToken, options: PairOptions): Promise<void> {
  const name = options.name ?? token.name;
  const config = context.config({ creating: true });
  if (config.peers.some((p) => p.name === name)) {
    throw new SyncError(
      'PEER_EXISTS',
      `peer "${name}" already exists; remove it first (resonance-sync peer remove ${name}) or pass --name`,
    );
  }
  const host = await reachableHost(token.hosts, token.port);
  if (host === undefined) {
    context.print(
      `none of ${token.hosts.join(', ')} answers on port ${token.port} now (is sshd running on the phone, on the same network?); using ${token.hosts[0]}`,
    );
  }
  const address = host ?? (token.hosts[0] as string);

  const alias = `resonance-sync.${name}`;
  const pinned = pinHostKeys(alias, token.hostKeys);
  context.print(
    `${pinned.replaced ? 'replaced the pinned host key' : 'pinned the host key'} of ${name} (${token.hostKeys.map(fingerprint).join(', ')}) in ${homeRelative(pinned.path)}`,
  );
  const key = syncKey(options.identity);
  if (key.created) {
    context.print(
      `created a key without passphrase for unattended syncs: ${homeRelative(key.identityFile)} (the phone restricts it to the sync)`,
    );
  } else {
    context.print(`syncing with the key ${homeRelative(key.identityFile)}`);
  }
  if (key.passphrase) {
    context.print(`  it has a passphrase: unattended runs (cron) fail unless ssh-agent holds it; omit --identity for a dedicated key`);
  }

  const url = formatPeerUrl({
    kind: 'ssh',
    user: token.user,
    host: address,
    port: token.port,
    path: token.db.startsWith('~/') ? token.db.slice(2) : token.db,
    homeRelative: token.db.startsWith('~/'),
  });
  const routes = seedRoutes(options.everything ?? false);
  const updated = addPeer(config, {
    name,
    url,
    ...routes,
    ssh: { identityFile: homeRelative(key.identityFile), knownHostsFile: homeRelative(pinned.path), hostKeyAlias: alias },
  });
  saveConfig(context.configPath, updated);
  const peer = updated.peers.find((p) => p.name === name);
  context.print(`added peer ${name} (${url}) to ${context.configPath}`);
  if (peer !== undefined) {
    context.print(`  push: ${describeRoute(peer.push)}`);
    context.print(`  pull: ${describeRoute(peer.pull)}`);
    context.print(`  (a starting point: edit [peers.${name}.push] and [peers.${name}.pull] there)`);
  }

  const phoneLine = ['resonance-sync', 'authorize', '--db', token.db, '--public-key', key.publicKey, '--install'];
  context.print('');
  context.print('Now run this one line on the phone (it lets this key sync that one database, and nothing else):');
  context.print('');
  context.print(`  ${phoneLine.map((word, index) => (index < 2 || word.startsWith('--') ? word : shellQuote(word))).join(' ')}`);
  context.print('');
  if (options.preview === false) return;
  await preview(context, name);
}

/**
 * The first sync's preview, once the phone has authorized the key: on a terminal after Enter; else at
 * once, and if the key is not authorized yet, the command to preview with later.
 */
async function preview(context: CliContext, name: string): Promise<void> {
  const command = `resonance-sync sync ${name} --dry-run`;
  if (process.stdin.isTTY && process.stdout.isTTY) {
    const prompt = readline().createInterface({ input: process.stdin, output: process.stdout });
    await prompt.question('Press Enter once it ran on the phone, to preview the first sync (Ctrl-C to stop here) ');
    prompt.close();
  }
  const result = await runSelf(['sync', name, '--dry-run', '--config', context.configPath]);
  if (result.code === 0) {
    context.print(`Preview of the first sync (${command}): nothing was written`);
    process.stdout.write(result.stdout);
    context.print(`Sync for real with: resonance-sync sync ${name}`);
    return;
  }
  const why = result.stderr.split('\n').find((line) => line.trim() !== '') ?? `exit code ${result.code}`;
  context.print(`The preview did not run yet: ${why.replace(/^resonance-sync: /, '')}`);
  const first = /\[AUTH_FAILED\]\s*$/.test(why) ? 'Once the line above ran on the phone' : 'Once that is fixed';
  context.print(`${first}, preview with: ${command}`);
}

/** This program again (the same Node, script and flags), output captured. */
function runSelf(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = process.argv[1];
  if (script === undefined) return Promise.resolve({ code: null, stdout: '', stderr: 'cannot find this program to run the preview' });
  return new Promise((resolve) => {
    const child = childProcess().spawn(process.execPath, [...process.execArgv, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', (error) => resolve({ code: null, stdout, stderr: error.message }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
