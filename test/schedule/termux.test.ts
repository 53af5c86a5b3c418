/**
 * `schedule install|status|remove` on Termux, with recording stand-ins on PATH for what Android and
 * Termux provide (Android itself cannot run here): cronie under termux-services (crontab, sv-enable,
 * sv, termux-wake-lock) when it is there, else termux-job-scheduler. Each stand-in writes its name
 * and arguments to calls.log, so the test sees exactly how it was called.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../support/cli.js';
import { createNotesDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

function stand_in(bin: string, name: string, body: string, calls: string): void {
  const path = join(bin, name);
  writeFileSync(path, `#!/bin/sh\necho "${name} $*" >> '${calls}'\n${body}\n`);
  chmodSync(path, 0o755);
}

async function termux(t: Parameters<typeof tempDir>[0], programs: 'cronie' | 'job-scheduler') {
  const dir = tempDir(t);
  const bin = join(dir, 'usr', 'bin');
  mkdirSync(bin, { recursive: true });
  const calls = join(dir, 'calls.log');
  const crontab = join(dir, 'crontab.txt');
  const pending = join(dir, 'pending.txt');
  if (programs === 'cronie') {
    stand_in(
      bin,
      'crontab',
      `case "$1" in -l) if [ -f '${crontab}' ]; then /bin/cat '${crontab}'; else echo "no crontab for u0_a311" >&2; exit 1; fi ;; -) /bin/cat > '${crontab}' ;; esac`,
      calls,
    );
    stand_in(bin, 'sv-enable', `: > '${pending}'`, calls);
    stand_in(bin, 'sv', `if [ -f '${pending}' ]; then echo "run: crond: (pid 4242) 7s"; else echo "down: crond: 3s"; fi`, calls);
    stand_in(bin, 'termux-wake-lock', '', calls);
  } else {
    stand_in(
      bin,
      'termux-job-scheduler',
      `case "$1" in -p) if [ -f '${pending}' ]; then /bin/cat '${pending}'; fi ;; --cancel) /bin/rm -f '${pending}' ;; *) echo "Pending Job $2: $*" > '${pending}' ;; esac`,
      calls,
    );
  }
  const main = createNotesDb(dir, 'main');
  const config = join(dir, 'config.toml');
  writeFileSync(config, `[node]\nname = "selesta"\ndb = ${JSON.stringify(main)}\n`);
  const env = {
    PATH: bin,
    PREFIX: join(dir, 'usr'),
    TERMUX_VERSION: '0.118.1',
    HOME: dir,
    XDG_STATE_HOME: join(dir, 'state'),
    RESONANCE_SYNC_CRONTAB: '',
  };
  const cli = (args: string[]) => runCli([...args, '--config', config], { env });
  const called = () => (existsSync(calls) ? readFileSync(calls, 'utf8') : '');
  return { dir, config, crontab, cli, called };
}

test('Termux with cronie and termux-services: the crontab entry, sv-enable crond and the wake lock; status says crond runs', async (t) => {
  const { config, crontab, cli, called } = await termux(t, 'cronie');
  const before = await cli(['schedule', 'status']);
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /not installed/);
  assert.match(before.stdout, /scheduler: cronie under termux-services: crond NOT running \(down: crond: 3s\); start it: sv-enable crond/);

  const install = await cli(['schedule', 'install', '--every', '1h']);
  assert.equal(install.code, 0, install.stderr);
  assert.match(
    readFileSync(crontab, 'utf8'),
    new RegExp(`^0 \\* \\* \\* \\* .* sync --quiet --config .* # resonance-sync config=${config}\\n$`),
  );
  assert.match(install.stdout, /crond enabled under termux-services \(sv-enable crond\)/);
  assert.match(install.stdout, /wake lock taken \(termux-wake-lock\)/);
  assert.match(called(), /\ncrontab -l\ncrontab -\nsv-enable crond\ntermux-wake-lock \n$/);

  const status = await cli(['schedule', 'status', '--json']);
  const state = JSON.parse(status.stdout);
  assert.equal(state.installed, true);
  assert.equal(state.scheduler, 'cronie');
  assert.equal(state.schedulerRunning, true);
  assert.equal(state.schedulerDetail, 'run: crond: (pid 4242) 7s');
  assert.match(
    (await cli(['schedule', 'status'])).stdout,
    /scheduler: cronie under termux-services: crond running \(run: crond: \(pid 4242\) 7s\)/,
  );
});

test('Termux with only termux-job-scheduler: a persisted job running the sync script; status says whether it is pending; remove cancels it', async (t) => {
  const { dir, config, cli, called } = await termux(t, 'job-scheduler');
  const install = await cli(['schedule', 'install', '--every', '2h']);
  assert.equal(install.code, 0, install.stderr);
  assert.match(install.stdout, /via termux-job-scheduler \(job \d+\)/);
  const call = called().trim();
  const match = /^termux-job-scheduler --job-id (\d+) --period-ms 7200000 --persisted true --script (\S+)$/.exec(call);
  assert.ok(match, call);
  const script = readFileSync(match[2] as string, 'utf8');
  assert.ok(script.startsWith(`#!${join(dir, 'usr', 'bin', 'sh')}\n`), script);
  assert.match(script, new RegExp(`sync --quiet --config '${config}' >> '${join(dir, 'state', 'resonance-sync', 'sync.log')}' 2>&1\\n$`));

  const state = JSON.parse((await cli(['schedule', 'status', '--json'])).stdout);
  assert.equal(state.installed, true);
  assert.equal(state.scheduler, 'termux-job-scheduler');
  assert.equal(state.schedulerRunning, true);
  assert.equal(state.every, '2h');
  assert.equal(state.logPath, join(dir, 'state', 'resonance-sync', 'sync.log'));
  assert.match((await cli(['schedule', 'status'])).stdout, /scheduler: termux-job-scheduler: job pending \(Pending Job \d+/);

  // Android dropped the job (say, after a reboot without Termux:Boot): status says so.
  const remove = await cli(['schedule', 'remove']);
  assert.equal(remove.code, 0, remove.stderr);
  assert.match(called(), new RegExp(`termux-job-scheduler --cancel --job-id ${match[1]}\\n$`));
  assert.ok(!existsSync(match[2] as string));
  const after = JSON.parse((await cli(['schedule', 'status', '--json'])).stdout);
  assert.equal(after.installed, false);

  // A 5-minute interval, below Android's 15-minute floor is raised to it.
  const fast = await cli(['schedule', 'install', '--every', '5m']);
  assert.equal(fast.code, 0, fast.stderr);
  assert.match(called(), /--period-ms 900000 /);
  assert.match(fast.stdout, /every 15m \(Android runs jobs no more often\)/);
});
