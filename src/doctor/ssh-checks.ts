/**
 * Doctor checks on an ssh peer, from one login (remote-probe.ts) but reported as one line each: can
 * we log in (and run commands at all: a forced command in authorized_keys allows only the agent), is
 * the agent (or sqlite3) there, does the database file hold resonance_notes, and how far apart the
 * two clocks are. Sync order never depends on clocks, but agents stamp notes with their device's
 * time, so a phone hours off writes notes that read as hours off.
 */
import type { PeerConfig } from '../config/schema.js';
import { SyncError } from '../core/errors.js';
import { packageVersion } from '../core/version.js';
import {
  DEFAULT_REMOTE_COMMAND,
  destinationOf,
  serveArgs,
  sshFailure,
  telltaleLine,
  type SshLocation,
} from '../transport/ssh/ssh-command.js';
import { agentBundle } from '../transport/agent/agent-bundle.js';
import { launcherScript, parseLauncherOutput } from '../transport/agent/launcher.js';
import { fail, failFrom, ok, skip, warn, type CheckResult } from './check.js';
import { lastLine, runRemote, type RemoteResult } from './remote-exec.js';
import { parseProbe, probeScript, type ProbeAnswer } from './remote-probe.js';

/** Beyond this the skew is worth fixing; below it, ssh round trips and second rounding dominate. */
const SKEW_WARN_SECONDS = 60;

export async function checkSshPeer(
  peer: PeerConfig,
  location: SshLocation,
  env: NodeJS.ProcessEnv,
  agentUpload?: boolean,
): Promise<CheckResult[]> {
  const name = peer.name;
  const where = destinationOf(location);
  const remoteCommand = peer.remoteCommand ?? DEFAULT_REMOTE_COMMAND;
  const launcher = peer.remoteCommand === undefined ? launcherStatusScript(location, uploadAllowed(peer, agentUpload)) : undefined;
  const result = await runRemote(location, probeScript(location, remoteCommand, peer.sqlite3Command, launcher), env);
  if (result.code === 255 || result.spawnError) {
    const error = sshFailure(result, { location, started: false, junk: '', remoteCommand: peer.remoteCommand });
    // The transport's message ends "; skipped" (meaning the sync); the doctor only reports.
    return [
      failFrom('ssh', new SyncError(error.code, error.message.replace(/; skipped$/, '')), name),
      skip('remote checks', 'skipped: no ssh login', name),
    ];
  }
  const answers = parseProbe(result.stdout);
  const seconds = ((result.endedAt - result.startedAt) / 1000).toFixed(1);
  if (!answers) {
    if (result.code !== 0 && result.stdout.trim() === '')
      return [failFrom('ssh', loginButFailed(where, result), name), skip('remote checks', 'skipped', name)];
    return [
      ok('ssh', `logged in to ${where} (${seconds}s)`, name),
      skip('remote checks', 'skipped: this key runs a forced command (authorized_keys command=...), so no other command can run', name),
    ];
  }
  return [
    ok('ssh', `logged in to ${where} (${seconds}s for all checks)`, name),
    modeCheck(
      peer,
      agentOf(answers.get('agent'), remoteCommand, answers.get('launcher'), uploadAllowed(peer, agentUpload)),
      sqliteOf(answers.get('sqlite3')),
    ),
    databaseCheck(peer, location, answers),
    clockCheck(name, answers.get('date'), result),
  ];
}

function loginButFailed(where: string, result: RemoteResult): SyncError {
  return new SyncError(
    'REMOTE_ERROR',
    `ssh logged in to ${where} but could not run sh (exit ${result.code}: ${telltaleLine(result.stderr) || 'no message'}); check the login shell and its startup files`,
  );
}

interface Tool {
  present: boolean;
  version: string | undefined;
  detail: string;
}

function uploadAllowed(peer: PeerConfig, agentUpload: boolean | undefined): boolean {
  return peer.agentUpload ?? agentUpload ?? true;
}

/** The launcher's status action, or undefined when this installation has no single file to offer. */
function launcherStatusScript(location: SshLocation, upload: boolean): string | undefined {
  try {
    const bundle = agentBundle();
    return launcherScript({
      action: 'status',
      serveArgs: serveArgs(location),
      useInstalled: false,
      upload,
      sha256: bundle.sha256,
      cacheName: bundle.cacheName,
      size: bundle.bytes.length,
      helloBytes: 0,
    });
  } catch {
    return undefined;
  }
}

function agentOf(answer: ProbeAnswer | undefined, remoteCommand: string, launcher: ProbeAnswer | undefined, upload: boolean): Tool {
  if (answer?.status === '0') {
    const version = lastLine(answer.text);
    return { present: true, version, detail: `resonance-sync ${version} (your install)` };
  }
  if (launcher) {
    const events = parseLauncherOutput(launcher.text);
    const said = (name: string) => events.find((e) => e.event === name)?.detail;
    const version = packageVersion();
    const cached = said('cached');
    if (cached !== undefined) return { present: true, version, detail: `resonance-sync ${version} uploaded at ${cached}` };
    const node = said('node');
    if (node !== undefined && upload)
      return { present: true, version, detail: `none yet: the first sync uploads resonance-sync ${version} (node ${node} there)` };
    const why = said('unavailable') ?? (upload ? 'no answer' : 'agent_upload = false');
    return { present: false, version: undefined, detail: `${remoteCommand}: not found, and none can be uploaded (${why})` };
  }
  if (answer?.status === 'serve') return { present: true, version: undefined, detail: 'resonance-sync (version not reported)' };
  if (answer?.status === '126' || answer?.status === '127')
    return { present: false, version: undefined, detail: `${remoteCommand}: not found` };
  return {
    present: false,
    version: undefined,
    detail: `${remoteCommand} has no serve command (too old?): ${lastLine(answer?.text ?? '')}`,
  };
}

