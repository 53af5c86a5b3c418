/**
 * Which database an agent serves, and the check that it is the one the client asked for: `--db`,
 * else `--allow-db` (the forced command of an authorized_keys line), else the requested path. A
 * mismatch is refused rather than silently syncing some other file than the peer URL names.
 */
import { existsSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { expandHome } from '../core/peer-url.js';
import { SyncError } from '../core/errors.js';
import type { Hello } from './protocol.js';

export function servedDatabase(hello: Hello, options: { db: string | undefined; allowDb: string | undefined }): string {
  // Home-relative peer paths are resolved here, on the remote, against this user's home.
  const requested = hello.homeRelative ? join(homedir(), hello.dbPath) : resolve(hello.dbPath);
  const given = options.db ?? options.allowDb;
  const served = given === undefined ? requested : resolve(expandHome(given));
  const allowed = options.allowDb === undefined ? undefined : resolve(expandHome(options.allowDb));
  if (allowed !== undefined && !sameFile(served, allowed)) {
    throw new SyncError('DB_NOT_ALLOWED', `this agent may only serve ${allowed}, not ${served}`);
  }
  if (!sameFile(requested, served)) {
    throw new SyncError(
      'DB_NOT_ALLOWED',
      `this ssh login may only sync ${served} (forced command in authorized_keys on the remote), not ${requested}; fix the peer URL`,
    );
  }
  return served;
}

function sameFile(a: string, b: string): boolean {
  const real = (path: string) => (existsSync(path) ? realpathSync(path) : path);
  return real(a) === real(b);
}
