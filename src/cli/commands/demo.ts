/** `resonance-sync demo [DIR]`: the embedded two-node demo (see src/demo/run-demo.ts). */
import type { Command } from 'commander';
import { runDemo } from '../../demo/run-demo.js';
import { summaryLines } from '../format-summary.js';
import { CliContext, type GlobalOptions } from '../context.js';
import type { DemoReport } from '../../api/contract.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description("a local two-node demo (main_device and selesta) with the users' routes; run it again to see an incremental sync")
    .argument('[dir]', 'where the two databases and their config go', 'resonance-demo')
    .option('--json', 'machine-readable result')
    .action(async (dir: string, _options: unknown, command: Command) => {
      const options = command.optsWithGlobals<GlobalOptions & { json?: boolean }>();
      const context = new CliContext(options);
      const result = await runDemo(dir);
      if (options.json) {
        const report: DemoReport = { dir: result.dir, firstRun: result.firstRun, status: result.status, received: result.received };
        context.printJson(report);
        return;
      }
      context.print(
        `${result.firstRun ? 'Created' : 'Reusing'} two nodes in ${result.dir}: main_device.sqlite3 and selesta.sqlite3 (config: ${result.configPath})`,
      );
      context.print(result.firstRun ? 'First sync, both ways:' : 'Added one fresh note on each side; only those travel:');
      for (const line of summaryLines(result.outcomes, false)) context.print(line);
      context.print();
      context.print('Status of main_device:');
      const peer = result.status.peers[0];
      context.print(
        `  ${result.status.entries} entries, ${result.status.receivedEntries} received; peer selesta last sync ${peer?.tracking?.lastSyncSuccess ? 'ok' : '?'}, pending push ${peer?.pending.push ?? '?'}, pull ${peer?.pending.pull ?? '?'}`,
      );
      context.print();
      context.print('Recently received notes, with their origin:');
      for (const note of result.received) context.print(`  [${note.origin}] (${note.context}) ${note.content}`);
      context.print();
      context.print(`Try: resonance-sync status --config ${result.configPath}`);
      context.print(`     sqlite3 ${result.dir}/selesta.sqlite3 "SELECT origin_name, context, content FROM resonance_notes_origin"`);
    });
}
