/**
 * `resonance-sync ui`, as a person and as an attacker meet it: the real command as a child process, over
 * real HTTP. The guard: nothing is served without the printed token, on another Host, and "sync now"
 * cannot be triggered by a cookie alone or from another origin. The page: headless Chromium (Debian's
 * package, driven by puppeteer-core) shows the peers, a failed peer's message, the chart's points, and
 * "sync now" moves notes and updates the page; a screenshot is left in test-artifacts/ui.png.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { judge } from '../../src/ui/guard.js';
import { runCli, spawnCli } from '../support/cli.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { requireNode24OrSkip } from '../support/node24.js';
import { tempDir } from '../support/temp.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
const HOSTILE_NOTE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';

interface Running {
  url: string;
  base: string;
  port: number;
  token: string;
  child: ChildProcess;
}

/** Two real databases, a working local peer, a peer whose file is missing, and one sync's history. */
async function seededNode(t: TestContext) {
  const dir = tempDir(t, 'resonance-ui-');
  const home = createNotesDb(dir, 'home');
  const phone = createNotesDb(dir, 'phone');
  const config = join(dir, 'config.toml');
  insertNotes(home, [{ timestamp: '2025-11-30 22:00:00', content: 'home note', context: 'leo_development', source: 'leo' }]);
  insertNotes(phone, [{ timestamp: '2025-11-30 23:00:00', content: 'first phone note', context: 'maternal_conversation', source: 'mama' }]);
  for (const args of [
    ['init', '--db', home, '--node', 'home_node'],
    ['peer', 'add', 'phone', phone],
    ['peer', 'add', 'lost', join(dir, 'missing', 'gone.sqlite3')],
  ]) {
    const result = await runCli([...args, '--config', config]);
    assert.equal(result.code, 0, result.stderr);
  }
  const first = await runCli(['sync', '--config', config]);
  assert.notEqual(first.code, 0, 'the lost peer fails');
  return { dir, home, phone, config };
}

