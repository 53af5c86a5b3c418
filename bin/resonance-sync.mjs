#!/usr/bin/env node
// The installed command: turns on Node's compile cache (Node >= 22.1; a no-op before), then runs the
// single-file build. The cache must be on before that file is compiled, hence this separate launcher;
// dist/resonance-sync.mjs also runs on its own (that is the file a phone can be given).
import module from 'node:module';

module.enableCompileCache?.();
await import('../dist/resonance-sync.mjs');
