/**
 * This installation's package version, announced in the agent preamble and the handshake so a
 * protocol mismatch can say exactly which resonance-sync to upgrade, and where. The single-file build
 * (scripts/build-dist.mjs) writes the version into the file, since a copy of that file uploaded to a
 * phone has no package.json beside it; the tsc build reads the package's own package.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Replaced by a string literal in the single-file build (esbuild `define`); undeclared anywhere else. */
declare const RESONANCE_SYNC_BUNDLED_VERSION: string | undefined;

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  const bundled = typeof RESONANCE_SYNC_BUNDLED_VERSION === 'string' ? RESONANCE_SYNC_BUNDLED_VERSION : undefined;
  cached = bundled ?? readVersion();
  return cached;
}

/** Whether this code runs from the single-file build (dist/resonance-sync.mjs or dist/api.mjs), not from tsc output. */
export function runningBundled(): boolean {
  return typeof RESONANCE_SYNC_BUNDLED_VERSION === 'string';
}

function readVersion(): string {
  const root = packageRoot();
  if (root === undefined) return 'unknown';
  try {
    const parsed: unknown = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const version = typeof parsed === 'object' && parsed !== null && 'version' in parsed ? parsed.version : undefined;
    return typeof version === 'string' && /^[\x21-\x7e]{1,64}$/.test(version) ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The folder of the installed resonance-sync package (the one holding its package.json and
 * node_modules), found by walking up from this file: dist/src/core/ in the tsc build, dist/ in the
 * single-file build. Undefined for a lone copy of the single file.
 */
export function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) {
      try {
        const parsed: unknown = JSON.parse(readFileSync(candidate, 'utf8'));
        if (typeof parsed === 'object' && parsed !== null && 'name' in parsed && parsed.name === 'resonance-sync') return dir;
      } catch {
        // Not ours (or unreadable): keep walking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
