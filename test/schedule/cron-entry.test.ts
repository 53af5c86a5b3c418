import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { tempDir } from '../support/temp.js';
import {
  MARKER,
  buildEntryLine,
  entryProgram,
  findEntries,
  parseEntry,
  withEntry,
  withoutEntry,
  type EntrySpec,
} from '../../src/schedule/cron-entry.js';

const spec: EntrySpec = {
  expression: '0 */2 * * *',
  nodePath: '/usr/bin/node',
  cliPath: '/opt/resonance sync/dist/src/cli/main.js',
  configPath: "/home/o'neil/100% notes/config.toml",
  logPath: '/home/x/.local/state/resonance-sync/sync.log',
  pathEnv: '/usr/local/bin:/usr/bin:/bin',
  env: { RESONANCE_SYNC_SSH: 'ssh -F /home/x/ssh config' },
};

const FOREIGN = [
  'MAILTO=""',
  '# nightly backup',
  '30 3 * * * /usr/local/bin/backup --at 50% > /dev/null 2>&1',
  '',
  '@reboot /usr/bin/true # resonance-sync is great',
];

test('the line: cron fields, every word quoted, % escaped for cron, the marker last', () => {
  const line = buildEntryLine(spec);
  assert.ok(line.startsWith('0 */2 * * * PATH='));
  assert.ok(line.includes(' sync --quiet --config '));
  assert.ok(line.includes(" >> '/home/x/.local/state/resonance-sync/sync.log' 2>&1 "));
  assert.ok(line.endsWith(`${MARKER} config=/home/o'neil/100\\% notes/config.toml`));
  assert.ok(!/[^\\]%/.test(line), 'every % is escaped, or cron would cut the command there');
  const parsed = parseEntry(line);
  assert.equal(parsed?.configPath, spec.configPath);
  assert.equal(parsed?.expression, spec.expression);
  assert.ok(parsed);
  assert.deepEqual(entryProgram(parsed), { nodePath: spec.nodePath, cliPath: spec.cliPath, logPath: spec.logPath });
});

test('the command part is what /bin/sh runs: the quoting survives a real shell', (t) => {
  const log = join(tempDir(t), "it's 100% a log");
  const line = buildEntryLine({ ...spec, nodePath: '/bin/echo', logPath: log });
  // What cron hands to sh: after the five fields, with \% turned back into %.
  const command = line.split(' ').slice(5).join(' ').replaceAll('\\%', '%');
  execFileSync('/bin/sh', ['-c', command]);
  assert.equal(readFileSync(log, 'utf8'), `${spec.cliPath} sync --quiet --config ${spec.configPath}\n`);
});

test('paths a crontab line cannot hold are refused', () => {
  assert.throws(() => buildEntryLine({ ...spec, configPath: '/a\nb' }), /newline/);
});

test('install keeps every foreign line byte for byte, replaces in place, and is idempotent', () => {
  const line = buildEntryLine(spec);
  const before = `${FOREIGN.join('\n')}\n`;
  const first = withEntry(before, spec.configPath, line);
  assert.ok(first.changed);
  assert.equal(first.text, `${before}${line}\n`);
  assert.deepEqual(withEntry(first.text, spec.configPath, line), { text: first.text, changed: false });
  const moved = `${line}\n${before}`;
  const updated = withEntry(moved, spec.configPath, buildEntryLine({ ...spec, expression: '*/30 * * * *' }));
  assert.equal(updated.text.split('\n').slice(1).join('\n'), before, 'replaced where it was');
  assert.equal(findEntries(updated.text).length, 1);
  assert.equal(findEntries(updated.text)[0]?.expression, '*/30 * * * *');
  const removed = withoutEntry(updated.text, spec.configPath);
  assert.equal(removed.text, before);
  assert.equal(removed.removed, 1);
  assert.deepEqual(withoutEntry(before, spec.configPath), { text: before, changed: false, removed: 0 });
});

test('entries for other configs, commented-out entries and duplicates', () => {
  const mine = buildEntryLine(spec);
  const other = buildEntryLine({ ...spec, configPath: '/other/config.toml' });
  const text = `# ${mine}\n${other}\n${mine}\n${mine}\n`;
  assert.deepEqual(
    findEntries(text).map((e) => e.configPath),
    ['/other/config.toml', spec.configPath, spec.configPath],
  );
  const installed = withEntry(text, spec.configPath, mine);
  assert.equal(
    installed.text,
    `# ${mine}\n${other}\n${mine}\n`,
    'duplicates collapse into one; the commented copy and the other config stay',
  );
  assert.equal(withoutEntry(text, spec.configPath).text, `# ${mine}\n${other}\n`);
});

test('a crontab without a final newline gets one (cron may ignore a last line without)', () => {
  assert.equal(withEntry('MAILTO=x', spec.configPath, 'L # resonance-sync config=/c').text, 'MAILTO=x\nL # resonance-sync config=/c\n');
  assert.equal(withoutEntry('', '/c').text, '');
});

test('property: install then remove gives back the foreign lines exactly', () => {
  const foreignLine = fc.string({ unit: fc.constantFrom('a', ' ', '#', '*', '%', '/', "'", '"', '\\', '=', '0', 'é'), maxLength: 30 });
  fc.assert(
    fc.property(fc.array(foreignLine, { maxLength: 8 }), fc.boolean(), (lines, trailingNewline) => {
      const text = lines.length === 0 ? '' : `${lines.join('\n')}${trailingNewline ? '\n' : ''}`;
      // Every line ends in a newline afterwards; an empty crontab stays empty.
      const normal = text === '' || text.endsWith('\n') ? text : `${text}\n`;
      const installed = withEntry(text, spec.configPath, buildEntryLine(spec)).text;
      assert.equal(findEntries(installed).filter((e) => e.configPath === spec.configPath).length, 1);
      assert.equal(withoutEntry(installed, spec.configPath).text, normal);
    }),
  );
});
