/** `resonance-sync sync [PEER]`: pull then push with one peer, or with every configured peer. */
import type { Command } from 'commander';
import { ExitCode, SyncError, type ExitCodeValue } from '../../core/errors.js';
import { syncPeers, type PeerOutcome } from '../../sync/sync-peers.js';
import { writeErrorLine } from '../log-line.js';
import { CliContext, type GlobalOptions } from '../context.js';
import { summaryJson, summaryLines } from '../format-summary.js';
import { interruptSignal } from '../interrupt.js';
import { peersOfRun } from '../sync-arguments.js';
import { createProgress, isInteractive } from '../progress.js';

interface SyncOptions extends GlobalOptions {
  db?: string;
  pullOnly?: boolean;
  pushOnly?: boolean;
  dryRun?: boolean;
  json?: boolean;
  batchRows?: string;
  remoteCommand?: string;
  mode?: string;
}

export function registerSync(program: Command, setExitCode: (code: ExitCodeValue) => void): void {
  program
    .command('sync')
    .description('sync with PEER (a configured peer name, a path, or a file: or ssh:// URL), or with every configured peer')
    .argument('[peer]', 'peer name from the config, or a database path / URL')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--pull-only', 'only receive from the peer')
    .option('--push-only', 'only send to the peer')
    .option('--dry-run', 'show what would flow each way; write nothing')
    .option('--json', 'print a machine-readable summary')
    .option('--batch-rows <n>', 'entries per committed batch (default 2000)')
    .option(
      '--mode <mode>',
      "for ssh peers: auto (agent if the remote has it, else sqlite3), agent or sqlite3 (default: the peer's mode, else auto)",
    )
    .option(
      '--remote-command <command>',
      'how to run resonance-sync on an ssh peer, e.g. "~/bin/resonance-sync" (default: the peer\'s remote_command, else resonance-sync)',
    )
    .action(async (peerArgument: string | undefined, _options: unknown, command: Command) => {
      setExitCode(await runSync(peerArgument, command.optsWithGlobals<SyncOptions>()));
    });
}

async function runSync(peerArgument: string | undefined, options: SyncOptions): Promise<ExitCodeValue> {
  if (options.pullOnly && options.pushOnly) throw new SyncError('USAGE', '--pull-only and --push-only exclude each other');
  const context = new CliContext(options);
  const config = context.config();
  const dbPath = context.databasePath(config, options.db);
  const peers = peersOfRun(config, peerArgument, options);
  if (peers.length === 0) {
    throw new SyncError(
      'PEER_UNKNOWN',
      `no peers configured in ${context.configPath}; name one (resonance-sync sync PATH) or add one with resonance-sync peer add NAME URL`,
    );
  }
  const maxRows = options.batchRows === undefined ? undefined : Number(options.batchRows);
  if (maxRows !== undefined && !(Number.isInteger(maxRows) && maxRows > 0))
    throw new SyncError('USAGE', `--batch-rows must be a positive integer`);
  const interrupt = interruptSignal();
  const progress = createProgress({ quiet: context.quiet || (options.json ?? false), verbose: context.verbose, isTTY: isInteractive() });
  try {
    const outcomes = await syncPeers({
      dbPath,
      node: config.node,
      peers,
      pull: !options.pushOnly,
      push: !options.pullOnly,
      dryRun: options.dryRun ?? false,
      signal: interrupt.signal,
      ...(maxRows ? { limits: { maxRows, maxBytes: 4 * 1024 * 1024 } } : {}),
      onPeerStart: progress.onPeerStart,
      onAdopted: (lines) => {
        for (const line of lines) context.print(line);
      },
      onProgress: progress.onProgress,
    });
    progress.finish();
    if (options.json) context.printJson(summaryJson(outcomes, options.dryRun ?? false));
    else for (const line of summaryLines(outcomes, options.dryRun ?? false)) context.print(line);
    for (const outcome of outcomes) {
      if (outcome.notice && !context.quiet) process.stderr.write(`resonance-sync: ${outcome.peer.name}: ${outcome.notice}\n`);
      if (outcome.error)
        writeErrorLine(`resonance-sync: ${outcome.peer.name}: ${outcome.error.message} [${outcome.error.code}]`, context.quiet);
    }
    return exitCodeFor(outcomes);
  } finally {
    progress.finish();
    interrupt.dispose();
  }
}

/** One kind of failure: its own code, even if other peers synced; different kinds across peers: "partial". */
function exitCodeFor(outcomes: PeerOutcome[]): ExitCodeValue {
  const failures = outcomes.flatMap((outcome) => (outcome.error ? [outcome.error.exitCode] : []));
  if (failures.length === 0) return ExitCode.ok;
  // One kind of failure (say, the phone unreachable while the laptop synced): its own code.
  const distinct = new Set(failures);
  return distinct.size === 1 ? (failures[0] ?? ExitCode.partial) : ExitCode.partial;
}
