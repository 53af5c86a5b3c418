#!/usr/bin/env node
// Builds what the package ships (npm runs it on prepare and prepack, so a fresh clone, `npm link`,
// `npm install -g .` and `npm pack` all get it):
//   dist/resonance-sync.mjs  the CLI and the ssh agent in one file: every runtime dependency bundled,
//                            only Node built-ins and the optional better-sqlite3 loaded from outside.
//   dist/resonance-sync-serve.mjs  `serve` alone, the same way: what the installed command runs when ssh
//                            starts the agent (bin/resonance-sync.mjs); a phone given one file gets the one above.
//   dist/resonance-sync-early.mjs  what the installed command loads first for `sync` and `verify`: starts ssh to
//                            the (first) peer, so the login overlaps compiling the file above (src/cli/early-ssh.ts).
//   dist/resonance-sync-mcp.mjs  the MCP server of `resonance-sync mcp` (src/mcp/server.ts, with the MCP SDK
//                            and its dependencies, 1.3 MB), loaded only by that command: bundled into the
//                            CLI it would add a third to the start-up of every command, `serve` on a phone too.
//   dist/resonance-sync-ui.mjs   the status page of `resonance-sync ui` (src/ui/entry.ts: its server, hono, and
//                            the page's script and styles as strings), loaded only by that command, likewise.
//   dist/api.mjs             the library API (src/api/index.ts), bundled the same way.
//   dist/types/              its declarations, emitted by tsc (tsconfig.api.json).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

// The `npm ci` below runs this script again as its own prepare step: the outer run builds.
if (process.env.RESONANCE_SYNC_INSTALLING_BUILD_TOOLS === '1') process.exit(0);
ensureBuildTools();
const { build } = await import('esbuild');
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Native, optional, and must be found beside the installed package: never bundled.
  external: ['better-sqlite3'],
  define: { RESONANCE_SYNC_BUNDLED_VERSION: JSON.stringify(version) },
  // Bundled CommonJS (commander, cli-progress) calls require() for Node built-ins.
  banner: { js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);" },
  legalComments: 'eof',
  logLevel: 'warning',
};

/** The CLI imports these at run time from the file beside it (built on its own below): `mcp` and `ui` only. */
const apart = {
  name: 'apart',
  setup(build) {
    build.onResolve({ filter: /\/mcp\/server\.js$/ }, () => ({ path: './resonance-sync-mcp.mjs', external: true }));
    build.onResolve({ filter: /\/ui\/entry\.js$/ }, () => ({ path: './resonance-sync-ui.mjs', external: true }));
  },
};
// The status page's script and styles (`resonance-sync ui`) travel inside its file as two strings.
const { buildUiPage } = await import('./ui-page.mjs');
const page = await buildUiPage(root);
/** dist/NAME.mjs from ENTRY, with `common` and `extra` on top. */
const bundle = (name, entry, extra = {}) =>
  build({ ...common, entryPoints: { [name]: entry }, outdir: 'dist', outExtension: { '.js': '.mjs' }, ...extra });
// Node compiles the whole file before anything runs, every command and every agent start; its
// indentation and line breaks are a quarter of it and 20M instructions of that compile (callgrind).
// Names are kept, so a --verbose stack still says which function failed.
await bundle('resonance-sync', 'src/cli/main.ts', { plugins: [apart], minifyWhitespace: true });
// What the installed command runs for `serve` (ssh starts it on the far side of every sync): the
// agent's code alone, 0.24 MB, compiled in about half the time of the whole command line.
await bundle('resonance-sync-serve', 'src/cli/serve-main.ts', { minifyWhitespace: true });
// Read by the installed command before the CLI's own file for `sync` (bin/resonance-sync.mjs): the
// config, the peers and the ssh command line alone, 0.09 MB, so that ssh starts before the 0.57 MB
// above is compiled.
await bundle('resonance-sync-early', 'src/cli/early-ssh.ts', { minifyWhitespace: true });
await bundle('resonance-sync-mcp', 'src/mcp/server.ts');
await bundle('resonance-sync-ui', 'src/ui/entry.ts', {
  define: { ...common.define, RESONANCE_SYNC_UI_JS: JSON.stringify(page.js), RESONANCE_SYNC_UI_CSS: JSON.stringify(page.css) },
});
await bundle('api', 'src/api/index.ts');

rmSync(new URL('../dist/types', import.meta.url), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.api.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

/**
 * `npm install -g .` and `npm link` on a fresh clone run prepare in a folder without devDependencies,
 * so the build tools are installed first (the lockfile's, by `npm ci`; from npm's cache when offline).
 * The global install's own settings (-g, --prefix) must not leak into that local install.
 */
function ensureBuildTools() {
  try {
    require.resolve('esbuild');
    require.resolve('typescript/bin/tsc');
    return;
  } catch {
    console.error('resonance-sync: build tools not installed (a fresh clone); installing them with npm ci');
  }
  const env = { ...process.env, RESONANCE_SYNC_INSTALLING_BUILD_TOOLS: '1' };
  for (const key of ['npm_config_global', 'npm_config_prefix', 'npm_config_location']) delete env[key];
  const npmCli = process.env.npm_execpath;
  const [command, args] = npmCli ? [process.execPath, [npmCli]] : ['npm', []];
  const ci = spawnSync(command, [...args, 'ci', '--no-audit', '--no-fund'], { cwd: root, env, stdio: 'inherit' });
  if (ci.status !== 0) {
    console.error('resonance-sync: npm ci failed; run it yourself in this folder, then the install again');
    process.exit(ci.status ?? 1);
  }
}
