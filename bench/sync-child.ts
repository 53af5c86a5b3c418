/**
 * Runs one sync in its own process and reports wall time and peak RSS as JSON on stdout, so the
 * benchmark measures memory of the sync alone. Usage: node sync-child.js LOCAL_DB PEER_URL [pull|push|both]
 */
import { emptyConfig } from '../src/config/schema.js';
import { parsePeerUrl } from '../src/core/peer-url.js';
import { EVERYTHING } from '../src/core/route.js';
import { syncPeers } from '../src/sync/sync-peers.js';

const [localDb, peerUrl, which = 'both', mode = 'auto', remoteCommand] = process.argv.slice(2);
if (!localDb || !peerUrl) throw new Error('usage: sync-child LOCAL_DB PEER_URL [pull|push|both] [mode] [remote command]');
const started = performance.now();
const [outcome] = await syncPeers({
  dbPath: localDb,
  node: { ...emptyConfig().node, name: 'bench-local', syncNote: false },
  peers: [
    {
      name: 'bench-peer',
      url: peerUrl,
      location: parsePeerUrl(peerUrl),
      mode: mode as 'auto' | 'agent' | 'sqlite3',
      remoteCommand,
      enabled: true,
      push: EVERYTHING,
      pull: EVERYTHING,
    },
  ],
  pull: which !== 'push',
  push: which !== 'pull',
  dryRun: false,
});
const seconds = (performance.now() - started) / 1000;
if (outcome?.error) throw outcome.error;
const directions = outcome?.summary?.directions ?? [];
process.stdout.write(
  JSON.stringify({
    seconds,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    received: directions.reduce((sum, d) => sum + d.received, 0),
    bytes: directions.reduce((sum, d) => sum + d.bytes, 0),
  }),
);
