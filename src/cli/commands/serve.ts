/**
 * `resonance-sync serve --stdio --db PATH`: the agent end of an ssh sync. The client runs it through
 * ssh and speaks the protocol in src/protocol/ over stdin/stdout until it closes stdin. Not meant to
 * be typed by people; `--allow-db` and `--read-only` are for authorized_keys forced commands.
 */
import { existsSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { expandHome } from '../../core/peer-url.js';
import { SyncError, type ExitCodeValue } from '../../core/errors.js';
import { NODE_NAME_RULE, isNodeName } from '../../core/node-name.js';
import { serveAgent } from '../../protocol/server.js';
import { LocalReplica } from '../../transport/local/local-replica.js';
import { CliContext, type GlobalOptions } from '../context.js';

export interface ServeOptions extends GlobalOptions {
  stdio?: boolean;
  db?: string;
  allowDb?: string;
  readOnly?: boolean;
  name?: string;
}

export function registerServe(program: Command, setExitCode: (code: ExitCodeValue) => void): void {
  program
    .command('serve')
    .description('serve a database to a remote resonance-sync over stdin/stdout (run by ssh; not for interactive use)')
    .option('--stdio', 'speak the agent protocol on stdin/stdout (required)')
    .option('--db <path>', 'the database to serve (~/ is the home directory)')
    .option('--allow-db <path>', 'refuse every database but this one (for a forced command in authorized_keys)')
    .option('--read-only', 'refuse to write: peers may only pull from this database')
    .option('--name <name>', 'node name to give the database if it is prepared for sync now')
    .action(async (_options: unknown, command: Command) => {
      setExitCode(await runServe(command.optsWithGlobals<ServeOptions>()));
    });
}

const SERVE_FLAGS: Partial<Record<string, 'stdio' | 'readOnly'>> = { '--stdio': 'stdio', '--read-only': 'readOnly' };
const SERVE_VALUES: Partial<Record<string, 'db' | 'allowDb' | 'name'>> = { '--db': 'db', '--allow-db': 'allowDb', '--name': 'name' };

/**
 * The options of `serve` read without commander, for the command lines ssh runs on every sync
 * (`serve --stdio --db PATH`, ssh-command.ts) and the forced command `authorize` writes: loading and
 * building commander's commands would cost the agent ~8 % of its start-up. Only the plain form is read
 * here, which commander reads the same way: the program's `--config FILE`, `-v` and `-q` before
 * `serve`, then `--stdio`, `--read-only` and each of `--db`, `--allow-db` and `--name` at most once,
 * with a value that does not start with "-". Anything else (help, `--db=PATH`, an option twice, a
 * stray word) is undefined, and goes through commander as before, errors and all.
 */
export function plainServeOptions(argv: readonly string[]): ServeOptions | undefined {
  const options: ServeOptions = {};
  const value = (at: number) => {
    const next = argv[at + 1];
    return next === undefined || next.startsWith('-') ? undefined : next;
  };
  let at = 0;
  for (; argv[at] !== 'serve'; at++) {
    const arg = argv[at];
    if (arg === undefined) return undefined;
    if (arg === '-v' || arg === '--verbose') options.verbose = true;
    else if (arg === '-q' || arg === '--quiet') options.quiet = true;
    else if (arg === '--config' && options.config === undefined && value(at) !== undefined) options.config = argv[++at];
    else return undefined;
  }
  for (at++; at < argv.length; at++) {
    const arg = argv[at] as string;
    const flag = SERVE_FLAGS[arg];
    const key = SERVE_VALUES[arg];
    if (flag !== undefined) options[flag] = true;
    else if (key !== undefined && options[key] === undefined && value(at) !== undefined) options[key] = argv[++at];
    else return undefined;
  }
  return options;
}

export async function runServe(options: ServeOptions): Promise<ExitCodeValue> {
  if (!options.stdio) throw new SyncError('USAGE', 'serve only speaks the agent protocol on stdin/stdout: pass --stdio');
  if (options.db === undefined && options.allowDb === undefined) throw new SyncError('USAGE', 'serve needs --db PATH (or --allow-db PATH)');
  if (options.name !== undefined && !isNodeName(options.name)) {
    throw new SyncError('USAGE', `--name ${NODE_NAME_RULE}, not ${JSON.stringify(options.name)}`);
  }
  const context = new CliContext(options);
  const exitCode = await serveAgent({
    input: process.stdin,
    output: process.stdout,
    db: options.db,
    allowDb: options.allowDb,
    readOnly: options.readOnly ?? false,
    name: options.name,
    openReplica: (path, served) => LocalReplica.open(path, served),
    // Read lazily, inside the session: a broken config then reaches the client as a typed error.
    nodeSettings: (path) => {
      const node = context.config().node;
      const configured = node.db === undefined ? undefined : resolve(expandHome(node.db));
      const isThisNode = configured !== undefined && existsSync(configured) && realpathSync(configured) === realpathSync(path);
      return { name: isThisNode ? node.name : undefined, naiveTimestamps: node.naiveTimestamps, dedupe: node.dedupe };
    },
  });
  // After a fatal error the client may still hold stdin open; an open stdin would keep us running.
  process.stdin.destroy();
  return exitCode;
}
