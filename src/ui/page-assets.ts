/**
 * The page's script and stylesheet. The single-file build carries them as two strings (esbuild
 * `define` in scripts/build-dist.mjs), so the page works offline from that one file on a phone; the tsc
 * build makes them at start-up with the same esbuild options (scripts/ui-page.mjs).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SyncError } from '../core/errors.js';
import { packageRoot } from '../core/version.js';

/** Replaced by string literals in the single-file build; undeclared anywhere else. */
declare const RESONANCE_SYNC_UI_JS: string | undefined;
declare const RESONANCE_SYNC_UI_CSS: string | undefined;

export interface PageAssets {
  js: string;
  css: string;
}

interface PageBuilder {
  buildUiPage(root: string): Promise<PageAssets>;
}

export async function pageAssets(): Promise<PageAssets> {
  if (typeof RESONANCE_SYNC_UI_JS === 'string' && typeof RESONANCE_SYNC_UI_CSS === 'string') {
    return { js: RESONANCE_SYNC_UI_JS, css: RESONANCE_SYNC_UI_CSS };
  }
  const root = packageRoot();
  if (root === undefined) throw new SyncError('INTERNAL', 'the status page was not built into this copy; run npm run build:dist');
  const builder = (await import(pathToFileURL(join(root, 'scripts', 'ui-page.mjs')).href)) as PageBuilder;
  return builder.buildUiPage(root);
}
