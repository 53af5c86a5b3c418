/**
 * `resonance-sync daemon [--every 2h]`: a foreground loop for hosts without cron (a Termux session
 * under termux-services, a systemd user unit, a tmux pane). It syncs with every enabled peer at start
 * and then every interval (jittered), backing off after failures (src/schedule/backoff.ts). Each run
 * is an ordinary `sync` run through syncPeers, so it takes the same lock: a run that finds another
 * sync at work waits for the next tick instead of overlapping it. SIGTERM/SIGINT stop the loop at a
 * batch boundary (the batch in flight commits or rolls back as one; ssh children are closed) and the
 * daemon exits 0, because being stopped is how a service ends, not a failure.
 */
import type { Command } from 'commander';
import type { Config } from '../../config/schema.js';
import { ExitCode, SyncError, asSyncError, type ExitCodeValue } from '../../core/errors.js';
import { defaultPolicy } from '../../schedule/backoff.js';
import { runDaemonLoop, type RunResult, type Tick } from '../../schedule/daemon-loop.js';
import { describeDelay, formatDuration, parseDuration } from '../../schedule/duration.js';
import { syncPeers, type PeerOutcome } from '../../sync/sync-peers.js';
import { isoStamp } from '../log-line.js';
import { CliContext, type GlobalOptions } from '../context.js';
import { interruptSignal } from '../interrupt.js';

interface DaemonOptions extends GlobalOptions {
  every?: string;
  retry?: string;
  db?: string;
  batchRows?: string;
}

export function registerDaemon(program: Command, setExitCode: (code: ExitCodeValue) => void): void {
  program
    .command('daemon')
    .description('sync with every enabled peer now, then every --every, in the foreground (for hosts without cron)')
    .option('--every <interval>', 'time between runs, jittered by +-10% (e.g. 30m, 2h)', '2h')
    .option('--retry <interval>', 'wait after a failed run; doubles with each further failure, up to --every', '1m')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--batch-rows <n>', 'entries per committed batch (default 2000)')
    .action(async (_options: unknown, command: Command) => {
      setExitCode(await runDaemon(command.optsWithGlobals<DaemonOptions>()));
    });
}

async function runDaemon(options: DaemonOptions): Promise<ExitCodeValue> {
  const context = new CliContext(options);
  const intervalMs = parseDuration(options.every ?? '2h', '--every');
  const policy = defaultPolicy(intervalMs, parseDuration(options.retry ?? '1m', '--retry'));
  const maxRows = options.batchRows === undefined ? undefined : Number(options.batchRows);
  if (maxRows !== undefined && !(Number.isInteger(maxRows) && maxRows > 0))
    throw new SyncError('USAGE', '--batch-rows must be a positive integer');
  // A mistake in the config is reported now, with its exit code, rather than retried forever.
  enabledPeers(context.config(), context, options.db);

  const interrupt = interruptSignal();
  const out = (line: string) => context.print(`${isoStamp()} ${line}`);
  const err = (line: string) => process.stderr.write(`${isoStamp()} ${line}\n`);
  const runOnce = async (signal: AbortSignal): Promise<RunResult> => {
    try {
      const config = context.config();
      const { dbPath, peers } = enabledPeers(config, context, options.db);
      const outcomes = await syncPeers({
        dbPath,
        node: config.node,
        peers,
        pull: true,
        push: true,
        dryRun: false,
        signal,
        ...(maxRows ? { limits: { maxRows, maxBytes: 4 * 1024 * 1024 } } : {}),
      });
      const detail = outcomes.map(describeOutcome).join('; ');
      // A run cut short by the stop signal is reported once, by the "stopped" line.
      if (!signal.aborted)
        for (const outcome of outcomes) if (outcome.error) reportError(`${outcome.peer.name}: `, outcome.error, context.verbose, err);
      const failed = outcomes.filter((outcome) => outcome.error).length;
      return failed === 0 ? { kind: 'ok', detail } : { kind: 'failed', reason: `${failed} of ${outcomes.length} peers failed`, detail };
    } catch (thrown) {
      const error = asSyncError(thrown);
      if (error.code === 'SYNC_RUNNING') return { kind: 'busy' };
      if (!signal.aborted) reportError('', error, context.verbose, err);
      return { kind: 'failed', reason: `${error.code}` };
    }
  };
  const onTick = (tick: Tick) => {
    const next = `next run in ${describeDelay(tick.delayMs)}`;
    if (tick.result.kind === 'ok') out(`run ${tick.run} ok: ${tick.result.detail ?? ''}; ${next}`);
    else if (tick.result.kind === 'busy') out(`run ${tick.run} skipped: another resonance-sync is syncing this database; ${next}`);
    else
      err(
        `run ${tick.run} failed (${tick.result.reason}); ${next} (backing off: ${tick.consecutiveFailures === 1 ? 'first failure' : `${tick.consecutiveFailures} failures in a row`})`,
      );
  };

  out(
    `daemon started (pid ${process.pid}): every ${formatDuration(intervalMs)}, first retry after a failure in ${formatDuration(policy.retryMs)}`,
  );
  try {
    await runDaemonLoop({ policy, signal: interrupt.signal, runOnce, onTick });
  } finally {
    interrupt.dispose();
  }
  const reason = interrupt.signal.reason instanceof Error ? interrupt.signal.reason.message : 'stopped';
  out(`daemon stopped (${reason}); committed batches are kept, the next run resumes after them`);
  return ExitCode.ok;
}

function enabledPeers(config: Config, context: CliContext, dbOption: string | undefined) {
  const dbPath = context.databasePath(config, dbOption);
  const peers = config.peers.filter((peer) => peer.enabled);
  if (peers.length === 0) {
    throw new SyncError('PEER_UNKNOWN', `no enabled peers in ${context.configPath}; add one with resonance-sync peer add NAME URL`);
  }
  return { dbPath, peers };
}

function describeOutcome(outcome: PeerOutcome): string {
  if (outcome.error)
    return `${outcome.peer.name} ${outcome.error.code === 'PEER_UNREACHABLE' ? 'skipped' : 'failed'} [${outcome.error.code}]`;
  const directions = outcome.summary?.directions ?? [];
  return `${outcome.peer.name} ${directions.map((d) => `${d.direction} +${d.received}`).join(', ')}`;
}

function reportError(prefix: string, error: SyncError, verbose: boolean, err: (line: string) => void): void {
  err(`${prefix}${error.message} [${error.code}]`);
  if (verbose) process.stderr.write(`${(error.cause instanceof Error ? error.cause : error).stack ?? ''}\n`);
}
