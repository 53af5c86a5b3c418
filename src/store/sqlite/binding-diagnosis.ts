/**
 * Why a SQLite binding is (or is not) usable here, in words a user can act on: which better-sqlite3
 * was found and where, or why it failed to load, and the one fix that applies when no binding works.
 * `--version --verbose`, `doctor` and the "no SQLite binding" error all say it the same way.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { betterSqlite3LoadFailure } from './better-sqlite3-driver.js';

const require = createRequire(import.meta.url);

/** The oldest Node whose node:sqlite this project can use (see node-sqlite-driver.ts). */
export const NODE_SQLITE_MIN = '22.16';

export type BetterSqlite3State =
  | { kind: 'loaded'; version: string; folder: string }
  | { kind: 'not installed' }
  | { kind: 'not built'; folder: string }
  | { kind: 'built for another Node'; folder: string }
  | { kind: 'failed'; folder: string | undefined; message: string };

/** The installed better-sqlite3 package's folder, if npm put one where this file can require it. */
function betterSqlite3Folder(): string | undefined {
  try {
    return dirname(require.resolve('better-sqlite3/package.json'));
  } catch {
    return undefined;
  }
}

function versionIn(folder: string): string {
  try {
    const parsed: unknown = JSON.parse(readFileSync(`${folder}/package.json`, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && 'version' in parsed ? String(parsed.version) : '?';
  } catch {
    return '?';
  }
}

/** What became of better-sqlite3, after a load attempt (`loaded` says whether it succeeded). */
export function betterSqlite3State(loaded: boolean): BetterSqlite3State {
  const folder = betterSqlite3Folder();
  if (loaded && folder !== undefined) return { kind: 'loaded', version: versionIn(folder), folder };
  if (folder === undefined) return { kind: 'not installed' };
  const failure = betterSqlite3LoadFailure();
  const full = failure instanceof Error ? failure.message : String(failure ?? 'unknown failure');
  const message = full.split('\n')[0] ?? '';
  // The `bindings` package's message when npm's build of the native module failed or was skipped.
  if (/Could not locate the bindings file/i.test(full)) return { kind: 'not built', folder };
  if (/NODE_MODULE_VERSION|was compiled against a different Node\.js version/i.test(full))
    return { kind: 'built for another Node', folder };
  return { kind: 'failed', folder, message };
}

/** Whether this Node is new enough for node:sqlite. */
export function hasUsableNodeSqlite(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [wantMajor = 0, wantMinor = 0] = NODE_SQLITE_MIN.split('.').map(Number);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

/** One phrase for the state, e.g. "not built (npm could not compile it: no compiler or Node headers)". */
export function describeBetterSqlite3(state: BetterSqlite3State): string {
  switch (state.kind) {
    case 'loaded':
      return `better-sqlite3 ${state.version} from ${state.folder}`;
    case 'not installed':
      return 'better-sqlite3 is not installed (it is optional; npm skips it when it cannot build it, or with --omit=optional)';
    case 'not built':
      return `better-sqlite3 in ${state.folder} was never built (npm could not compile it: no compiler or no Node headers)`;
    case 'built for another Node':
      return `better-sqlite3 in ${state.folder} was built for another Node than ${process.version}`;
    case 'failed':
      return `better-sqlite3 failed to load: ${state.message}`;
  }
}

/** The fix that applies when no binding loads: rebuild better-sqlite3 where it lies, or a Node with node:sqlite. */
export function noBindingFix(state: BetterSqlite3State): string {
  const newerNode = hasUsableNodeSqlite()
    ? `unset RESONANCE_SYNC_SQLITE so that this Node's built-in node:sqlite is used`
    : `use Node >= ${NODE_SQLITE_MIN}, whose built-in node:sqlite needs nothing built`;
  if (state.kind === 'not installed' || state.kind === 'loaded') {
    return `${newerNode} (or install resonance-sync again without --omit=optional, with python3, make and g++ installed)`;
  }
  const packageFolder = state.folder === undefined ? undefined : dirname(dirname(state.folder));
  const rebuild = `cd ${packageFolder ?? '<the folder holding node_modules/better-sqlite3>'} && npm rebuild better-sqlite3 --foreground-scripts`;
  return `install python3, make and g++, then run: ${rebuild}; or ${newerNode}`;
}
