import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSimulation, topologyEdges, type Topology } from '../../sim/simulate.js';
import { random } from '../../bench/generate.js';

for (const topology of ['star', 'chain', 'mesh', 'random'] as const satisfies readonly Topology[]) {
  test(`simulation: 6 nodes in a ${topology}, random writes and crashes, all converge with each entry once`, async () => {
    const result = await runSimulation({ nodes: 6, notes: 1200, topology, seed: 7 });
    assert.equal(result.entries, 1200);
    assert.ok(result.syncs > result.edges.length, 'syncs ran in the random phase and the final rounds');
  });
}

test('topologies are connected and have the expected shape', () => {
  const next = random(3);
  assert.equal(topologyEdges('star', 5, next).length, 4);
  assert.equal(topologyEdges('chain', 5, next).length, 4);
  assert.equal(topologyEdges('mesh', 5, next).length, 10);
  const edges = topologyEdges('random', 12, next);
  const reached = new Set([0]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [a, b] of edges) if (reached.has(a) !== reached.has(b)) (reached.add(a), reached.add(b), (changed = true));
  }
  assert.equal(reached.size, 12);
});
