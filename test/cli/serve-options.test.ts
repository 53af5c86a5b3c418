/**
 * `serve` reads its usual command line without commander (the agent's start-up, cli/main.ts): every
 * line it reads itself must mean exactly what commander makes of it, and every other line is left to
 * commander. Checked against commander itself, with the program's global options as main.ts has them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import fc from 'fast-check';
import { plainServeOptions, registerServe, type ServeOptions } from '../../src/cli/commands/serve.js';

/** What commander hands the serve action for `argv`, or undefined where it refuses the line. */
function commanderOptions(argv: string[]): Record<string, unknown> | undefined {
  const program = new Command('resonance-sync')
    .option('--config <file>')
    .option('-v, --verbose')
    .option('-q, --quiet')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerServe(program, () => undefined);
  let seen: Record<string, unknown> | undefined;
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
    command.action((_options: unknown, self: Command) => {
      seen = self.optsWithGlobals();
    });
  }
  try {
    program.parse(argv, { from: 'user' });
  } catch {
    return undefined;
  }
  return seen;
}

/** Without the keys commander leaves undefined. */
function defined(options: ServeOptions | Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

test('the command lines ssh and authorize run are read without commander, as commander reads them', () => {
  const lines = [
    ['serve', '--stdio', '--db', '/home/u/r.sqlite3'],
    ['serve', '--stdio', '--db', '~/selesta/resonance.sqlite3'],
    ['serve', '--stdio', '--allow-db', '/data/r.sqlite3', '--read-only'],
    ['--config', '/c.toml', '-v', 'serve', '--stdio', '--db', 'x', '--name', 'phone'],
  ];
  for (const argv of lines) {
    const plain = plainServeOptions(argv);
    assert.ok(plain, argv.join(' '));
    assert.deepEqual(defined(plain), commanderOptions(argv), argv.join(' '));
  }
});

test('anything but the plain form is left to commander', () => {
  for (const argv of [
    ['serve', '--db=/x', '--stdio'],
    ['serve', '--stdio', '--db', '/a', '--db', '/b'],
    ['serve', '--stdio', '--db'],
    ['serve', '--stdio', '--db', '-x'],
    ['serve', '--help'],
    ['serve', '--stdio', 'extra'],
    ['serve', '--stdio', '-v'],
    ['--config=/c', 'serve', '--stdio'],
    ['sync'],
  ]) {
    assert.equal(plainServeOptions(argv), undefined, argv.join(' '));
  }
});

test('property: a line read without commander means what commander makes of it', () => {
  const word = fc.constantFrom(
    'serve',
    '--stdio',
    '--read-only',
    '--db',
    '--allow-db',
    '--name',
    '--config',
    '-v',
    '-q',
    '--verbose',
    '--quiet',
    '--db=/y',
    '/x.sqlite3',
    '~/r.sqlite3',
    'phone',
    '',
    '-x',
    '--',
    '-h',
  );
  fc.assert(
    fc.property(fc.array(word, { maxLength: 9 }), (argv) => {
      const plain = plainServeOptions(argv);
      if (plain === undefined) return;
      assert.deepEqual(defined(plain), commanderOptions(argv));
    }),
    { numRuns: 3000 },
  );
});
