/**
 * The install paths a user follows, for real: `npm pack` + `npm install -g ./resonance-sync-*.tgz`
 * into a clean prefix, `npm install -g .` and `npm link` from a clone; then the demo's printed "Try:"
 * line against the installed command, the binding it reports, and the library API type-checked and
 * run from a TypeScript project. No network: the tarball bundles every runtime dependency, so a
 * `--omit=optional --offline` install fetches nothing (that is also how a phone installs it).
 * better-sqlite3 is not rebuilt here (a minute of g++): the test links the checkout's built copy where
 * npm would have put it, and checks the installed command finds and reports it.
 */
import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { node24Path } from '../support/node24.js';
import { tempDir } from '../support/temp.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** npm's own settings from an enclosing `npm test` (prefix, global, …) must not steer these installs. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!/^npm_/i.test(key) && key !== 'RESONANCE_SYNC_SQLITE') env[key] = value;
  return { ...env, ...extra };
}

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd: options.cwd ?? ROOT, env: options.env ?? cleanEnv(), encoding: 'utf8', timeout: 300_000 });
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

function pack(into: string): string {
  const result = run('npm', ['pack', '--json', '--pack-destination', into]);
  const [info] = JSON.parse(result.stdout.slice(result.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  assert.ok(info);
  const allowed =
    /^(package\.json|README\.md|LICENSE|bin\/resonance-sync\.mjs|dist\/resonance-sync(-mcp|-ui|-serve|-early)?\.mjs|dist\/api\.mjs|dist\/types\/.+\.d\.ts)$/;
  const extra = info.files.map((file) => file.path).filter((path) => !allowed.test(path));
  assert.deepEqual(extra, [], 'the tarball holds what runs and nothing else');
  return join(into, info.filename);
}

/** The demo's "Try: resonance-sync …" line, run as printed with the installed command first on PATH. */
function runDemoTryLine(bin: string, node: string, dir: string): string {
  const env = cleanEnv({ PATH: `${bin}:${join(node, '..')}:${process.env.PATH ?? ''}` });
  const demo = run(join(bin, 'resonance-sync'), ['demo', join(dir, 'demo')], { env, cwd: dir });
  const tryLine = demo.stdout.split('\n').find((line) => line.startsWith('Try: resonance-sync '));
  assert.ok(tryLine, `the demo prints a Try: line:\n${demo.stdout}`);
  return run('sh', ['-c', tryLine.slice('Try: '.length)], { env, cwd: dir }).stdout;
}

test('npm pack + npm install -g TARBALL into a clean prefix, offline, without better-sqlite3: the phone path', async (t) => {
  const dir = tempDir(t, 'resonance-install-');
  const tarball = pack(dir);
  const prefix = join(dir, 'prefix');
  run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--omit=optional', '--no-audit', '--no-fund', tarball], { cwd: dir });
  const bin = join(prefix, 'bin');
  const installed = join(prefix, 'lib', 'node_modules', 'resonance-sync');
  const bundledAway = existsSync(join(installed, 'node_modules')) ? readdirSync(join(installed, 'node_modules')) : [];
  assert.deepEqual(
    bundledAway.filter((name) => !name.startsWith('.')),
    [],
    'no runtime dependency left to install',
  );
  const node24 = node24Path();
  // Node 24 first on PATH: the installed command runs on node:sqlite, as on a phone.
  const status = runDemoTryLine(bin, node24, dir);
  assert.match(status, /^node main_device \(/m);
  const version = run(node24, [join(bin, 'resonance-sync'), '--version', '--verbose']).stdout;
  assert.match(version, /^0\.\d+\.\d+/);
  assert.match(version, /sqlite binding: node:sqlite of Node v24.*better-sqlite3 is not installed/);

  // Node 20 has no node:sqlite: one line names the fix that applies.
  const none = spawnSync(process.execPath, [join(bin, 'resonance-sync'), '--version', '--verbose'], { env: cleanEnv(), encoding: 'utf8' });
  if (Number(process.versions.node.split('.')[0]) < 22) {
    assert.equal(none.status, 4, none.stdout + none.stderr);
    assert.match(none.stdout, /^fix: use Node >= 22\.16/m);
  }

  // Where npm puts better-sqlite3 when it builds: the installed command finds it and says so.
  mkdirSync(join(installed, 'node_modules'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules', 'better-sqlite3'), join(installed, 'node_modules', 'better-sqlite3'), 'dir');
  const withBetter = spawnSync(process.execPath, [join(bin, 'resonance-sync'), '--version', '--verbose'], {
    env: cleanEnv(),
    encoding: 'utf8',
  }).stdout;
  // Node resolves the link to its real folder: found only through it, as nothing else is on the lookup path from the prefix.
  if (betterSqliteLoadsHere()) {
    assert.ok(withBetter.includes(`sqlite binding: better-sqlite3 `) && withBetter.includes('(the default: it loads)'), withBetter);
  } else {
    // This runtime is not the Node the checkout's better-sqlite3 was built for (the Node 24 run): found, and named as such.
    assert.match(withBetter, /better-sqlite3 in \S+ was built for another Node than v/);
  }

  // The library API from a TypeScript project: types check, and a sync runs through it.
  const project = join(dir, 'agent');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'agent', private: true, type: 'module' }));
  run('npm', ['install', '--offline', '--omit=optional', '--no-audit', '--no-fund', tarball], { cwd: project });
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
        outDir: 'out',
      },
      files: ['agent.ts'],
    }),
  );
  writeFileSync(
    join(project, 'agent.ts'),
    `import { syncPeers, status, SyncError, type SyncReport, type StatusReport, type SyncProgress } from 'resonance-sync';
const config = process.argv[2] as string;
const events: SyncProgress[] = [];
const report: SyncReport = await syncPeers({ config, signal: AbortSignal.timeout(60_000), onProgress: (event) => events.push(event) });
const now: StatusReport = await status({ config });
let code = '';
try {
  await syncPeers({ config, peers: ['/nonexistent/nowhere.sqlite3'] });
} catch (error) {
  if (error instanceof SyncError) code = error.code;
}
const failed = (await syncPeers({ config, peers: ['/nonexistent/nowhere.sqlite3'] }).catch(() => undefined))?.peers[0]?.error?.code ?? code;
console.log(JSON.stringify({ ok: report.ok, peers: report.peers.map((p) => p.peer), node: now.node.name, failed }));
`,
  );
  run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]);
  const demoConfig = join(dir, 'demo', 'config.toml');
  const agent = run(node24, [join(project, 'out', 'agent.js'), demoConfig], { cwd: project });
  const result = JSON.parse(agent.stdout) as { ok: boolean; peers: string[]; node: string; failed: string };
  assert.deepEqual(result, { ok: true, peers: ['selesta'], node: 'main_device', failed: 'DB_NOT_FOUND' });
});

