// Builds the status page's script and stylesheet (src/ui/page/app.ts, with uPlot and its CSS) for the
// browser, in memory. scripts/build-dist.mjs writes the result into the single-file build; the tsc build
// of `resonance-sync ui` calls it when it starts (src/ui/page-assets.ts). One build, one set of options.
import { build } from 'esbuild';

/** @param {string} root the package folder @returns {Promise<{js: string, css: string}>} */
export async function buildUiPage(root) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/ui/page/app.ts'],
    bundle: true,
    platform: 'browser',
    format: 'iife',
    // Phones keep their browser current; this is what uPlot itself targets.
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    write: false,
    outdir: 'page',
    logLevel: 'warning',
  });
  const text = (ext) => result.outputFiles.find((file) => file.path.endsWith(ext))?.text ?? '';
  return { js: text('.js'), css: text('.css') };
}
