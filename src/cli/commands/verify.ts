/** `resonance-sync verify [PEER] [--repair]`: compare what two databases hold, like diff(1). */
import type { Command } from 'commander';
import { ExitCode, type ExitCodeValue } from '../../core/errors.js';
import { verify } from '../../api/index.js';
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
  const report = await verify({
    peer: peerArgument,
    repair: options.repair ?? false,
    ...(options.config === undefined ? {} : { config: options.config }),
    ...(options.db === undefined ? {} : { db: options.db }),
  });
  if (options.json) context.printJson(report);
  else {
    const entriesMissing = report.directions.reduce((sum, d) => sum + d.missing, 0);
    context.print(
      `${report.local.name} <-> ${report.remote.name}: ${entriesMissing === 0 ? 'no entries missing either way' : `${entriesMissing} entries missing`}; ${report.bytesExchanged} bytes of digests exchanged`,
    );
    if (report.bucketsDiffering > 0)
      context.print(
        `  ${report.bucketsDiffering} of ${report.bucketsCompared} bucket digests differ: a bucket summarises many entries and differs when either side holds one the other does not, also entries that flow only the other way or stay on one side by the routes; only entries missing within a direction's route count below`,
      );
    for (const d of report.directions) {
      context.print(
        `  ${d.from.name} -> ${d.to.name}: ${d.missing} entries missing${options.repair ? `, ${d.repaired} repaired${d.rejected ? `, ${d.rejected} refused by ${d.to.name}'s schema` : ''}` : ''}`,
      );
    }
    if (report.equalAfterRepair !== undefined)
      context.print(report.equalAfterRepair ? '  equal after repair' : '  still different after repair');
  }
  const differ = report.directions.some((d) => d.missing > 0);
  if (!differ) return ExitCode.ok;
  return report.equalAfterRepair ? ExitCode.ok : ExitCode.differences;
}
