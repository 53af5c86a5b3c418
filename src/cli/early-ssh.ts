/**
 * The installed command's first file for a `sync` (bin/resonance-sync.mjs loads it, then the command
 * line's own file): reads the arguments and the config, and starts ssh to the first peer at once
 * (transport/early-ssh.ts). Node then compiles and runs the whole command line (0.57 MB), its
 * commands and the config while ssh logs in, instead of before it (~0.08 s). It decides nothing: the
 * command parses the same arguments with commander, reads the same config, reports every mistake, and
 * uses this ssh only if it would have started exactly the same one. So anything unusual here means no
 * early ssh, never an error.
 */
import { CliContext } from './context.js';
import { peersOfRun } from './sync-arguments.js';
import { startPeerSshEarly } from '../transport/early-ssh.js';
import { discardEarlySsh } from '../transport/ssh/ssh-process.js';

export { discardEarlySsh };

/** `sync`'s options that take a value, and those that take none (commands/sync.ts, run-main.ts). */
const VALUE_OPTIONS = new Set(['--config', '--db', '--batch-rows', '--mode', '--remote-command']);
const FLAGS = new Set(['-v', '--verbose', '-q', '--quiet', '--pull-only', '--push-only', '--dry-run', '--json']);

interface SyncArguments {
  peer: string | undefined;
  options: Map<string, string>;
  flags: Set<string>;
}

/** `sync [PEER]` and its options as commander would read them; undefined for anything else (help, an unknown option…). */
export function readSyncArguments(argv: readonly string[]): SyncArguments | undefined {
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
    if (FLAGS.has(name) && name === arg) flags.add(arg);
    else if (VALUE_OPTIONS.has(name)) {
      const value = name === arg ? argv[++at] : arg.slice(equals + 1);
      if (value === undefined || options.has(name)) return undefined;
      options.set(name, value);
    } else return undefined;
  }
  if (words[0] !== 'sync' || words.length > 2) return undefined;
  return { peer: words[1], options, flags };
}

/** Starts ssh to the first peer of a `sync` run, if it is reached over ssh; never throws. */
export function startSyncSshEarly(argv: readonly string[]): void {
  try {
    const run = readSyncArguments(argv);
    if (run === undefined || (run.flags.has('--pull-only') && run.flags.has('--push-only'))) return;
    const configFile = run.options.get('--config');
    const context = new CliContext(configFile === undefined ? {} : { config: configFile });
    const config = context.config();
    const [first] = peersOfRun(config, run.peer, { mode: run.options.get('--mode'), remoteCommand: run.options.get('--remote-command') });
    if (first === undefined) return;
    startPeerSshEarly(first, {
      prepare: !run.flags.has('--dry-run'),
      agentUpload: config.node.agentUpload,
      stallTimeoutMs: config.node.stallTimeoutMs,
    });
  } catch {
    // The command itself meets the same problem and reports it.
  }
}
