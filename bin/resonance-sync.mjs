#!/usr/bin/env node
// The installed command: turns on Node's compile cache (Node >= 22.1; a no-op before), then runs the
// single-file build. The cache must be on before that file is compiled, hence this separate launcher;
// dist/resonance-sync.mjs also runs on its own (that is the file a phone can be given).
// `serve` (what ssh starts on the far side of every sync, always as the first word) runs from its own
// file, the agent's code alone: Node compiles a whole file before running it, and that one is under half.
// A `sync` or a `verify` first loads a small file that starts ssh to the (first) peer, so that the
// login overlaps compiling and starting the command line (src/cli/early-ssh.ts); an ssh the command
// did not take over is ended when it returns. It only saves time: should that file fail to load, the
// command runs as it would without it.
import module from 'node:module';

module.enableCompileCache?.();
const args = process.argv.slice(2);
if (args[0] === 'serve') await import('../dist/resonance-sync-serve.mjs');
else if (!args.includes('sync') && !args.includes('verify')) await import('../dist/resonance-sync.mjs');
else {
  const early = await import('../dist/resonance-sync-early.mjs').catch(() => undefined);
  early?.startCommandSshEarly(args);
  try {
    await import('../dist/resonance-sync.mjs');
  } finally {
    early?.discardEarlySsh();
  }
}
