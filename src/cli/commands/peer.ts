/** `resonance-sync peer add|list|remove`: the named peers in the config file. */
import type { Command } from 'commander';
import { addPeer, removePeer, saveConfig, setPeer } from '../../config/config-file.js';
import { peerAddresses, type PeerConfig } from '../../config/schema.js';
import { formatPeerUrl } from '../../core/peer-url.js';
import { describeRoute } from '../../core/route.js';
import { SyncError } from '../../core/errors.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface PeerAddOptions extends GlobalOptions {
  mode?: string;
  remoteCommand?: string;
  pushContext?: string[];
  pullContext?: string[];
  json?: boolean;
}

interface PeerSetOptions extends GlobalOptions {
  url?: string[];
  mode?: string;
  remoteCommand?: string;
  pushContext?: string[];
  pullContext?: string[];
  enable?: boolean;
  disable?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

function parseMode(mode: string): PeerConfig['mode'] {
  if (mode === 'auto' || mode === 'agent' || mode === 'sqlite3') return mode;
  throw new SyncError('USAGE', `--mode must be auto, agent or sqlite3, not ${mode}`);
}

function describePeer(p: PeerConfig): string[] {
  return [
    `${p.name}  ${peerAddresses(p)
      .map((address) => formatPeerUrl(address.location))
      .join(', ')}${p.enabled ? '' : '  (disabled)'}${p.mode === 'auto' ? '' : `  mode ${p.mode}`}`,
    `  push: ${describeRoute(p.push)}`,
    `  pull: ${describeRoute(p.pull)}`,
  ];
}

export function registerPeer(program: Command): void {
  const peer = program.command('peer').description('manage the peers in the config file');
  peer
    .command('add')
    .description('add a peer: NAME and a URL (path, file:, ssh://user@host:port/path, or user@host:path)')
    .argument('<name>')
    .argument('<url...>', 'one or more addresses, tried in order (e.g. the LAN address, then the tailnet name)')
    .option('--mode <mode>', 'for ssh peers: auto (default), agent or sqlite3')
    .option('--remote-command <command>', 'for agent mode: how to run resonance-sync on the remote')
    .option('--push-context <glob>', 'only send entries whose context matches (repeatable)', collect)
    .option('--pull-context <glob>', 'only receive entries whose context matches (repeatable)', collect)
    .action((name: string, urls: string[], _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<PeerAddOptions>();
      const [url = '', ...moreUrls] = urls;
      const context = new CliContext(options);
      const route = (include: string[] | undefined) => ({
        includeContext: include ?? [],
        excludeContext: [],
        includeSource: [],
        excludeSource: [],
      });
      const config = addPeer(context.config({ creating: true }), {
        name,
        url,
        ...(options.mode ? { mode: parseMode(options.mode) } : {}),
        moreUrls,
        ...(options.remoteCommand ? { remoteCommand: options.remoteCommand } : {}),
        push: route(options.pushContext),
        pull: route(options.pullContext),
      });
      saveConfig(context.configPath, config);
      context.print(`added peer ${name} (${urls.join(', ')}) to ${context.configPath}`);
    });
  peer
    .command('set')
    .description("change a peer: its addresses, mode, remote command, routes' contexts, or whether it syncs")
    .argument('<name>')
    .option('--url <url>', 'an address; repeat for several, tried in order (replaces the list)', collect)
    .option('--mode <mode>', 'for ssh peers: auto, agent or sqlite3')
    .option('--remote-command <command>', 'how to run resonance-sync (or, in mode sqlite3, sqlite3) on the remote; "" removes it')
    .option('--push-context <glob>', 'only send entries whose context matches (repeatable; replaces the list)', collect)
    .option('--pull-context <glob>', 'only receive entries whose context matches (repeatable; replaces the list)', collect)
    .option('--enable', 'sync with it when no peer is named')
    .option('--disable', 'skip it when no peer is named')
    .action((name: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<PeerSetOptions>();
      if (options.enable && options.disable) throw new SyncError('USAGE', '--enable and --disable exclude each other');
      const context = new CliContext(options);
      const config = setPeer(context.config(), name, {
        ...(options.url ? { urls: options.url } : {}),
        ...(options.mode ? { mode: parseMode(options.mode) } : {}),
        ...(options.remoteCommand === undefined ? {} : { remoteCommand: options.remoteCommand }),
        ...(options.enable || options.disable ? { enabled: options.enable === true } : {}),
        ...(options.pushContext ? { pushContexts: options.pushContext } : {}),
        ...(options.pullContext ? { pullContexts: options.pullContext } : {}),
      });
      saveConfig(context.configPath, config);
      const changed = config.peers.find((p) => p.name === name);
      context.print(`changed peer ${name} in ${context.configPath}`);
      if (changed) for (const line of describePeer(changed)) context.print(line);
    });
  peer
    .command('list')
    .description('list the configured peers and their routes')
    .option('--json', 'machine-readable')
    .action((_options: unknown, command: Command) => {
      const options = command.optsWithGlobals<PeerAddOptions>();
      const context = new CliContext(options);
      const peers = context.config().peers;
      if (options.json) {
        context.printJson(
          peers.map((p) => ({
            name: p.name,
            url: formatPeerUrl(p.location),
            urls: peerAddresses(p).map((address) => formatPeerUrl(address.location)),
            mode: p.mode,
            enabled: p.enabled,
            push: p.push,
            pull: p.pull,
          })),
        );
        return;
      }
      if (peers.length === 0) context.print(`no peers in ${context.configPath}`);
      for (const p of peers) for (const line of describePeer(p)) context.print(line);
    });
  peer
    .command('remove')
    .description('remove a peer from the config (its databases are not touched)')
    .argument('<name>')
    .action((name: string, _options: unknown, command: Command) => {
      const context = new CliContext(command.optsWithGlobals<GlobalOptions>());
      saveConfig(context.configPath, removePeer(context.config(), name));
      context.print(`removed peer ${name} from ${context.configPath}`);
    });
}
