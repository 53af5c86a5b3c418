#!/usr/bin/env node
/**
 * The resonance-sync command line. Every failure ends as one line on stderr naming what went wrong
 * and what to do, with a documented exit code; stack traces only with --verbose.
 */
import module from 'node:module';
import { Command, CommanderError } from 'commander';
import { ExitCode, asSyncError, type ExitCodeValue } from '../core/errors.js';
import { writeErrorLine } from './log-line.js';
import { addHelpExamples } from './help-examples.js';
import { EXIT_CODES_HELP } from './exit-codes-help.js';
import { packageVersion } from '../core/version.js';

type SetExitCode = (code: ExitCodeValue) => void;

/**
 * `serve` is what ssh starts on the other device for every sync, so its start-up is part of every
 * sync's time: it loads only its own command. Everything else loads all commands (for --help).
 */
async function registerCommands(program: Command, argv: string[], setExitCode: SetExitCode): Promise<void> {
  if (argv[0] === 'serve') {
    const { registerServe } = await import('./commands/serve.js');
    registerServe(program, setExitCode);
    return;
  }
  // `resonance-sync status | head` closes our stdout early: that ends the output, it is no failure.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  const [init, sync, status, peer, demo, verify, serve, authorize, unattended, rotate, adopt, mcp] = await Promise.all([
    import('./commands/init.js'),
    import('./commands/sync.js'),
    import('./commands/status.js'),
    import('./commands/peer.js'),
    import('./commands/demo.js'),
    import('./commands/verify.js'),
    import('./commands/serve.js'),
    import('./commands/authorize.js'),
    import('./register-unattended.js'),
    import('./commands/rotate.js'),
    import('./commands/adopt.js'),
    import('./commands/mcp.js'),
  ]);
  const { registerAgent } = await import('./commands/agent.js');
  // Only the command: the server, its libraries and the page load when `ui` runs.
  const { registerUi } = await import('./commands/ui.js');
  const { registerPair } = await import('./commands/pair.js');
  init.registerInit(program);
  sync.registerSync(program, setExitCode);
  status.registerStatus(program);
  peer.registerPeer(program);
  demo.registerDemo(program);
  verify.registerVerify(program, setExitCode);
  serve.registerServe(program, setExitCode);
  authorize.registerAuthorize(program);
  unattended.registerUnattended(program, setExitCode);
  rotate.registerRotate(program);
  adopt.registerAdopt(program);
  registerAgent(program);
  mcp.registerMcp(program);
  registerUi(program);
  registerPair(program);
}

const VERSION_FLAGS = ['-V', '--version'];
const VERBOSE_FLAGS = ['-v', '--verbose'];

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

export async function main(argv: string[]): Promise<ExitCodeValue> {
  if (argv.some((arg) => VERSION_FLAGS.includes(arg)) && argv.every((arg) => [...VERSION_FLAGS, ...VERBOSE_FLAGS].includes(arg))) {
    return printVersion(argv);
  }
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
  await registerCommands(program, argv, setExitCode);
  addHelpExamples(program);
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
    writeErrorLine(`resonance-sync: ${error.message} [${error.code}]`, argv.includes('--quiet') || argv.includes('-q'));
    if (verbose) process.stderr.write(`${(error.cause instanceof Error ? error.cause : error).stack ?? ''}\n`);
    return error.exitCode;
  }
}

// Node ≥ 22.1 can keep compiled code between runs; a phone starts faster from the second sync on.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
