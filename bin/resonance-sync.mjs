#!/usr/bin/env node
// The installed command: turns on Node's compile cache (Node >= 22.1; a no-op before), then runs the
// single-file build. The cache must be on before that file is compiled, hence this separate launcher;
// dist/resonance-sync.mjs also runs on its own (that is the file a phone can be given).
// `serve` (what ssh starts on the far side of every sync, always as the first word) runs from its own
// file, the agent's code alone: Node compiles a whole file before running it, and that one is under half.
import module from 'node:module';

module.enableCompileCache?.();
await import(process.argv[2] === 'serve' ? '../dist/resonance-sync-serve.mjs' : '../dist/resonance-sync.mjs');
