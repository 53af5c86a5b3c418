/**
 * Many-node simulation over real sync calls: N databases in a random topology (star, chain, mesh or
 * a random connected graph), random writes between random syncs, and crashes (syncs aborted between
 * batches). At the end every node must hold every entry exactly once, with its true origin.
 *
 *   npm run sim -- --nodes 20 --notes 100000 [--topology random|star|chain|mesh] [--seed 1]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { emptyConfig, type PeerConfig } from '../src/config/schema.js';
import { parsePeerUrl } from '../src/core/peer-url.js';
import { LocalReplica } from '../src/transport/local/local-replica.js';
import { openDatabase } from '../src/store/sqlite/open-database.js';
import { inTransaction } from '../src/store/sqlite/transaction.js';
import { EVERYTHING } from '../src/core/route.js';
import { syncPeers } from '../src/sync/sync-peers.js';
import { random } from '../bench/generate.js';

export type Topology = 'random' | 'star' | 'chain' | 'mesh';

export interface SimulationOptions {
  nodes: number;
  notes: number;
  topology: Topology;
  seed: number;
  dir?: string;
  /** How node `index` is reached as a peer (default: its path); lets tests put some nodes behind ssh. */
  peerUrl?: (index: number, path: string) => { url: string; mode: PeerConfig['mode']; remoteCommand: string | undefined };
  log?: (line: string) => void;
  /** Share of notes also written on a second node (an entry written twice independently); default 0.05. */
  twins?: number;
}

/** What crossed one link (both directions), and how much of it the receiver already held. */
export interface LinkTraffic {
  edge: [number, number];
  sent: number;
  /** Entries sent that the receiver already had (counted as duplicates there): traffic a relay could have saved. */
  alreadyThere: number;
}

export interface SimulationResult {
  nodes: number;
  edges: Array<[number, number]>;
  entries: number;
  syncs: number;
  crashes: number;
  finalRounds: number;
  seconds: number;
  links: LinkTraffic[];
  /** alreadyThere / sent over all links. */
  alreadyThereRatio: number;
}

const VARIANTS = [
  `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT)`,
  `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT, source TEXT DEFAULT 'scribe')`,
  `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, source TEXT, content TEXT, resonance_score REAL)`,
];

export function topologyEdges(topology: Topology, nodes: number, next: () => number): Array<[number, number]> {
  const edges: Array<[number, number]> = [];
  if (topology === 'star') for (let i = 1; i < nodes; i++) edges.push([0, i]);
  else if (topology === 'chain') for (let i = 1; i < nodes; i++) edges.push([i - 1, i]);
  else if (topology === 'mesh') for (let i = 0; i < nodes; i++) for (let j = i + 1; j < nodes; j++) edges.push([i, j]);
  else {
    for (let i = 1; i < nodes; i++) edges.push([Math.floor(next() * i), i]); // a random spanning tree
    for (let extra = 0; extra < nodes / 2; extra++) {
      const [a, b] = [Math.floor(next() * nodes), Math.floor(next() * nodes)];
      if (a !== b && !edges.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) edges.push([a, b]);
    }
  }
  return edges;
}

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const started = performance.now();
  const next = random(options.seed);
  const log = options.log ?? (() => undefined);
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'resonance-sim-'));
  const paths = Array.from({ length: options.nodes }, (_, i) => join(dir, `node${i}.sqlite3`));
  paths.forEach((path, i) => {
    const db = openDatabase(path, { create: true });
    db.exec(VARIANTS[i % VARIANTS.length] as string);
    db.close();
    void LocalReplica.open(path, { prepareAs: { nodeName: `node${i}` } }).close();
  });
  const edges = topologyEdges(options.topology, options.nodes, next);
  log(`${options.nodes} nodes, ${options.topology} topology, ${edges.length} edges, ${options.notes} notes, in ${dir}`);

  let written = 0;
  let syncs = 0;
  let crashes = 0;
  const links: LinkTraffic[] = edges.map((edge) => ({ edge, sent: 0, alreadyThere: 0 }));
  const syncEdge = async ([a, b]: [number, number], crash: boolean) => {
    const link = links.find(({ edge }) => edge[0] === a && edge[1] === b) as LinkTraffic;
    const [local, remote] = next() < 0.5 ? [a, b] : [b, a];
    const reach = options.peerUrl?.(remote, paths[remote] as string) ?? {
      url: paths[remote] as string,
      mode: 'auto' as const,
      remoteCommand: undefined,
    };
    const controller = new AbortController();
    let batches = 0;
    const [outcome] = await syncPeers({
      dbPath: paths[local] as string,
      node: { ...emptyConfig().node, name: `node${local}`, syncNote: false },
      peers: [
        {
          name: `node${remote}`,
          url: reach.url,
          location: parsePeerUrl(reach.url),
          mode: reach.mode,
          remoteCommand: reach.remoteCommand,
          enabled: true,
          push: EVERYTHING,
          pull: EVERYTHING,
        },
      ],
      pull: true,
      push: true,
      dryRun: false,
      // Small batches, so a crash after two of them lands mid-sync; larger for large runs.
      limits: { maxRows: Math.max(200, Math.round(options.notes / 100)), maxBytes: 1 << 20 },
      signal: controller.signal,
      onProgress: () => {
        if (crash && ++batches >= 2) controller.abort(new Error('simulated crash'));
      },
    });
    syncs++;
    for (const direction of outcome?.summary?.directions ?? []) {
      link.sent += direction.sent;
      link.alreadyThere += direction.duplicates;
    }
    if (outcome?.error) {
      if (!crash) throw outcome.error;
      crashes++;
    }
  };

  // The random phase: writes spread over rounds, each followed by some syncs, some of them crashing.
  const rounds = Math.max(4, Math.ceil(Math.sqrt(options.notes / 50)));
  for (let round = 0; round < rounds; round++) {
    const count = round === rounds - 1 ? options.notes - written : Math.floor(options.notes / rounds);
    writeNotes(paths, written, count, next, options.twins ?? 0.05);
    written += count;
    for (const edge of edges) if (next() < 0.5) await syncEdge(edge, next() < 0.2);
  }
  // Final rounds until nothing moves: at most the graph's diameter, bounded by the node count.
  let finalRounds = 0;
  for (; finalRounds < options.nodes + 1; finalRounds++) {
    const before = paths.map(count).join(',');
    for (const edge of edges) await syncEdge(edge, false);
    if (paths.map(count).join(',') === before && finalRounds > 0) break;
  }
  checkConverged(paths, written);
  if (!options.dir) rmSync(dir, { recursive: true, force: true });
  const seconds = (performance.now() - started) / 1000;
  const sent = links.reduce((sum, link) => sum + link.sent, 0);
  const alreadyThere = links.reduce((sum, link) => sum + link.alreadyThere, 0);
  const alreadyThereRatio = sent === 0 ? 0 : alreadyThere / sent;
  log(
    `converged: ${written} entries on each of ${options.nodes} nodes after ${syncs} syncs (${crashes} crashed), ${finalRounds} final rounds, ${seconds.toFixed(1)} s`,
  );
  log(
    `traffic: ${sent} entries sent over ${links.length} links, ${alreadyThere} of them already there (${(alreadyThereRatio * 100).toFixed(2)} %)`,
  );
  for (const link of links) {
    log(`  node${link.edge[0]} <-> node${link.edge[1]}: ${link.sent} sent, ${link.alreadyThere} already there`);
  }
  return { nodes: options.nodes, edges, entries: written, syncs, crashes, finalRounds, seconds, links, alreadyThereRatio };
}

