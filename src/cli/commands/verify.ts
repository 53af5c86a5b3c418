/** `resonance-sync verify [PEER] [--repair]`: compare what two databases hold, like diff(1). */
import type { Command } from 'commander';
import { findPeer } from '../../config/config-file.js';
import { parsePeerUrl } from '../../core/peer-url.js';
import { withLocalContexts, type PeerConfig } from '../../config/schema.js';
import { ExitCode, type ExitCodeValue } from '../../core/errors.js';
import { LocalReplica } from '../../transport/local/local-replica.js';
import { openPeer } from '../../transport/open-peer.js';
import { acquireSyncLock } from '../../store/lock.js';
import { EVERYTHING } from '../../core/route.js';
import { verifyReplicas } from '../../sync/verify.js';
import { CliContext, type GlobalOptions } from '../context.js';

interface VerifyCommandOptions extends GlobalOptions {
  db?: string;
  repair?: boolean;
  json?: boolean;
}

export function registerVerify(program: Command, setExitCode: (code: ExitCodeValue) => void): void {
  program
    .command('verify')
    .description(
      'compare what this node and PEER hold within the routes (exit 1 when they differ); --repair sends what is missing each way',
    )
    .argument('<peer>', 'peer name from the config, or a database path / URL')
    .option('--db <path>', "this node's database (default: node.db from the config)")
    .option('--repair', 'send the missing entries each way (never deletes)')
    .option('--json', 'machine-readable report')
    .action(async (peerArgument: string, _options: unknown, command: Command) => {
      setExitCode(await runVerify(peerArgument, command.optsWithGlobals<VerifyCommandOptions>()));
    });
}

async function runVerify(peerArgument: string, options: VerifyCommandOptions): Promise<ExitCodeValue> {
  const context = new CliContext(options);
  const config = context.config();
  const dbPath = context.databasePath(config, options.db);
  const peer: PeerConfig = config.peers.some((p) => p.name === peerArgument)
    ? findPeer(config, peerArgument)
    : {
        name: peerArgument,
        url: peerArgument,
        location: parsePeerUrl(peerArgument),
        mode: 'auto',
        remoteCommand: undefined,
        enabled: true,
        ...withLocalContexts(EVERYTHING, EVERYTHING, config.node.localContexts),
      };
  const lock = options.repair ? acquireSyncLock(dbPath) : undefined;
  try {
    const local = LocalReplica.open(dbPath, { naiveTimestamps: config.node.naiveTimestamps });
    try {
      const opened = await openPeer(peer, {
        localDbPath: dbPath,
        prepare: options.repair ?? false,
        naiveTimestamps: config.node.naiveTimestamps,
        stallTimeoutMs: config.node.stallTimeoutMs,
      });
      try {
        const report = await verifyReplicas(local, opened.replica, { push: peer.push, pull: peer.pull, repair: options.repair ?? false });
        if (options.json) context.printJson(report);
        else {
          context.print(
            `${report.local.name} <-> ${report.remote.name}: ${report.bucketsDiffering} of ${report.bucketsCompared} buckets differ; ${report.bytesExchanged} bytes of digests exchanged`,
          );
          for (const d of report.directions) {
            context.print(
              `  ${d.from.name} -> ${d.to.name}: ${d.missing} missing${options.repair ? `, ${d.repaired} repaired${d.rejected ? `, ${d.rejected} refused by ${d.to.name}'s schema` : ''}` : ''}`,
            );
          }
          if (report.equalAfterRepair !== undefined)
            context.print(report.equalAfterRepair ? '  equal after repair' : '  still different after repair');
        }
        const differ = report.directions.some((d) => d.missing > 0);
        if (!differ) return ExitCode.ok;
        return report.equalAfterRepair ? ExitCode.ok : ExitCode.differences;
      } finally {
        await opened.close();
      }
    } finally {
      await local.close();
    }
  } finally {
    lock?.release();
  }
}
