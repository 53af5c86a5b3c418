/**
 * The status page's HTTP server (`resonance-sync ui`): hono on Node's http, bound to 127.0.0.1 only,
 * on the port asked for or one the system picks. Every request passes the guard (guard.ts) first.
 *
 *   GET  /?token=T     sets the token cookie, redirects to /
 *   GET  /             the page (HTML shell; its script and styles below)
 *   GET  /app.js, /app.css
 *   GET  /api/state    the snapshot (snapshot.ts) as JSON
 *   GET  /api/events   Server-Sent Events: a sync's start, progress and outcome
 *   POST /api/sync     "sync now" (202; one at a time, a second joins the first)
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { Hono } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { asSyncError, SyncError } from '../core/errors.js';
import { cookieName, judge, newToken, TOKEN_HEADER } from './guard.js';
import { pageAssets, type PageAssets } from './page-assets.js';
import { gatherSnapshot, type UiTarget } from './snapshot.js';
import { type SyncEvent, SyncRunner } from './sync-runner.js';

export interface UiServerOptions {
  target: UiTarget;
  /** 0 (default): the system picks a free port. */
  port?: number;
}

export interface UiServer {
  /** The URL to open, token included. */
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const HOST = '127.0.0.1';

/** No framing, no inline or foreign scripts, nothing fetched from elsewhere, no referrer carrying the token. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

function pageHtml(token: string): string {
  // The token is base64url: nothing in it needs escaping inside an attribute.
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="resonance-token" content="${token}"><title>resonance-sync</title><link rel="stylesheet" href="/app.css"></head>
<body><noscript>This page needs JavaScript.</noscript><script src="/app.js" defer></script></body></html>
`;
}

export function createUiApp(target: UiTarget, token: string, port: () => number, assets: PageAssets, runner: SyncRunner): Hono {
  const app = new Hono();
  app.use('*', async (c, next) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) c.header(name, value);
    const verdict = judge(
      {
        method: c.req.method,
        host: c.req.header('host'),
        origin: c.req.header('origin'),
        secFetchSite: c.req.header('sec-fetch-site'),
        headerToken: c.req.header(TOKEN_HEADER),
        cookieToken: getCookie(c, cookieName(port())),
        queryToken: c.req.query('token'),
      },
      token,
      port(),
    );
    if (!verdict.allow) return c.text('forbidden', 403, SECURITY_HEADERS);
    if (verdict.viaQuery) {
      setCookie(c, cookieName(port()), token, { httpOnly: true, sameSite: 'Strict', path: '/' });
      return c.redirect('/', 303);
    }
    await next();
    return undefined;
  });
  app.get('/', (c) => c.html(pageHtml(token)));
  app.get('/app.js', (c) => c.body(assets.js, 200, { 'Content-Type': 'text/javascript; charset=utf-8' }));
  app.get('/app.css', (c) => c.body(assets.css, 200, { 'Content-Type': 'text/css; charset=utf-8' }));
  app.get('/api/state', async (c) => {
    try {
      return c.json({ ok: true, snapshot: await gatherSnapshot(target), sync: { busy: runner.busy, last: runner.last ?? null } });
    } catch (thrown) {
      const error = asSyncError(thrown);
      return c.json({ ok: false, error: { code: error.code, message: error.message } }, 500);
    }
  });
  app.post('/api/sync', (c) => {
    const joined = runner.busy;
    void runner.start();
    return c.json({ started: !joined, joined }, 202);
  });
  app.get('/api/events', (c) =>
    streamSSE(c, async (stream) => {
      const send = (event: SyncEvent) => void stream.writeSSE({ event: event.type, data: JSON.stringify(event) }).catch(() => {});
      const unsubscribe = runner.subscribe(send);
      stream.onAbort(unsubscribe);
      while (!stream.aborted && !stream.closed) {
        await stream.writeSSE({ event: 'ping', data: '{}' });
        await stream.sleep(15_000);
      }
      unsubscribe();
    }),
  );
  return app;
}

export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const requested = options.port ?? 0;
  if (!Number.isInteger(requested) || requested < 0 || requested > 65535) {
    throw new SyncError('USAGE', `--port must be a port number from 0 to 65535, not ${String(options.port)}`);
  }
  const token = newToken();
  const assets = await pageAssets();
  const runner = new SyncRunner(options.target);
  let port = requested;
  const app = createUiApp(options.target, token, () => port, assets, runner);
  const server: ServerType = await new Promise((resolve, reject) => {
    const created = serve({ fetch: app.fetch, hostname: HOST, port: requested }, () => resolve(created));
    created.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new SyncError('USAGE', `port ${requested} on ${HOST} is in use; pick another with --port, or leave it out`)
          : error,
      ),
    );
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${HOST}:${port}/?token=${token}`,
    port,
    token,
    async close() {
      await runner.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ('closeAllConnections' in server) server.closeAllConnections();
      });
    },
  };
}