/** Each note is written on one random node; about one in twenty also on a second node (the same entry twice). */
function writeNotes(paths: string[], first: number, count: number, next: () => number, twins: number): void {
  const byNode = new Map<number, number[]>();
  for (let serial = first; serial < first + count; serial++) {
    const node = Math.floor(next() * paths.length);
    byNode.set(node, [...(byNode.get(node) ?? []), serial]);
    if (next() < twins) {
      const twin = Math.floor(next() * paths.length);
      if (twin !== node) byNode.set(twin, [...(byNode.get(twin) ?? []), serial]);
    }
  }
  for (const [node, serials] of byNode) {
    const db = openDatabase(paths[node] as string);
    const columns = (db.prepare('PRAGMA table_info(resonance_notes)').all() as Array<{ name: string }>).map((c) => c.name);
    const insert = columns.includes('context')
      ? db.prepare('INSERT INTO resonance_notes (timestamp, content, context, source) VALUES (?, ?, ?, ?)')
      : db.prepare('INSERT INTO resonance_notes (timestamp, content, source) VALUES (?, ?, ?)');
    inTransaction(db, 'IMMEDIATE', () => {
      for (const serial of serials) {
        const values = [
          `2025-11-30 22:${String(Math.floor(serial / 60) % 60).padStart(2, '0')}:${String(serial % 60).padStart(2, '0')}`,
          `note ${serial} ${'·'.repeat(serial % 97)}`,
        ];
        const source = serial % 5 === 0 ? null : `agent${serial % 7}`;
        if (columns.includes('context')) insert.run(...values, `ctx${serial % 4}`, source);
        else insert.run(...values, source);
      }
    });
    db.close();
  }
}

function count(path: string): number {
  const db = openDatabase(path, { readOnly: true });
  try {
    return Number(db.prepare('SELECT count(*) AS n FROM resonance_notes').get()?.n);
  } finally {
    db.close();
  }
}

function checkConverged(paths: string[], written: number): void {
  paths.forEach((path, i) => {
    const db = openDatabase(path, { readOnly: true });
    try {
      const row = db.prepare(`SELECT count(*) AS n, count(DISTINCT content) AS distinct_entries FROM resonance_notes`).get();
      if (Number(row?.n) !== written || Number(row?.distinct_entries) !== written) {
        throw new Error(
          `node${i} holds ${String(row?.n)} rows for ${String(row?.distinct_entries)} distinct entries; expected each of ${written} exactly once`,
        );
      }
      const wrongOrigin = db.prepare(`SELECT count(*) AS n FROM resonance_notes_origin WHERE origin_name IS NULL`).get();
      if (Number(wrongOrigin?.n) !== 0) throw new Error(`node${i}: ${String(wrongOrigin?.n)} entries with an unknown origin`);
    } finally {
      db.close();
    }
  });
}

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] ? (process.argv[at + 1] as string) : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runSimulation({
    nodes: Number(argument('nodes', '8')),
    notes: Number(argument('notes', '5000')),
    topology: argument('topology', 'random') as Topology,
    seed: Number(argument('seed', '1')),
    twins: Number(argument('twins', '0.05')),
    log: (line) => console.log(line),
  });
  console.log(JSON.stringify(result));
}
