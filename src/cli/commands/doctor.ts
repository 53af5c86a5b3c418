/**
 * `resonance-sync doctor [PEER]`: every check worth making before trusting unattended runs, one line
 * each, with the fix on the same line. Read-only, so it is safe next to the agents and a running
 * sync. Lines print as checks finish (ssh checks can take seconds on a phone). Exit code: 0 when
 * nothing failed (warnings allowed), else the failures' own exit code, or 8 when they differ.
 */
import type { Command } from 'commander';
import { findPeer, loadConfig } from '../../config/config-file.js';
import { emptyConfig, type Config, type PeerConfig } from '../../config/schema.js';
import type { ExitCodeValue } from '../../core/errors.js';
import { failFrom, formatCheck, ok, reportExitCode, skip, summaryLine, type CheckResult } from '../../doctor/check.js';
import { checkLocalDatabase, checkLocalPeer } from '../../doctor/database-checks.js';
import { checkSchedule } from '../../doctor/schedule-check.js';
import { checkSqliteBinding } from '../../doctor/binding-check.js';
import { checkRefusals } from '../../doctor/refusal-check.js';
import { checkSshPeer } from '../../doctor/ssh-checks.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface DoctorOptions extends GlobalOptions {
  db?: string;
  json?: boolean;
}

export function registerDoctor(program: Command, setExitCode: (code: ExitCodeValue) => void): void {
  program
    .command('doctor')
    .description('check the config, this database, each peer (or PEER) over ssh, clocks and the schedule; one line per check with a fix')
    .argument('[peer]', 'check only this configured peer')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--json', 'print machine-readable results')
    .action(async (peerName: string | undefined, _options: unknown, command: Command) => {
      // Exit codes beyond errors.ts's families (9, a broken schedule) come from the checks themselves.
      setExitCode((await runDoctor(peerName, command.optsWithGlobals<DoctorOptions>())) as ExitCodeValue);
    });
}

async function runDoctor(peerName: string | undefined, options: DoctorOptions): Promise<number> {
  const context = new CliContext(options);
  const results: CheckResult[] = [];
  const emit = (batch: CheckResult[]) => {
    results.push(...batch);
    if (options.json) return;
    // --quiet keeps the failures: they are the errors.
    for (const result of batch) if (!context.quiet || result.status === 'fail') process.stdout.write(`${formatCheck(result)}\n`);
  };

  let config: Config | undefined;
  try {
    config = loadConfig(context.configPath, { mustExist: true });
    const enabled = config.peers.filter((peer) => peer.enabled).length;
    emit([
      ok(
        'config',
        `${context.configPath}: node ${config.node.name ?? '(unnamed)'}, ${config.peers.length} peer${config.peers.length === 1 ? '' : 's'} (${enabled} enabled)`,
      ),
    ]);
  } catch (error) {
    emit([
      failFrom(
        'config',
        error,
        undefined,
        'fix the file as the message says, or create one with: resonance-sync init --db PATH --node NAME',
      ),
    ]);
  }

  emit([checkSqliteBinding()]);

  let dbPath: string | undefined;
  if (config || options.db !== undefined) {
    try {
      dbPath = context.databasePath(config ?? emptyConfig(), options.db);
    } catch (error) {
      emit([failFrom('database', error)]);
    }
  }
  if (dbPath !== undefined) emit(checkLocalDatabase(dbPath));

  if (config) {
    let peers: PeerConfig[] = config.peers;
    if (peerName !== undefined) {
      try {
        peers = [findPeer(config, peerName)];
      } catch (error) {
        peers = [];
        emit([failFrom('peer', error)]);
      }
    }
    for (const peer of peers) {
      if (!peer.enabled && peerName === undefined) {
        emit([skip('peer', 'disabled in the config', peer.name)]);
      } else if (peer.location.kind === 'local') {
        emit(checkLocalPeer(peer.name, peer.location.path, dbPath ?? ''));
      } else {
        emit(await checkSshPeer(peer, peer.location, process.env, config?.node.agentUpload));
      }
      if (dbPath !== undefined && (peer.enabled || peerName !== undefined)) emit(checkRefusals(dbPath, peer.name));
    }
  }

  emit(await checkSchedule(context.configPath));
  if (options.json) context.printJson({ ok: !results.some((r) => r.status === 'fail'), checks: results });
  else context.print(summaryLine(results));
  return reportExitCode(results);
}
