import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { NO_SCHEDULER_EXIT } from '../../src/schedule/crontab-program.js';
import { fakeCrontab, throwawayCrontabUser } from '../fixtures/unattended-support.js';
import { runCli } from '../support/cli.js';
import { allRows, createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

const FOREIGN =
  'MAILTO=""\n# backups, by hand\n30 3 * * * /usr/bin/backup --at 50\\% >/dev/null 2>&1\n\n@reboot /bin/true # resonance-sync is mentioned here too\n';

async function setUp(dir: string) {
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone', 'a');
  insertNotes(main, [{ timestamp: '2025-11-30 22:00:00', content: 'from main', context: 'c', source: 's' }]);
  const config = join(dir, 'config.toml');
  assert.equal((await runCli(['init', '--db', main, '--node', 'main_device', '--config', config])).code, 0);
  assert.equal((await runCli(['peer', 'add', 'phone', phone, '--config', config])).code, 0);
  return { main, phone, config };
}

test("schedule install/status/remove against a real crontab keep the user's other lines byte for byte", async (t) => {
  const user = throwawayCrontabUser(t);
  if (user === undefined) return;
  const dir = tempDir(t);
  const { config } = await setUp(dir);
  const env = { RESONANCE_SYNC_CRONTAB: `crontab -u ${user}`, XDG_STATE_HOME: join(dir, 'state') };
  execFileSync('crontab', ['-u', user, '-'], { input: FOREIGN });
  const read = () => execFileSync('crontab', ['-u', user, '-l'], { encoding: 'utf8' });
  assert.equal(read(), FOREIGN);

  const none = await runCli(['schedule', 'status', '--config', config], { env });
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /^not installed for .*config\.toml; add it with: resonance-sync schedule install/);

  const install = await runCli(['schedule', 'install', '--config', config], { env });
  assert.equal(install.code, 0, install.stderr);
  assert.match(install.stdout, /^installed: sync every 2h \(0 \*\/2 \* \* \*\)/);
  const installed = read();
  assert.ok(installed.startsWith(FOREIGN), 'the foreign lines come first, unchanged');
  const line = installed.slice(FOREIGN.length).trimEnd();
  assert.ok(!line.includes('\n'), 'one line added');
  assert.match(line, /^0 \*\/2 \* \* \* PATH='[^']+' /);
  assert.ok(line.includes(` '${process.execPath}' `));
  assert.ok(
    line.includes(
      ` sync --quiet --config '${config}' >> '${join(dir, 'state', 'resonance-sync', 'sync.log')}' 2>&1 # resonance-sync config=${config}`,
    ),
  );
  assert.ok(existsSync(join(dir, 'state', 'resonance-sync')), "the log folder exists: cron's >> cannot create it");

  const again = await runCli(['schedule', 'install', '--config', config], { env });
  assert.match(again.stdout, /^already installed, unchanged/);
  assert.equal(read(), installed, 'idempotent');

  const every30 = await runCli(['schedule', 'install', '--every', '30m', '--config', config], { env });
  assert.equal(every30.code, 0, every30.stderr);
  const replaced = read();
  assert.ok(replaced.startsWith(FOREIGN));
  assert.equal(replaced.split('\n').filter((l) => l.includes('# resonance-sync config=')).length, 1);
  assert.match(replaced, /\n\*\/30 \* \* \* \* PATH=/);

  const status = await runCli(['schedule', 'status', '--config', config], { env });
  assert.match(status.stdout, /^installed: sync every 30m \(\*\/30 \* \* \* \*\)/);
  assert.match(status.stdout, /output: .*sync\.log \(not written yet\)/);
  assert.match(status.stdout, /cron daemon: /);
  const json = JSON.parse((await runCli(['schedule', 'status', '--json', '--config', config], { env })).stdout);
  assert.equal(json.installed, true);
  assert.equal(json.every, '30m');
  assert.equal(json.logPath, join(dir, 'state', 'resonance-sync', 'sync.log'));
  assert.deepEqual(json.missing, []);

  const remove = await runCli(['schedule', 'remove', '--config', config], { env });
  assert.equal(remove.code, 0, remove.stderr);
  assert.match(remove.stdout, /^removed the entry/);
  assert.equal(read(), FOREIGN, "exactly the user's crontab again");
  const twice = await runCli(['schedule', 'remove', '--config', config], { env });
  assert.equal(twice.code, 0);
  assert.match(twice.stdout, /nothing to remove/);
});