async function startUi(t: TestContext, config: string, child: ChildProcess = spawnCli(['ui', '--config', config])): Promise<Running> {
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line !== undefined) resolve(line);
    });
    child.on('exit', (code) => reject(new Error(`ui exited with ${code}: ${stderr}`)));
  });
  const parsed = new URL(url);
  assert.equal(parsed.hostname, '127.0.0.1');
  const token = parsed.searchParams.get('token') ?? '';
  assert.ok(token.length >= 32, 'a long random token');
  return { url, base: parsed.origin, port: Number(parsed.port), token, child };
}

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** node:http, so the Host and Origin headers are exactly what the test says (fetch would set its own). */
function send(port: number, method: string, path: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

function stopped(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    child.on('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

test('the page is browser code: no Node built-ins, and only types from the server side', () => {
  const pageDir = fileURLToPath(new URL('../../../src/ui/page/', import.meta.url));
  const files = readdirSync(pageDir).filter((name) => name.endsWith('.ts'));
  assert.ok(files.includes('app.ts'));
  for (const name of files) {
    const source = readFileSync(join(pageDir, name), 'utf8');
    assert.doesNotMatch(source, /from\s+['"]node:/, name);
    for (const match of source.matchAll(/^(import|export)\s+([^'"]*?)from\s+['"](\.\.\/[^'"]+)['"]/gm)) {
      assert.match(match[2] ?? '', /^type\s/, `${name}: only types may come from ${match[3]}`);
    }
  }
});

test('the guard, as a pure rule: host, token, and for changes the header and the origin', () => {
  const token = 'a'.repeat(43);
  const base = {
    method: 'GET',
    host: '127.0.0.1:8080',
    origin: undefined,
    secFetchSite: undefined,
    headerToken: undefined,
    cookieToken: undefined,
    queryToken: undefined,
  };
  assert.deepEqual(judge({ ...base, cookieToken: token }, token, 8080), { allow: true, viaQuery: false });
  assert.deepEqual(judge({ ...base, queryToken: token }, token, 8080), { allow: true, viaQuery: true });
  assert.equal(judge(base, token, 8080).allow, false);
  assert.equal(judge({ ...base, cookieToken: `${token}x` }, token, 8080).allow, false);
  assert.equal(judge({ ...base, host: 'evil.example:8080', cookieToken: token }, token, 8080).allow, false, 'DNS rebinding');
  assert.equal(judge({ ...base, host: 'localhost:8080', cookieToken: token }, token, 8080).allow, false);
  const post = { ...base, method: 'POST', origin: 'http://127.0.0.1:8080' };
  assert.equal(judge({ ...post, headerToken: token }, token, 8080).allow, true);
  assert.equal(judge({ ...post, cookieToken: token }, token, 8080).allow, false, 'a cookie alone triggers nothing');
  assert.equal(judge({ ...post, queryToken: token }, token, 8080).allow, false);
  assert.equal(judge({ ...post, headerToken: token, origin: 'http://evil.example' }, token, 8080).allow, false);
  assert.equal(judge({ ...post, headerToken: token, origin: undefined }, token, 8080).allow, false);
  assert.equal(judge({ ...post, headerToken: token, secFetchSite: 'cross-site' }, token, 8080).allow, false);
});

test('ui serves nothing without the token, on another Host, and refuses a foreign or cookie-only sync', async (t) => {
  const { config, home } = await seededNode(t);
  const ui = await startUi(t, config);
  const host = `127.0.0.1:${ui.port}`;
  const cookie = `resonance_ui_${ui.port}=${ui.token}`;
  for (const path of ['/', '/app.js', '/app.css', '/api/state', '/api/events', '/?token=wrong', `/?token=${ui.token.slice(1)}`]) {
    const reply = await send(ui.port, 'GET', path, { Host: host });
    assert.equal(reply.status, 403, path);
    assert.equal(reply.body, 'forbidden', `${path}: nothing of the page or the data`);
  }
  const wrongCookie = await send(ui.port, 'GET', '/api/state', { Host: host, Cookie: `resonance_ui_${ui.port}=nope` });
  assert.equal(wrongCookie.status, 403);
  const rebound = await send(ui.port, 'GET', '/api/state', { Host: `attacker.example:${ui.port}`, Cookie: cookie });
  assert.equal(rebound.status, 403, 'a rebound DNS name gets nothing');

  const entry = await send(ui.port, 'GET', `/?token=${ui.token}`, { Host: host });
  assert.equal(entry.status, 303);
  assert.equal(entry.headers.location, '/');
  const setCookie = String(entry.headers['set-cookie']);
  assert.match(setCookie, new RegExp(`^resonance_ui_${ui.port}=${ui.token};`));
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  const page = await send(ui.port, 'GET', '/', { Host: host, Cookie: cookie });
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="\/app\.js"/);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  const state = await send(ui.port, 'GET', '/api/state', { Host: host, 'X-Resonance-Token': ui.token });
  assert.equal(state.status, 200);
  assert.deepEqual(
    JSON.parse(state.body).snapshot.peers.map((p: { name: string }) => p.name),
    ['phone', 'lost'],
  );

  const before = withDb(home, (db) => Number(db.prepare('SELECT count(*) AS n FROM sync_log').get()?.n));
  const refused = [
    { Host: host, Origin: ui.base, Cookie: cookie },
    { Host: host, Origin: 'http://attacker.example', 'X-Resonance-Token': ui.token, Cookie: cookie },
    { Host: host, 'X-Resonance-Token': ui.token },
    { Host: `attacker.example:${ui.port}`, Origin: `http://attacker.example:${ui.port}`, 'X-Resonance-Token': ui.token },
    { Host: host, Origin: ui.base, 'X-Resonance-Token': ui.token, 'Sec-Fetch-Site': 'cross-site' },
  ];
  for (const headers of refused) {
    const reply = await send(ui.port, 'POST', '/api/sync', headers);
    assert.equal(reply.status, 403, JSON.stringify(headers));
  }
  const after = withDb(home, (db) => Number(db.prepare('SELECT count(*) AS n FROM sync_log').get()?.n));
  assert.equal(after, before, 'no refused request started a sync');
  const allowed = await send(ui.port, 'POST', '/api/sync', { Host: host, Origin: ui.base, 'X-Resonance-Token': ui.token });
  assert.equal(allowed.status, 202);
  assert.equal(await stopped(ui.child), 0);
});

test('the single file alone, as on a phone: the page comes from inside it, offline', async (t) => {
  const node24 = requireNode24OrSkip(t);
  if (node24 === undefined) return;
  const single = fileURLToPath(new URL('../../../dist/resonance-sync.mjs', import.meta.url));
  if (!existsSync(single)) {
    if (process.env.CI) throw new Error(`${single} is missing; npm test builds it (npm run build:dist)`);
    return t.skip(`${single} not built (npm run build:dist)`);
  }
  const { dir, config } = await seededNode(t);
  const lone = join(dir, 'lone');
  mkdirSync(lone);
  copyFileSync(single, join(lone, 'resonance-sync.mjs'));
  // No package beside it: no node_modules, no esbuild, no scripts/; Node 24 brings node:sqlite.
  const child = spawn(node24, [join(lone, 'resonance-sync.mjs'), 'ui', '--config', config], {
    cwd: lone,
    env: { ...process.env, RESONANCE_SYNC_SQLITE: 'node:sqlite' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ui = await startUi(t, config, child);
  const headers = { Host: `127.0.0.1:${ui.port}`, 'X-Resonance-Token': ui.token };
  const script = await send(ui.port, 'GET', '/app.js', headers);
  assert.equal(script.status, 200);
  assert.ok(script.body.length > 20_000, `the bundled page script with uPlot (${script.body.length} bytes)`);
  const styles = await send(ui.port, 'GET', '/app.css', headers);
  assert.match(styles.body, /\.uplot/);
  const state = await send(ui.port, 'GET', '/api/state', headers);
  assert.equal(JSON.parse(state.body).snapshot.node.name, 'home_node');
  assert.equal(await stopped(ui.child), 0);
});

/** Debian's Chromium; skipped with a message locally when absent, a failure in CI. */
function chromiumOrSkip(t: TestContext): string | undefined {
  if (existsSync(CHROMIUM)) return CHROMIUM;
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  t.skip(`${CHROMIUM} is missing (apt-get install chromium); the browser test needs it`);
  return undefined;
}

test('in Chromium: peers, the failed peer, the chart, escaped notes; sync now moves notes and updates the page', async (t) => {
  const executablePath = chromiumOrSkip(t);
  if (executablePath === undefined) return;
  const { config, home, phone, dir } = await seededNode(t);
  insertNotes(phone, [
    {
      timestamp: '2025-12-01 08:00:00',
      content: 'second phone note, after the first sync',
      context: 'maternal_conversation',
      source: 'mama',
    },
    { timestamp: '2025-12-01 08:00:01', content: HOSTILE_NOTE, context: 'maternal_conversation', source: 'mama' },
  ]);
  const ui = await startUi(t, config);
  const { launch } = await import('puppeteer-core');
  const browser = await launch({
    executablePath,
    headless: true,
    userDataDir: join(dir, 'chromium-profile'),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 1400 });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.goto(ui.url, { waitUntil: 'domcontentloaded' });
  assert.equal(page.url(), `${ui.base}/`, 'the token left the address bar');

  // The peers, each in the picture and as a card; the lost one with its message and code.
  await page.waitForSelector('[data-peer="phone"]');
  await page.waitForSelector('[data-peer="lost"] [data-testid="peer-error"]');
  const lostError = await page.$eval('[data-peer="lost"] [data-testid="peer-error"]', (e) => e.textContent ?? '');
  assert.match(lostError, /not found|missing|no such/i);
  assert.match(lostError, /\[DB_NOT_FOUND\]/);
  const links = await page.$$eval('[data-peer-links] .link', (es) =>
    es.map(
      (e) =>
        `${e.closest('[data-peer-links]')?.getAttribute('data-peer-links')} ${e.getAttribute('data-direction')} ${e.getAttribute('data-status')}`,
    ),
  );
  assert.ok(links.includes('phone pull ok') && links.includes('phone push ok'), links.join(', '));
  assert.ok(
    links.some((l) => l.startsWith('lost') && l.endsWith('failed')),
    links.join(', '),
  );
  const pendingLabel = await page.$eval('[data-peer-links="phone"] [data-direction="pull"] text', (e) => e.textContent ?? '');
  // Two new notes, and the sync note the phone wrote when the first sync's push reached it.
  assert.match(pendingLabel, /^pull 3 pending · ok/);

  // The chart: its caption counts the points, and the canvas shows the received series' color.
  const caption = await page.$eval('[data-testid="chart-caption"]', (e) => e.textContent ?? '');
  assert.match(caption, /^[1-9]\d* points: 1 received, /);
  // Pixels of the received series' color (#2e7d32) on the chart's canvas (run in the page: this file has no DOM types).
  const coloredPixels = await page.evaluate(`(() => {
    const c = document.querySelector('[data-testid="chart"] canvas');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] === 0x2e && data[i + 1] === 0x7d && data[i + 2] === 0x32) n++;
    return n;
  })()`);
  assert.ok(Number(coloredPixels) > 10, `received points drawn (${coloredPixels} pixels)`);
  const notesBefore = await page.$$eval('[data-testid="notes"] .content', (es) => es.map((e) => e.textContent));
  assert.deepEqual(notesBefore, ['first phone note']);

  // Sync now: progress shows, notes arrive in the database and on the page, the arrows stay green.
  await page.click('[data-testid="sync-now"]');
  await page.waitForSelector('[data-testid="sync-status"][data-state="finished"]', { timeout: 30_000 });
  const outcome = await page.$eval('[data-testid="sync-status"]', (e) => e.textContent ?? '');
  assert.match(outcome, /phone \+3 received/);
  assert.match(outcome, /lost failed/);
  await page.waitForFunction(`document.querySelectorAll('[data-testid="notes"] .content').length >= 3`, { timeout: 15_000 });
  const notesAfter = await page.$$eval('[data-testid="notes"] .content', (es) => es.map((e) => e.textContent));
  assert.ok(notesAfter.includes(HOSTILE_NOTE), 'the hostile note shows as its text');
  assert.ok(notesAfter.includes('second phone note, after the first sync'));
  const origins = await page.$$eval('[data-testid="notes"] .origin', (es) => es.map((e) => e.textContent));
  assert.ok(
    origins.every((o) => o === 'from phone'),
    origins.join(', '),
  );
  assert.equal(await page.evaluate('typeof window.__pwned'), 'undefined', 'no note ran as code');
  assert.equal(await page.$$eval('[data-testid="notes"] script, [data-testid="notes"] img', (es) => es.length), 0);
  const stored = withDb(home, (db) => db.prepare('SELECT count(*) AS n FROM resonance_notes WHERE content = ?').get(HOSTILE_NOTE)?.n);
  assert.equal(Number(stored), 1, 'sync now moved the notes into the database');
  await page.waitForFunction(
    `/^pull 0 pending/.test(document.querySelector('[data-peer-links="phone"] [data-direction="pull"] text')?.textContent ?? '')`,
    { timeout: 15_000 },
  );
  const captionAfter = await page.$eval('[data-testid="chart-caption"]', (e) => e.textContent ?? '');
  assert.match(captionAfter, /: 4 received, /, 'the chart counts the new run');
  assert.deepEqual(pageErrors, []);

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'ui.png'), fullPage: true });
  process.stderr.write(`screenshot: ${join(ARTIFACTS, 'ui.png')}\n`);
  assert.equal(await stopped(ui.child), 0);
});
