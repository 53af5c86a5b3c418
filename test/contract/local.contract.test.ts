/** The contract suite over the local-file transport. */
import { replicaContract } from './replica-contract.js';

replicaContract({
  name: 'local',
  receivesDirect: true,
  async start() {
    return { url: (path: string) => path, mode: 'auto', remoteCommand: undefined, env: {}, async stop() {} };
  },
});
