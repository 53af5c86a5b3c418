/**
 * Which agent answered on the remote and where it came from, for `sync --json`, `status`, `doctor`
 * and the auto mode's fallback line; and the one-line errors for a launcher that could run none.
 */
import { SyncError } from '../../core/errors.js';
import { MIN_NODE } from './launcher.js';

export type AgentSourceKind =
  /** `remote_command` from the config: the user's own command. */
  | 'configured'
  /** `resonance-sync` on the remote PATH: the user's own install. */
  | 'installed'
  /** The single file this installation uploaded into the remote's cache (now or earlier). */
  | 'uploaded'
  /** sshd ran an authorized_keys forced command instead of what we asked for. */
  | 'forced command';

export interface AgentSource {
  kind: AgentSourceKind;
  /** The remote path (or the configured command); undefined for a forced command. */
  path: string | undefined;
  /** The agent's own version, from its preamble, once it announced itself. */
  version: string | undefined;
  /** True when the single file was sent in this very connection. */
  uploadedNow?: boolean;
}

export function describeAgentSource(source: AgentSource): string {
  const version = source.version === undefined ? '' : ` ${source.version}`;
  switch (source.kind) {
    case 'configured':
      return `agent${version} from remote_command ${source.path ?? ''}`;
    case 'installed':
      return `installed agent${version} at ${source.path ?? 'resonance-sync'}`;
    case 'uploaded':
      return `${source.uploadedNow ? 'just uploaded' : 'uploaded'} agent${version} at ${source.path ?? ''}`;
    case 'forced command':
      return `agent${version} from the key's forced command`;
  }
}

/** The launcher found no agent it could run: always AGENT_MISSING, so the auto mode can fall back. */
export function launcherUnavailable(destination: string, reason: string, detail: string): SyncError {
  const min = `${MIN_NODE.major}.${MIN_NODE.minor}`;
  const noAgent = 'no resonance-sync on its PATH';
  const why: Record<string, string> = {
    'no-node': `${noAgent} and no Node.js to run the agent it would be sent (Termux: pkg install nodejs-lts)`,
    'old-node': `${noAgent}, and its Node ${detail} is older than ${min} (needed for node:sqlite): upgrade Node there`,
    'upload-off': `${noAgent} and agent_upload = false for this peer: install resonance-sync there, or allow the upload`,
    'cannot-write': `${noAgent}, and the agent cannot be uploaded into its cache (${detail}): make the cache writable, or install resonance-sync there`,
    'corrupt-upload': `the agent sent there arrived damaged (${detail}); sync again`,
  };
  return new SyncError('AGENT_MISSING', `${destination} has no agent to run: ${why[reason] ?? `${reason} ${detail}`}`);
}
