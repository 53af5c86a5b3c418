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

// Relay: an entry never travels back over the link it arrived on, so in a tree (star, chain) each
// entry crosses each link once and a receiver never gets what it already has (no twins: no entry is
// written twice independently). A mesh still delivers some entries along several paths.
for (const topology of ['star', 'chain'] as const) {
  test(`simulation: 5 nodes in a ${topology}, no twins: each entry crosses each link once`, async () => {
    const result = await runSimulation({ nodes: 5, notes: 1000, topology, seed: 3, twins: 0 });
    assert.equal(result.entries, 1000);
    assert.ok(result.alreadyThereRatio <= 0.01, `${(result.alreadyThereRatio * 100).toFixed(2)} % of the traffic was already there`);
  });
}

test('simulation: 5 nodes in a mesh, no twins: traffic already there reported', async (t) => {
  const result = await runSimulation({ nodes: 5, notes: 1000, topology: 'mesh', seed: 3, twins: 0 });
  assert.equal(result.entries, 1000);
  t.diagnostic(`mesh: ${(result.alreadyThereRatio * 100).toFixed(2)} % of the traffic was already there`);
});

test('topologies are connected and have the expected shape', () => {
  const next = random(3);
  assert.equal(topologyEdges('star', 5, next).length, 4);
  assert.equal(topologyEdges('chain', 5, next).length, 4);
  assert.equal(topologyEdges('mesh', 5, next).length, 10);
  const edges = topologyEdges('random', 12, next);
  const reached = new Set([0]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [a, b] of edges) {
      if (reached.has(a) === reached.has(b)) continue;
      reached.add(a);
      reached.add(b);
      changed = true;
    }
  }
  assert.equal(reached.size, 12);
});

test('simulation: 6 nodes, two of them reached over ssh (agent and agentless), converge with each entry once', async (t) => {
  const { requireSshdOrSkip, startSshd } = await import('../support/sshd.js');
  const { agentCommand, sshUrl } = await import('../ssh/fixtures.js');
  if (!requireSshdOrSkip(t)) return;
  const server = await startSshd();
  t.after(() => server.stop());
  const saved = process.env.RESONANCE_SYNC_SSH;
  process.env.RESONANCE_SYNC_SSH = server.env.RESONANCE_SYNC_SSH;
  t.after(() => {
    if (saved === undefined) delete process.env.RESONANCE_SYNC_SSH;
    else process.env.RESONANCE_SYNC_SSH = saved;
  });
  const result = await runSimulation({
    nodes: 6,
    notes: 600,
    topology: 'random',
    seed: 11,
    peerUrl: (index, path) =>
      index === 1
        ? { url: sshUrl(server, path), mode: 'agent', remoteCommand: agentCommand() }
        : index === 2
          ? { url: sshUrl(server, path), mode: 'sqlite3', remoteCommand: undefined }
          : { url: path, mode: 'auto', remoteCommand: undefined },
  });
  assert.equal(result.entries, 600);
});
