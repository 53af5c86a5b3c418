/**
 * The architecture, enforced: src/ is a stack of folders, each importing only the folders below it.
 * A new import that reaches up (say store/ importing from sync/) fails here with the line to fix,
 * so the layering in README's code map cannot silently rot into an import loop again.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Bottom to top. */
export const LAYERS = [
  'core',
  'store',
  'config',
  'protocol',
  'transport',
  'sync',
  'schedule',
  'doctor',
  'demo',
  'api',
  'mcp',
  'ui',
  'cli',
] as const;

const srcRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');
const IMPORT = /(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]/g;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function folderOf(path: string): string {
  return relative(srcRoot, path).split(sep)[0] as string;
}

interface Edge {
  from: string;
  to: string;
  where: string;
}

function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sources(srcRoot)) {
    for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const target = resolve(dirname(file), (match[1] ?? match[2]) as string);
      if (!target.startsWith(srcRoot + sep)) continue;
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) edges.push({ from, to, where: `${relative(srcRoot, file)} imports ${match[1] ?? match[2]}` });
    }
  }
  return edges;
}

test('every folder of src/ has a place in the layers', () => {
  const folders = readdirSync(srcRoot).filter((name) => statSync(join(srcRoot, name)).isDirectory());
  const unplaced = folders.filter((name) => !(LAYERS as readonly string[]).includes(name));
  assert.deepEqual(unplaced, [], 'add the new folder to LAYERS in test/unit/layers.test.ts and to the README code map');
  const loose = readdirSync(srcRoot).filter((name) => name.endsWith('.ts'));
  assert.deepEqual(loose, [], 'every source file belongs to a layer folder');
});

test('no folder imports a folder above it (so no import loops)', () => {
  const rank = (folder: string) => (LAYERS as readonly string[]).indexOf(folder);
  const edges = importEdges();
  assert.ok(edges.length > 20, `the scan found the imports (${edges.length})`);
  const upward = edges.filter((edge) => rank(edge.to) > rank(edge.from)).map((edge) => `${edge.from} -> ${edge.to}: ${edge.where}`);
  assert.deepEqual(upward, []);
});

test('core/ is platform-free vocabulary: no SQLite binding, no child processes, no network', () => {
  const forbidden = /from\s+['"](better-sqlite3|node:sqlite|node:child_process|node:net|node:http|node:worker_threads)['"]/;
  const offenders = sources(join(srcRoot, 'core')).filter((file) => forbidden.test(readFileSync(file, 'utf8')));
  assert.deepEqual(
    offenders.map((file) => relative(srcRoot, file)),
    [],
  );
});
