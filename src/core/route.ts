/**
 * Routes: which entries flow in one direction to one peer, as include/exclude globs on context and
 * source. Globs are SQLite GLOB patterns (`*`, `?`, `[...]`, case-sensitive), evaluated by the
 * sender's own SQLite, so every transport filters identically. Patterns are always bound as
 * parameters, never spliced into SQL. A NULL context or source matches no pattern.
 *
 * Device-local contexts (`localContexts`, DEFAULT_LOCAL_CONTEXTS unless the config says otherwise)
 * are the state an agent keeps for its own device and reads back with `ORDER BY id DESC LIMIT 1`: a
 * thread id, an assistant id, a snapshot. They stay home on every route unless the route names them
 * explicitly: an entry whose context matches a device-local pattern P is sent only when the route's
 * include_context holds P itself (say `*_thread`: every thread travels) or the entry's exact context
 * (say `arianna_thread`: that one travels). A wider include (`arianna*`, `*`) does not count as naming it.
 */
import { createHash } from 'node:crypto';

export interface Route {
  includeContext: string[];
  excludeContext: string[];
  includeSource: string[];
  excludeSource: string[];
  /** Device-local context patterns that stay home unless named (see above); undefined: DEFAULT_LOCAL_CONTEXTS. */
  localContexts?: string[] | undefined;
  /**
   * Inverts the device-local rule, for counting: only the entries the rest of the route lets through
   * that stay home because they are device-local (what `sync --dry-run` and `status` report).
   */
  onlyKeptHome?: boolean | undefined;
}

/** The users' per-device state: `arianna_thread`, `<agent>_assistant_id`, `<agent>_snapshot`/`…snapshot`. */
export const DEFAULT_LOCAL_CONTEXTS: readonly string[] = ['*_thread', '*_assistant_id', '*snapshot'];

export const EVERYTHING: Route = { includeContext: [], excludeContext: [], includeSource: [], excludeSource: [] };

/** The device-local patterns in force for a route (its own list, or the default). */
export function localContextsOf(route: Route): readonly string[] {
  return route.localContexts ?? DEFAULT_LOCAL_CONTEXTS;
}

/** The device-local patterns the route does not lift by naming the pattern itself. */
export function keptHomePatterns(route: Route): string[] {
  return [...new Set(localContextsOf(route))].filter((pattern) => !route.includeContext.includes(pattern));
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const [x, y] = [[...new Set(a)].sort(), [...new Set(b)].sort()];
  return x.length === y.length && x.every((value, i) => value === y[i]);
}

/** A short fingerprint of what the route lets through; a changed route gets a new cursor from zero. */
export function routeKey(route: Route): string {
  const parts = [
    [...new Set(route.includeContext)].sort(),
    [...new Set(route.excludeContext)].sort(),
    [...new Set(route.includeSource)].sort(),
    [...new Set(route.excludeSource)].sort(),
  ];
  // The default list keeps the key routes had before device-local contexts existed: entries it now
  // keeps home were sent already, and re-reading every feed from zero would send nothing new. A list
  // of one's own is part of the key, so lifting a pattern re-reads the feed and sends what it held back.
  const local = localContextsOf(route);
  if (!sameList(local, DEFAULT_LOCAL_CONTEXTS)) parts.push(['local', ...[...new Set(local)].sort()]);
  const canonical = JSON.stringify(parts);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

export interface SqlPredicate {
  sql: string;
  params: string[];
}

/**
 * A WHERE fragment for the route. `contextColumn`/`sourceColumn` are trusted column expressions
 * (quoted identifiers, or NULL when the sender's table lacks the column).
 */
export function routePredicate(route: Route, contextColumn: string, sourceColumn: string): SqlPredicate {
  const clauses: string[] = [];
  const params: string[] = [];
  const anyMatch = (column: string, patterns: string[]) => {
    params.push(...patterns);
    return `(${patterns.map(() => `ifnull(${column} GLOB ?, 0)`).join(' OR ')})`;
  };
  if (route.includeContext.length) clauses.push(anyMatch(contextColumn, route.includeContext));
  if (route.excludeContext.length) clauses.push(`NOT ${anyMatch(contextColumn, route.excludeContext)}`);
  if (route.includeSource.length) clauses.push(anyMatch(sourceColumn, route.includeSource));
  if (route.excludeSource.length) clauses.push(`NOT ${anyMatch(sourceColumn, route.excludeSource)}`);
  const kept = keptHomePatterns(route);
  if (kept.length) {
    // Device-local unless the route names this exact context.
    const named = route.includeContext.length
      ? ` AND NOT ifnull(${contextColumn} IN (${route.includeContext.map(() => '?').join(', ')}), 0)`
      : '';
    params.push(...kept, ...route.includeContext);
    const deviceLocal = `(${kept.map(() => `ifnull(${contextColumn} GLOB ?, 0)`).join(' OR ')})${named}`;
    clauses.push(route.onlyKeptHome ? `(${deviceLocal})` : `NOT (${deviceLocal})`);
  } else if (route.onlyKeptHome) {
    clauses.push('0');
  }
  return { sql: clauses.length ? clauses.join(' AND ') : '1', params };
}

/** The same route, selecting only what it keeps home as device-local (for counting). */
export function keptHomeRoute(route: Route): Route {
  return { ...route, onlyKeptHome: true };
}

export function describeRoute(route: Route): string {
  const parts: string[] = [];
  if (route.includeContext.length) parts.push(`context in [${route.includeContext.join(', ')}]`);
  if (route.excludeContext.length) parts.push(`context not in [${route.excludeContext.join(', ')}]`);
  if (route.includeSource.length) parts.push(`source in [${route.includeSource.join(', ')}]`);
  if (route.excludeSource.length) parts.push(`source not in [${route.excludeSource.join(', ')}]`);
  const kept = keptHomePatterns(route);
  const description = parts.length ? parts.join('; ') : 'everything';
  return kept.length ? `${description}; device-local kept home [${kept.join(', ')}]` : description;
}
