/**
 * What an agent connection runs: the ssh command line (the user's `remote_command`, or the launcher
 * that finds, checks or uploads the single-file agent), and the HELLO frame whose length that
 * launcher is told. Apart from the connection itself so that the installed command can start the
 * same ssh before the rest of the program has loaded (cli/early-ssh.ts); ssh-process.ts hands it over
 * only when the command line is this one, byte for byte.
 */
import { PROTOCOL_VERSION, MessageType, type Hello } from '../../protocol/protocol.js';
import * as m from '../../protocol/messages.js';
import { packageVersion } from '../../core/version.js';
import { serveArgs, sshArgv, type SshLocation } from '../ssh/ssh-command.js';
import { agentBundle, type AgentBundle } from './agent-bundle.js';
import { launcherScript } from './launcher.js';

export interface AgentCommandOptions {
  location: SshLocation;
  /** The user's own agent command (`remote_command`), run as is; undefined: the launcher finds or uploads one. */
  remoteCommand: string | undefined;
  /** Without remote_command: may the single-file agent be uploaded (`agent_upload`, default true)? */
  agentUpload?: boolean | undefined;
  /** Without remote_command: skip `resonance-sync` on the remote PATH (it spoke another protocol). */
  skipInstalled?: boolean | undefined;
  /** The peer's configured name: names the remote node if it is prepared on first contact. */
  nodeName: string | undefined;
  /** False in dry runs: the agent then writes nothing at all. */
  prepare: boolean;
}

export interface AgentCommand {
  argv: string[];
  /** HELLO, never compressed: the launcher skips exactly these bytes before an upload. */
  hello: Buffer;
  /** The single file the launcher may ask for (undefined with a configured remote_command). */
  bundle: AgentBundle | undefined;
}

export function agentCommand(options: AgentCommandOptions, env: NodeJS.ProcessEnv): AgentCommand {
  const { location, remoteCommand } = options;
  const helloMessage: Hello = {
    protocol: PROTOCOL_VERSION,
    clientVersion: packageVersion(),
    dbPath: location.path,
    homeRelative: location.homeRelative,
    nodeName: options.nodeName,
    prepare: options.prepare,
  };
  const hello = m.frameOf(MessageType.HELLO, (w) => m.writeHello(w, helloMessage));
  if (remoteCommand !== undefined) return { argv: sshArgv(location, { remoteCommand, env }), hello, bundle: undefined };
  const bundle = agentBundle();
  const command = launcherScript({
    action: 'serve',
    serveArgs: serveArgs(location),
    useInstalled: options.skipInstalled !== true,
    upload: options.agentUpload !== false,
    sha256: bundle.sha256,
    cacheName: bundle.cacheName,
    size: bundle.bytes.length,
    helloBytes: hello.length,
  });
  return { argv: sshArgv(location, { remoteCommand, env, command }), hello, bundle };
}
