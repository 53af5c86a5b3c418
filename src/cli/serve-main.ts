#!/usr/bin/env node
/**
 * `resonance-sync serve` alone: the file the installed command runs when ssh starts the agent
 * (bin/resonance-sync.mjs sends `serve …` here). Node compiles a whole file before running any of
 * it, and this one holds the agent's code only, under half of the full command line's: the far side
 * of every sync starts that much sooner. It behaves as `serve` does in the full command line.
 */
import module from 'node:module';
import type { Command } from 'commander';
import { runMain, type SetExitCode } from './run-main.js';

async function registerServe(program: Command, _argv: string[], setExitCode: SetExitCode): Promise<void> {
  (await import('./commands/serve.js')).registerServe(program, setExitCode);
}

(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
process.exitCode = await runMain(process.argv.slice(2), registerServe);