function sqliteOf(answer: ProbeAnswer | undefined): Tool {
  if (answer?.status !== '0') return { present: false, version: undefined, detail: 'not found' };
  const version = lastLine(answer.text).split(/\s+/)[0];
  return { present: true, version, detail: version ?? 'present' };
}

function modeCheck(peer: PeerConfig, agent: Tool, sqlite: Tool): CheckResult {
  const local = packageVersion();
  const agentText = agent.present
    ? `agent ${agent.detail}${agent.version && agent.version !== local ? ` (this machine: ${local})` : ''}`
    : `no agent (${agent.detail})`;
  const detail = `mode ${peer.mode}: ${agentText}; sqlite3 ${sqlite.detail}`;
  if (peer.mode === 'sqlite3') {
    return sqlite.present
      ? ok('remote mode', detail, peer.name)
      : fail(
          'remote mode',
          detail,
          'install the sqlite3 command there (Termux: pkg install sqlite; Debian: apt-get install sqlite3)',
          'REMOTE_ERROR',
          peer.name,
        );
  }
  if (agent.present) return ok('remote mode', detail, peer.name);
  // auto without the agent syncs agentless over sqlite3: healthy; the agent is only faster.
  if (peer.mode === 'auto' && sqlite.present)
    return ok('remote mode', `${detail}; syncs agentless (sqlite3); the agent would be faster (README, Install)`, peer.name);
  return fail(
    'remote mode',
    detail,
    peer.remoteCommand === undefined
      ? 'install Node >= 22.16 there (Termux: pkg install nodejs-lts) and the first sync uploads its own agent (agent_upload, on by default), or install resonance-sync there'
      : 'check remote_command for this peer (the full path of resonance-sync there), or remove it: with Node >= 22.16 there, the sync uploads its own agent',
    'AGENT_MISSING',
    peer.name,
  );
}

function databaseCheck(peer: PeerConfig, location: SshLocation, answers: Map<string, ProbeAnswer>): CheckResult {
  const shown = location.homeRelative ? `~/${location.path}` : location.path;
  if (answers.get('file')?.status !== '0') {
    return fail(
      'remote database',
      `no file ${shown} on ${destinationOf(location)}`,
      'check the peer URL (resonance-sync peer list), or create the database there (resonance-sync init --create --db PATH)',
      'DB_NOT_FOUND',
      peer.name,
    );
  }
  const table = answers.get('table');
  if (!table) return ok('remote database', `${shown} exists (its table is checked when a sync connects: no sqlite3 there)`, peer.name);
  if (table.status === '0' && lastLine(table.text) === '1') return ok('remote database', `${shown} has resonance_notes`, peer.name);
  if (table.status === '0')
    return fail(
      'remote database',
      `${shown} has no resonance_notes table`,
      'check the peer URL: is this the right database?',
      'DB_NO_NOTES_TABLE',
      peer.name,
    );
  const said = lastLine(table.text);
  if (/locked|busy/i.test(said)) return warn('remote database', `${shown} is locked right now (${said})`, undefined, peer.name);
  const code = /not a database|file is encrypted/i.test(said) ? 'DB_NOT_SQLITE' : 'DB_ERROR';
  return fail(
    'remote database',
    `${shown}: ${said || `sqlite3 exit code ${table.status}`}`,
    'check the peer URL and the file',
    code,
    peer.name,
  );
}

function clockCheck(name: string, answer: ProbeAnswer | undefined, result: RemoteResult): CheckResult {
  const remote = Number(answer?.status);
  if (!answer || !Number.isInteger(remote))
    return warn('clock skew', `could not read the remote clock (${answer?.status ?? 'no answer'})`, undefined, name);
  // `date` ran last, just before ssh exited: compare with our clock then, allowing for the trip back.
  const skew = Math.round(remote - result.endedAt / 1000);
  if (Math.abs(skew) <= SKEW_WARN_SECONDS + 2) return ok('clock skew', `${Math.abs(skew)}s (within ${SKEW_WARN_SECONDS}s)`, name);
  return warn(
    'clock skew',
    `the remote clock is ${describeSkew(Math.abs(skew))} ${skew > 0 ? 'ahead of' : 'behind'} this one (sync order does not depend on clocks, but notes its agents stamp will be off by as much)`,
    'turn on automatic date and time (network time) on the device',
    name,
  );
}

function describeSkew(seconds: number): string {
  if (seconds >= 3600) {
    const minutes = Math.round(seconds / 60);
    return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
  }
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m ${seconds % 60}s` : `${seconds}s`;
}
