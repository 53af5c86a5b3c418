/**
 * The single-file agent this installation uploads to a remote that has Node but no resonance-sync:
 * dist/resonance-sync.mjs (the CLI and `serve --stdio` in one file, scripts/build-dist.mjs). When this
 * code runs from that build (or from dist/api.mjs beside it), it is the file next to the running one;
 * from tsc output (tests, a checkout), the one in the package's dist/. Its sha256 names it in the
 * remote's cache, so a desktop upgrade brings its own file and the two ends never disagree.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SyncError } from '../../core/errors.js';
import { packageRoot, packageVersion, runningBundled } from '../../core/version.js';

export const AGENT_BUNDLE_NAME = 'resonance-sync.mjs';

export interface AgentBundle {
  path: string;
  bytes: Buffer;
  /** Hex sha256 of bytes. */
  sha256: string;
  version: string;
  /** The name it gets in the remote's cache: `agent-<version>-<first 16 hex of sha256>.mjs`. */
  cacheName: string;
}

let cached: AgentBundle | undefined;

/** Where the single file is, without reading it. */
export function agentBundlePath(): string {
  if (runningBundled()) return join(dirname(fileURLToPath(import.meta.url)), AGENT_BUNDLE_NAME);
  const root = packageRoot();
  if (root === undefined) throw notBuilt(`(no resonance-sync package around ${fileURLToPath(import.meta.url)})`);
  return join(root, 'dist', AGENT_BUNDLE_NAME);
}

/** The file, its hash and its cache name; read once per process (about 500 KB, a few ms to hash). */
export function agentBundle(): AgentBundle {
  if (cached) return cached;
  const path = agentBundlePath();
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw notBuilt(`(${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const version = packageVersion();
  // The version goes into a remote file name: keep it to the characters a preamble allows, minus "/".
  const safeVersion = version.replace(/[^A-Za-z0-9._+-]/g, '_');
  cached = { path, bytes, sha256, version, cacheName: `agent-${safeVersion}-${sha256.slice(0, 16)}.mjs` };
  return cached;
}

function notBuilt(detail: string): SyncError {
  return new SyncError(
    'AGENT_MISSING',
    `the single-file agent to upload is not built ${detail}: run \`npm run build:dist\` in the resonance-sync checkout, or set agent_upload = false`,
  );
}
