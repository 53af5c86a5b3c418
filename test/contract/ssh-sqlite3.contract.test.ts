/**
 * The contract suite over the agentless transport: a real sshd on 127.0.0.1 and the real sqlite3
 * CLI on the "remote" (this machine's; RESONANCE_TEST_SQLITE3 names another build), peers named by
 * ssh:// URLs with mode = "sqlite3", reached through RESONANCE_SYNC_SSH.
 */
import { replicaContract } from './replica-contract.js';
import { TEST_SQLITE3, sqliteUrl, sshdFor } from '../ssh/sqlite-cli-support.js';

replicaContract({
  name: 'ssh sqlite3',
  receivesDirect: false,
  async start(t) {
    const server = await sshdFor(t);
    if (!server) return undefined;
    return {
      url: (path: string) => sqliteUrl(server, path),
      mode: 'sqlite3',
      remoteCommand: TEST_SQLITE3,
      env: server.env,
      async stop() {},
    };
  },
});
