#!/usr/bin/env node
/**
 * The resonance-sync command line. Every failure ends as one line on stderr naming what went wrong
 * and what to do, with a documented exit code; stack traces only with --verbose.
 */
import { Command, CommanderError } from 'commander';
import { ExitCode, asSyncError, type ExitCodeValue } from '../errors.js';
import { registerAuthorize } from './commands/authorize.js';
import { registerDemo } from './commands/demo.js';
import { registerInit } from './commands/init.js';
import { registerPeer } from './commands/peer.js';
import { registerServe } from './commands/serve.js';
import { registerStatus } from './commands/status.js';
import { registerSync } from './commands/sync.js';
import { registerVerify } from './commands/verify.js';
import { EXIT_CODES_HELP } from './exit-codes-help.js';
import { registerUnattended } from './register-unattended.js';
import { packageVersion } from '../protocol/version.js';

export async function main(argv: string[]): Promise<ExitCodeValue> {
  let exitCode: ExitCodeValue = ExitCode.ok;
  const setExitCode = (code: ExitCodeValue) => {
    exitCode = code;
  };
  const program = new Command('resonance-sync')
    .description('Incremental, append-only, exactly-once sync of resonance_notes between SQLite databases on your devices.')
    .option('--config <file>', 'config file (default: $RESONANCE_SYNC_CONFIG, else ~/.config/resonance-sync/config.toml)')
    .option('-v, --verbose', 'details on stderr, and stack traces on errors')
    .option('-q, --quiet', 'print nothing but errors (and --json output)')
    .version(packageVersion(), '-V, --version')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerInit(program);
  registerSync(program, setExitCode);
  registerStatus(program);
  registerPeer(program);
  registerDemo(program);
  registerVerify(program, setExitCode);
  registerServe(program, setExitCode);
  registerAuthorize(program);
  registerUnattended(program, setExitCode);
  for (const command of program.commands) command.exitOverride();

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // Commander already printed its message (or the help/version text).
      return thrown.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const error = asSyncError(thrown);
    const verbose = argv.includes('--verbose') || argv.includes('-v');
    process.stderr.write(`resonance-sync: ${error.message} [${error.code}]\n`);
    if (verbose) process.stderr.write(`${(error.cause instanceof Error ? error.cause : error).stack ?? ''}\n`);
    return error.exitCode;
  }
}

const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
