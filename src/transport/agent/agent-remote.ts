/**
 * `agent install|status|remove` on one ssh peer: the same launcher script (launcher.ts) the sync runs,
 * with another action, in one ssh login. install uploads the single file exactly as a first sync does
 * (and only if the remote's cache lacks it); status reports the remote Node, the user's own install,
 * and the cached agents; remove deletes only the agents this program uploaded, never the user's own.
 */
import { SyncError } from '../../core/errors.js';
import { destinationOf, serveArgs, sshArgv, sshFailure, stderrTail, type SshLocation } from '../ssh/ssh-command.js';
import { SshProcess } from '../ssh/ssh-process.js';
import { agentBundle } from './agent-bundle.js';
import { launcherUnavailable } from './agent-source.js';
import { launcherScript, type LauncherAction, type LauncherEvent } from './launcher.js';
import { LauncherGate } from './launcher-gate.js';

export interface AgentRemoteResult {
  destination: string;
  events: LauncherEvent[];
  /** Bytes of the single file sent (install only; 0 when the remote had it). */
  uploadedBytes: number;
}

export async function runAgentAction(
  location: SshLocation,
  action: Exclude<LauncherAction, 'serve'>,
  options: { agentUpload: boolean; env: NodeJS.ProcessEnv },
): Promise<AgentRemoteResult> {
  const bundle = agentBundle();
  const command = launcherScript({
    action,
    serveArgs: serveArgs(location),
    useInstalled: true,
    upload: options.agentUpload,
    sha256: bundle.sha256,
    cacheName: bundle.cacheName,
    size: bundle.bytes.length,
    helloBytes: 0,
  });
  const process = new SshProcess(sshArgv(location, { remoteCommand: undefined, env: options.env, command }), options.env);
  const events: LauncherEvent[] = [];
  let uploadedBytes = 0;
  const gate = new LauncherGate(process.child.stdout, (event) => {
    events.push(event);
    if (event.event === 'upload') {
      uploadedBytes = bundle.bytes.length;
      process.child.stdin.end(bundle.bytes);
    }
  });
  gate.output.resume(); // anything else it prints (a shell banner) is of no use here
  if (action !== 'install') process.child.stdin.end();
  const outcome = await process.exited;
  const destination = destinationOf(location);
  const unavailable = events.find((e) => e.event === 'unavailable');
  if (unavailable) {
    const space = unavailable.detail.indexOf(' ');
    const [reason, detail] =
      space === -1 ? [unavailable.detail, ''] : [unavailable.detail.slice(0, space), unavailable.detail.slice(space + 1)];
    if (action === 'status') return { destination, events, uploadedBytes };
    throw launcherUnavailable(destination, reason, detail);
  }
  const finished = events.some((e) => e.event === 'ready' || e.event === 'done');
  if (!finished) {
    const error = sshFailure(outcome, { location, started: false, junk: '', remoteCommand: undefined });
    if (outcome.code === 255 || outcome.spawnError) throw error;
    const tail = stderrTail(outcome.stderr);
    throw new SyncError(
      'REMOTE_ERROR',
      `the agent launcher on ${destination} did not finish (exit code ${outcome.code ?? outcome.signal}${tail === '' ? '' : `; stderr: ${tail}`}); a forced command in authorized_keys allows only the agent itself`,
    );
  }
  return { destination, events, uploadedBytes };
}
