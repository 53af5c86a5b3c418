#!/usr/bin/env node
/**
 * The resonance-sync command line. Every failure ends as one line on stderr naming what went wrong
 * and what to do, with a documented exit code; stack traces only with --verbose.
 */
import module from 'node:module';
import type { Command } from 'commander';
import type { ExitCodeValue } from '../core/errors.js';
import { VERBOSE_FLAGS, runMain, type SetExitCode } from './run-main.js';

/**
 * Commands whose start-up is part of a sync's time load alone when the command line names them:
 * `serve` is what ssh starts on the other device for every sync, `sync` is what the user (or the
 * scheduler) runs, and `status`/`verify` are run as often. Loading every other command as well costs
 * about a fifth of the bundle's start-up (module initialisation), on both ends of every sync.
 */
const LOADED_ALONE: Record<string, (program: Command, setExitCode: SetExitCode) => Promise<void>> = {
  serve: async (program, setExitCode) => (await import('./commands/serve.js')).registerServe(program, setExitCode),
  sync: async (program, setExitCode) => (await import('./commands/sync.js')).registerSync(program, setExitCode),
  status: async (program) => (await import('./commands/status.js')).registerStatus(program),
  verify: async (program, setExitCode) => (await import('./commands/verify.js')).registerVerify(program, setExitCode),
};

/**
 * The command the arguments name, past the program's own options (`--config FILE`, `-v`, `-q`); undefined
 * when something else comes first (`--help`, an unknown option): then every command is loaded.
 */
function namedCommand(argv: readonly string[]): string | undefined {
  for (let at = 0; at < argv.length; at++) {
    const arg = argv[at] as string;
    if (arg === '--config') at++;
    else if (arg.startsWith('--config=') || [...VERBOSE_FLAGS, '-q', '--quiet'].includes(arg)) continue;
    else return arg.startsWith('-') ? undefined : arg;
  }
  return undefined;
}

/** Registers the command named alone (LOADED_ALONE), or every command (for --help and "did you mean"). */
async function registerCommands(program: Command, argv: string[], setExitCode: SetExitCode): Promise<void> {
  const named = namedCommand(argv);
  if (named !== 'serve') {
    // `resonance-sync status | head` closes our stdout early: that ends the output, it is no failure.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  const alone = named === undefined ? undefined : LOADED_ALONE[named];
  if (alone) return alone(program, setExitCode);
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

/** One run of the full command line: its exit code. */
export function main(argv: string[]): Promise<ExitCodeValue> {
  return runMain(argv, registerCommands);
}

// Node ≥ 22.1 can keep compiled code between runs; a phone starts faster from the second sync on.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
const exitCode = await main(process.argv.slice(2));
process.exitCode = exitCode;
