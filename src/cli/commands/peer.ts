/** `resonance-sync peer add|list|remove`: the named peers in the config file. */
import type { Command } from 'commander';
import { addPeer, removePeer, saveConfig } from '../../config/config-file.js';
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

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerPeer(program: Command): void {
  const peer = program.command('peer').description('manage the peers in the config file');
  peer
    .command('add')
    .description('add a peer: NAME and a URL (path, file:, ssh://user@host:port/path, or user@host:path)')
    .argument('<name>')
    .argument('<url>')
    .option('--mode <mode>', 'for ssh peers: auto (default), agent or sqlite3')
    .option('--remote-command <command>', 'for agent mode: how to run resonance-sync on the remote')
    .option('--push-context <glob>', 'only send entries whose context matches (repeatable)', collect)
    .option('--pull-context <glob>', 'only receive entries whose context matches (repeatable)', collect)
    .action((name: string, url: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<PeerAddOptions>();
      if (options.mode && !['auto', 'agent', 'sqlite3'].includes(options.mode)) {
        throw new SyncError('USAGE', `--mode must be auto, agent or sqlite3, not ${options.mode}`);
      }
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
        ...(options.mode ? { mode: options.mode as 'auto' | 'agent' | 'sqlite3' } : {}),
        ...(options.remoteCommand ? { remoteCommand: options.remoteCommand } : {}),
        push: route(options.pushContext),
        pull: route(options.pullContext),
      });
      saveConfig(context.configPath, config);
      context.print(`added peer ${name} (${url}) to ${context.configPath}`);
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
            mode: p.mode,
            enabled: p.enabled,
            push: p.push,
            pull: p.pull,
          })),
        );
        return;
      }
      if (peers.length === 0) context.print(`no peers in ${context.configPath}`);
      for (const p of peers) {
        context.print(`${p.name}  ${formatPeerUrl(p.location)}${p.enabled ? '' : '  (disabled)'}`);
        context.print(`  push: ${describeRoute(p.push)}`);
        context.print(`  pull: ${describeRoute(p.pull)}`);
      }
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
