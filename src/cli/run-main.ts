/**
 * One run of the command line, whichever commands it was built with: `--version` answered before
 * anything loads, the program's own options, every failure as one line on stderr naming what went
 * wrong and what to do, with a documented exit code (stack traces only with --verbose). The full
 * command line (main.ts) and the agent's own file (serve-main.ts) both run through here.
 */
import type { Command } from 'commander';
import { ExitCode, asSyncError, type ExitCodeValue } from '../core/errors.js';
import { writeErrorLine } from './log-line.js';
import { addHelpExamples } from './help-examples.js';
import { EXIT_CODES_HELP } from './exit-codes-help.js';
import { packageVersion } from '../core/version.js';
import { trace } from '../core/trace.js';

export type SetExitCode = (code: ExitCodeValue) => void;

const VERSION_FLAGS = ['-V', '--version'];
export const VERBOSE_FLAGS = ['-v', '--verbose'];

/**
 * `--version` alone answers before any command is loaded (scripts and `doctor` on the far side call
 * it). With `--verbose` it also names the SQLite binding this Node would use, and why.
 */
async function printVersion(argv: string[]): Promise<ExitCodeValue> {
  process.stdout.write(`${packageVersion()}\n`);
  if (!argv.some((arg) => VERBOSE_FLAGS.includes(arg))) return ExitCode.ok;
  const { describeSqliteBinding } = await import('../store/sqlite/open-database.js');
  const binding = describeSqliteBinding();
  process.stdout.write(`node ${process.version} (${process.execPath})\nsqlite binding: ${binding.detail}\n`);
  if (binding.fix === undefined) return ExitCode.ok;
  process.stdout.write(`fix: ${binding.fix}\n`);
  return ExitCode.database;
}

/** Registers the commands a run may need on `program` (all of them, or the one the arguments name). */
export type RegisterCommands = (program: Command, argv: string[], setExitCode: SetExitCode) => Promise<void>;

/** One run of the command line with the commands `register` adds: its exit code. */
export async function runMain(argv: string[], register: RegisterCommands): Promise<ExitCodeValue> {
  trace('main: bundle loaded');
  process.once('exit', () => trace('process exit'));
  if (argv.some((arg) => VERSION_FLAGS.includes(arg)) && argv.every((arg) => [...VERSION_FLAGS, ...VERBOSE_FLAGS].includes(arg))) {
    return printVersion(argv);
  }
  // Loaded here, not at the top: `--version` above starts without it.
  const { Command, CommanderError } = await import('commander');
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
  await register(program, argv, setExitCode);
  addHelpExamples(program);
  for (const command of program.commands) command.exitOverride();
  trace('main: commands registered');

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      // Commander already printed its message (or the help/version text).
      return thrown.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    return failed(thrown, argv);
  }
}

/** A command's failure as one line on stderr (with the stack under --verbose), and its exit code. */
function failed(thrown: unknown, argv: string[]): ExitCodeValue {
  const error = asSyncError(thrown);
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  writeErrorLine(`resonance-sync: ${error.message} [${error.code}]`, argv.includes('--quiet') || argv.includes('-q'));
  if (verbose) process.stderr.write(`${(error.cause instanceof Error ? error.cause : error).stack ?? ''}\n`);
  return error.exitCode;
}
