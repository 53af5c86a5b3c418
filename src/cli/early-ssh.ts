/**
 * The installed command's first file for a `sync` or a `verify` (bin/resonance-sync.mjs loads it,
 * then the command line's own file): reads the arguments and the config, and starts ssh to the
 * (first) peer at once (transport/early-ssh.ts). Node then compiles and runs the whole command line
 * (0.57 MB), its commands and the config while ssh logs in, instead of before it (~0.06–0.08 s). It
 * decides nothing: the command parses the same arguments with commander, reads the same config,
 * reports every mistake, and uses this ssh only if it would have started exactly the same one. So
 * anything unusual here means no early ssh, never an error.
 */
import { CliContext } from './context.js';
import { peersOfRun } from './sync-arguments.js';
import { startPeerSshEarly } from '../transport/early-ssh.js';
import { discardEarlySsh } from '../transport/ssh/ssh-process.js';

export { discardEarlySsh };

/** A command whose peer's ssh is started ahead: its options that take a value, and those that take none (commands/*.ts, run-main.ts). */
interface EarlyCommand {
  values: ReadonlySet<string>;
  flags: ReadonlySet<string>;
  /** How many peer arguments it takes: sync at most one, verify exactly one. */
  peers: { min: number; max: number };
}

const GLOBAL_FLAGS = ['-v', '--verbose', '-q', '--quiet'];
const COMMANDS: Record<'sync' | 'verify', EarlyCommand> = {
  sync: {
    values: new Set(['--config', '--db', '--batch-rows', '--mode', '--remote-command']),
    flags: new Set([...GLOBAL_FLAGS, '--pull-only', '--push-only', '--dry-run', '--json']),
    peers: { min: 0, max: 1 },
  },
  verify: {
    values: new Set(['--config', '--db']),
    flags: new Set([...GLOBAL_FLAGS, '--repair', '--json']),
    peers: { min: 1, max: 1 },
  },
};
/** Every option that takes a value, whatever the command: what to skip as a value while the command is not yet known. */
const ANY_VALUE = new Set(Object.values(COMMANDS).flatMap((command) => [...command.values]));

interface CommandArguments {
  command: keyof typeof COMMANDS;
  peer: string | undefined;
  options: Map<string, string>;
  flags: Set<string>;
}

/** `sync [PEER]` or `verify PEER` and its options as commander would read them; undefined for anything else (help, an unknown option…). */
export function readCommandArguments(argv: readonly string[]): CommandArguments | undefined {
  const options = new Map<string, string>();
  const flags = new Set<string>();
  const words: string[] = [];
  for (let at = 0; at < argv.length; at++) {
    const arg = argv[at] as string;
    if (!arg.startsWith('-') || arg === '-') {
      words.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const name = arg.startsWith('--') && equals !== -1 ? arg.slice(0, equals) : arg;
    if (ANY_VALUE.has(name)) {
      const value = name === arg ? argv[++at] : arg.slice(equals + 1);
      if (value === undefined || options.has(name)) return undefined;
      options.set(name, value);
    } else if (name === arg) flags.add(arg);
    else return undefined;
  }
  const [word, ...peers] = words;
  if (word !== 'sync' && word !== 'verify') return undefined;
  const command = COMMANDS[word];
  if (peers.length < command.peers.min || peers.length > command.peers.max) return undefined;
  if ([...options.keys()].some((name) => !command.values.has(name)) || [...flags].some((flag) => !command.flags.has(flag)))
    return undefined;
  return { command: word, peer: peers[0], options, flags };
}

/**
 * Starts ssh to the peer a `sync` run reaches first, or to `verify`'s peer, if it is reached over
 * ssh, as the command would (commands/sync.ts through sync-arguments.ts; api verify()); never throws.
 */
export function startCommandSshEarly(argv: readonly string[]): void {
  try {
    const run = readCommandArguments(argv);
    if (run === undefined || (run.flags.has('--pull-only') && run.flags.has('--push-only'))) return;
    const configFile = run.options.get('--config');
    const context = new CliContext(configFile === undefined ? {} : { config: configFile });
    const config = context.config();
    const [first] =
      run.command === 'verify'
        ? peersOfRun(config, run.peer, {})
        : peersOfRun(config, run.peer, { mode: run.options.get('--mode'), remoteCommand: run.options.get('--remote-command') });
    if (first === undefined) return;
    startPeerSshEarly(first, {
      // verify prepares the peer only to repair it; a sync unless it is a dry run.
      prepare: run.command === 'verify' ? run.flags.has('--repair') : !run.flags.has('--dry-run'),
      agentUpload: config.node.agentUpload,
      stallTimeoutMs: config.node.stallTimeoutMs,
    });
  } catch {
    // The command itself meets the same problem and reports it.
  }
}