test('the installed line, run as cron runs it (empty environment, /bin/sh), syncs and logs only errors', async (t) => {
  const user = throwawayCrontabUser(t);
  if (user === undefined) return;
  const dir = tempDir(t);
  const { phone, config } = await setUp(dir);
  const env = { RESONANCE_SYNC_CRONTAB: `crontab -u ${user}`, XDG_STATE_HOME: join(dir, 'state') };
  assert.equal((await runCli(['schedule', 'install', '--every', '1h', '--config', config], { env })).code, 0);
  const line = execFileSync('crontab', ['-u', user, '-l'], { encoding: 'utf8' }).trimEnd();
  // What cron does: the command after the five fields, % unescaped, through /bin/sh with almost no environment.
  const command = line.split(' ').slice(5).join(' ').replaceAll('\\%', '%');
  const cron = (cmd: string) =>
    spawnSync('/usr/bin/env', ['-i', `HOME=${dir}`, 'LOGNAME=root', 'SHELL=/bin/sh', '/bin/sh', '-c', cmd]).status;
  assert.equal(cron(command), 0);
  assert.ok(
    allRows(phone).some((row) => row.content === 'from main'),
    'the scheduled run synced',
  );
  const log = join(dir, 'state', 'resonance-sync', 'sync.log');
  assert.equal(readFileSync(log, 'utf8'), '', 'a quiet success writes nothing');
  renameSync(phone, `${phone}.away`);
  assert.equal(cron(command), 4);
  assert.match(
    readFileSync(log, 'utf8'),
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ resonance-sync: phone: database not found: .*\[DB_NOT_FOUND\]\n$/,
  );
});

const BIN = fileURLToPath(new URL('../../../bin/resonance-sync.mjs', import.meta.url));
const SINGLE_FILE = fileURLToPath(new URL('../../../dist/resonance-sync.mjs', import.meta.url));

test('installed by the installed command, or by the single file alone, the entry runs a file that exists, and that run syncs', async (t) => {
  if (!existsSync(SINGLE_FILE)) {
    if (process.env.CI) throw new Error(`${SINGLE_FILE} is missing; npm test builds it (npm run build:dist)`);
    t.skip('the single files are not built (npm run build:dist)');
    return;
  }
  const dir = tempDir(t);
  const { main, phone, config } = await setUp(dir);
  const table = join(dir, 'crontab.txt');
  const env = { ...process.env, RESONANCE_SYNC_CRONTAB: fakeCrontab(dir, table), XDG_STATE_HOME: join(dir, 'state') };
  // A copy of the single file on its own, as a phone may have it: no package around it.
  const alone = join(dir, 'lone', 'resonance-sync.mjs');
  mkdirSync(dirname(alone));
  copyFileSync(SINGLE_FILE, alone);
  for (const [program, expected] of [
    [BIN, BIN],
    [SINGLE_FILE, BIN],
    [alone, alone],
  ] as const) {
    rmSync(table, { force: true });
    const installed = spawnSync(process.execPath, [program, 'schedule', 'install', '--config', config], { env, encoding: 'utf8' });
    assert.equal(installed.status, 0, installed.stderr);
    const line = readFileSync(table, 'utf8').trimEnd();
    const command = line.split(' ').slice(5).join(' ').replaceAll('\\%', '%');
    assert.ok(command.includes(` '${process.execPath}' '${expected}' sync --quiet `), `${program}: ${command}`);
    // A lone copy has no better-sqlite3 beside it: it runs where Node has node:sqlite (a phone's).
    if (program === alone) continue;
    const note = `from main, scheduled by ${program}`;
    insertNotes(main, [{ timestamp: '2025-12-01 08:00:00', content: note, context: 'c', source: 's' }]);
    // Run as cron runs it: /bin/sh, almost no environment.
    const ran = spawnSync('/usr/bin/env', ['-i', `HOME=${dir}`, 'LOGNAME=root', 'SHELL=/bin/sh', '/bin/sh', '-c', command]);
    assert.equal(ran.status, 0, `${program}: ${readFileSync(join(dir, 'state', 'resonance-sync', 'sync.log'), 'utf8')}`);
    assert.ok(
      allRows(phone).some((row) => row.content === note),
      `${program}: the scheduled run synced`,
    );
  }
});