test('npm install -g . and npm link from a clone put the command on PATH', (t) => {
  const dir = tempDir(t, 'resonance-install-');
  const clone = join(dir, 'clone');
  run('git', ['clone', '--quiet', ROOT, clone]);
  // The clone's build tools: the checkout's own (a fresh clone without them runs npm ci first, see scripts/build-dist.mjs).
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
  for (const [label, args] of [
    ['install -g .', ['install', '-g', '.', '--offline', '--no-audit', '--no-fund']],
    ['link', ['link', '--offline', '--no-audit', '--no-fund']],
  ] as const) {
    const prefix = join(dir, label.replace(/\W+/g, '-'));
    // PREFIX is npm's default global prefix; `npm link` takes --prefix as the project folder instead.
    run('npm', [...args], { cwd: clone, env: cleanEnv({ PREFIX: prefix }) });
    assert.ok(existsSync(join(clone, 'dist', 'resonance-sync.mjs')), `${label}: prepare built the single file`);
    const status = runDemoTryLine(join(prefix, 'bin'), process.execPath, join(dir, label.replace(/\W+/g, '-')));
    assert.match(status, /^node main_device \(/m, label);
    const packageJson = JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as { version: string };
    assert.equal(run(join(prefix, 'bin', 'resonance-sync'), ['--version']).stdout.trim(), packageJson.version);
  }
});

/** Whether the checkout's better-sqlite3 loads in this process (it is built for one Node ABI only). */
function betterSqliteLoadsHere(): boolean {
  try {
    const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => { close(): void };
    new Database(':memory:').close();
    return true;
  } catch {
    return false;
  }
}
