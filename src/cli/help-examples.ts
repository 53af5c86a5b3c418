/**
 * One or two worked examples at the end of every command's --help: a newcomer learns a command
 * from an example faster than from its option list. Keyed by the command's path ("peer add").
 */
import type { Command } from 'commander';

const EXAMPLES: Record<string, string[]> = {
  init: [
    'resonance-sync init --db ~/resonance/resonance.sqlite3 --node main_device',
    'resonance-sync init --db ./new.sqlite3 --node laptop --create',
    'resonance-sync init --build-index   # a database over 128 MB without an index on timestamp, at a quiet moment',
  ],
  sync: [
    'resonance-sync sync                       # every enabled peer',
    'resonance-sync sync selesta --dry-run     # what would flow, writing nothing',
    'resonance-sync sync /media/usb/resonance.sqlite3 --pull-only --json',
  ],
  status: ['resonance-sync status', 'resonance-sync status --json'],
  peer: ['resonance-sync peer add selesta ssh://u0_a311@192.168.1.20:8022/~/selesta/resonance.sqlite3', 'resonance-sync peer list'],
  'peer add': [
    "resonance-sync peer add selesta ssh://u0_a311@192.168.1.20:8022/~/selesta/resonance.sqlite3 --push-context 'leo_*'",
    'resonance-sync peer add selesta ssh://u0_a311@192.168.1.20:8022/~/r.sqlite3 ssh://u0_a311@selesta.tailnet:8022/~/r.sqlite3',
  ],
  'peer set': [
    'resonance-sync peer set selesta --url ssh://u0_a311@192.168.1.20:8022/~/r.sqlite3 --url ssh://u0_a311@selesta.tailnet:8022/~/r.sqlite3',
    "resonance-sync peer set selesta --mode sqlite3 --pull-context 'maternal*' --pull-context 'config*'",
  ],
  'peer list': ['resonance-sync peer list --json'],
  'peer remove': ['resonance-sync peer remove selesta'],
  demo: ['resonance-sync demo ./resonance-demo'],
  verify: ['resonance-sync verify selesta', 'resonance-sync verify selesta --repair'],
  serve: ['ssh phone resonance-sync serve --stdio --db ~/selesta/resonance.sqlite3   # run by ssh during a sync, not by hand'],
  authorize: ['resonance-sync authorize --db ~/selesta/resonance.sqlite3 --key ~/.ssh/id_ed25519.pub >> ~/.ssh/authorized_keys'],
  schedule: ['resonance-sync schedule install --every 2h', 'resonance-sync schedule status'],
  'schedule install': ['resonance-sync schedule install --every 2h', 'resonance-sync schedule install --every 30m --log ~/sync.log'],
  'schedule status': ['resonance-sync schedule status --json'],
  'schedule remove': ['resonance-sync schedule remove'],
  daemon: ['resonance-sync daemon --every 2h'],
  doctor: ['resonance-sync doctor', 'resonance-sync doctor selesta'],
  log: ['resonance-sync log --limit 20', 'resonance-sync log --peer selesta --json'],
  rotate: ['resonance-sync rotate --schema ~/resonance/init_resonance.sql', 'resonance-sync rotate --force --keep 5'],
  adopt: ['resonance-sync adopt --continue', 'resonance-sync adopt selesta --refill'],
  agent: ['resonance-sync agent status selesta', 'resonance-sync agent install selesta'],
  'agent install': ['resonance-sync agent install selesta   # before a trip: the first sync then uploads nothing'],
  'agent status': ['resonance-sync agent status selesta --json'],
  'agent remove': ['resonance-sync agent remove selesta   # only what this installation uploaded; never your own install'],
  pair: [
    'resonance-sync pair --show                      # on the phone: a token and a QR code',
    'resonance-sync pair rspair1:… --name selesta   # on the desktop',
  ],
  ui: ['resonance-sync ui', 'resonance-sync ui --port 8765'],
  mcp: [
    'resonance-sync mcp                # an MCP host starts it: {"command": "resonance-sync", "args": ["mcp"]}',
    'resonance-sync mcp --read-only',
  ],
};

/** Adds the examples to every command (and subcommand) that has some. */
export function addHelpExamples(program: Command, prefix = ''): void {
  for (const command of program.commands) {
    const path = `${prefix}${command.name()}`;
    const examples = EXAMPLES[path];
    if (examples) command.addHelpText('after', `\nExamples:\n${examples.map((line) => `  ${line}`).join('\n')}`);
    addHelpExamples(command, `${path} `);
  }
}

/** The command paths that have examples (tests check every command has some). */
export const COMMANDS_WITH_EXAMPLES = Object.keys(EXAMPLES);
