/** The contract suite over ssh in agent mode (resonance-sync serve --stdio on the remote), through a real sshd. */
import { requireSshdOrSkip, startSshd } from '../support/sshd.js';
import { agentCommand, sshUrl } from '../ssh/fixtures.js';
import { replicaContract } from './replica-contract.js';

replicaContract({
  name: 'ssh agent',
  receivesDirect: false,
  async start(t) {
    if (!requireSshdOrSkip(t)) return undefined;
    const server = await startSshd();
    return {
      url: (path: string) => sshUrl(server, path),
      mode: 'agent',
      remoteCommand: agentCommand(),
      env: server.env,
      stop: () => server.stop(),
    };
  },
});
