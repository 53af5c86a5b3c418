/**
 * Who may talk to the status page. Everything is served only to a request that carries the random token
 * printed with the URL, on the exact Host the server listens on:
 *
 * - The token arrives once in the URL (`/?token=…`); the server answers with an HttpOnly, SameSite=Strict
 *   cookie scoped to this port's name and a redirect to `/`, so the token leaves the address bar.
 *   Later page loads, the data and the event stream carry the cookie (or the header).
 * - A request that changes something (the POST behind "sync now") must carry the token in the
 *   `X-Resonance-Token` header, which the page's own script sends and a foreign page cannot set without
 *   the browser asking us first (CORS preflight, which is refused); its Origin must be this server's.
 *   A cookie alone never triggers anything.
 * - The Host header must be `127.0.0.1:PORT` exactly: a foreign domain rebound to 127.0.0.1 (DNS
 *   rebinding) arrives with its own name and gets nothing.
 *
 * A refused request gets 403 and a one-word body: nothing of the page or the data.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_HEADER = 'x-resonance-token';

export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** One cookie per port: two status pages (two databases) on one machine keep their own tokens. */
export function cookieName(port: number): string {
  return `resonance_ui_${port}`;
}

export interface RequestFacts {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  headerToken: string | undefined;
  cookieToken: string | undefined;
  queryToken: string | undefined;
}

export type Verdict = { allow: true; viaQuery: boolean } | { allow: false; reason: string };

export function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The whole rule, as a pure function of what the request says (tested on its own in test/ui). */
export function judge(request: RequestFacts, token: string, port: number): Verdict {
  const self = `127.0.0.1:${port}`;
  if (request.host !== self) return { allow: false, reason: `Host ${JSON.stringify(request.host ?? '')} is not ${self}` };
  const safe = request.method === 'GET' || request.method === 'HEAD';
  if (!safe) {
    if (request.origin !== `http://${self}`)
      return { allow: false, reason: `Origin ${JSON.stringify(request.origin ?? '')} is not http://${self}` };
    if (request.secFetchSite !== undefined && request.secFetchSite !== 'same-origin') return { allow: false, reason: 'not same-origin' };
    return sameToken(request.headerToken, token) ? { allow: true, viaQuery: false } : { allow: false, reason: 'no token header' };
  }
  if (sameToken(request.headerToken, token) || sameToken(request.cookieToken, token)) return { allow: true, viaQuery: false };
  if (sameToken(request.queryToken, token)) return { allow: true, viaQuery: true };
  return { allow: false, reason: 'no token' };
}
