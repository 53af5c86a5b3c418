/**
 * This installation's package version, announced in the agent preamble and the handshake so a
 * protocol mismatch can say exactly which resonance-sync to upgrade, and where.
 */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  try {
    // dist/src/protocol/version.js -> the package root, where npm always ships package.json.
    const parsed: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    const version = typeof parsed === 'object' && parsed !== null && 'version' in parsed ? parsed.version : undefined;
    cached = typeof version === 'string' && /^[\x21-\x7e]{1,64}$/.test(version) ? version : 'unknown';
  } catch {
    cached = 'unknown';
  }
  return cached;
}