test('no crontab program: one line saying what to install, exit code 9; Termux gets the Termux recipe', async (t) => {
  const dir = tempDir(t);
  const { config } = await setUp(dir);
  const env = { RESONANCE_SYNC_CRONTAB: join(dir, 'no-such-crontab') };
  for (const args of [['install'], ['status'], ['remove']]) {
    const result = await runCli(['schedule', ...args, '--config', config], { env });
    assert.equal(result.code, NO_SCHEDULER_EXIT, `${args[0]}: ${result.stderr}`);
    assert.equal(result.stderr.trim().split('\n').length, 1);
    assert.match(
      result.stderr,
      /^resonance-sync: there is no crontab program here .*install cron .*resonance-sync daemon.*\[NO_SCHEDULER\]\n$/,
    );
  }
  const termux = await runCli(['schedule', 'install', '--config', config], {
    env: { ...env, PREFIX: '/data/data/com.termux/files/usr', TERMUX_VERSION: '0.118.1' },
  });
  assert.equal(termux.code, NO_SCHEDULER_EXIT);
  assert.equal(termux.stderr.trim().split('\n').length, 1);
  for (const piece of [
    'pkg install cronie termux-services',
    'sv-enable crond',
    'Termux:Boot',
    'termux-wake-lock',
    'resonance-sync daemon',
  ]) {
    assert.ok(termux.stderr.includes(piece), `mentions ${piece}: ${termux.stderr}`);
  }
});

test('schedule install refuses what cron cannot run, and a config it cannot use, writing nothing', async (t) => {
  const dir = tempDir(t);
  const { config } = await setUp(dir);
  const file = join(dir, 'crontab.txt');
  writeFileSync(file, FOREIGN);
  const env = { RESONANCE_SYNC_CRONTAB: fakeCrontab(dir, file), XDG_STATE_HOME: join(dir, 'state') };
  const uneven = await runCli(['schedule', 'install', '--every', '45m', '--config', config], { env });
  assert.equal(uneven.code, 2);
  assert.match(uneven.stderr, /cron cannot run something every 45m evenly; use one of .*2h.*resonance-sync daemon --every 45m.*\[USAGE\]/);
  const absent = await runCli(['schedule', 'install', '--config', join(dir, 'absent.toml')], { env });
  assert.equal(absent.code, 3);
  assert.match(absent.stderr, /does not exist; create it with `resonance-sync init`/);
  const noDb = join(dir, 'nodb.toml');
  writeFileSync(noDb, '[node]\nname = "x"\n');
  const withoutDb = await runCli(['schedule', 'install', '--config', noDb], { env });
  assert.equal(withoutDb.code, 3);
  assert.match(withoutDb.stderr, /\[NO_DATABASE\]/);
  assert.equal(readFileSync(file, 'utf8'), FOREIGN);
  const ok = await runCli(['schedule', 'install', '--every', '1d', '--config', config], { env });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(readFileSync(file, 'utf8'), /^MAILTO=""\n[\s\S]*\n0 0 \* \* \* PATH=/);
});
