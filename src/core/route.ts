/**
 * Routes: which entries flow in one direction to one peer, as include/exclude globs on context and
 * source. Globs are SQLite GLOB patterns (`*`, `?`, `[...]`, case-sensitive), evaluated by the
 * sender's own SQLite, so every transport filters identically. Patterns are always bound as
 * parameters, never spliced into SQL. A NULL context or source matches no pattern.
 */
import { createHash } from 'node:crypto';

export interface Route {
  includeContext: string[];
  excludeContext: string[];
  includeSource: string[];
  excludeSource: string[];
}

export const EVERYTHING: Route = { includeContext: [], excludeContext: [], includeSource: [], excludeSource: [] };

/** A short fingerprint of what the route lets through; a changed route gets a new cursor from zero. */
export function routeKey(route: Route): string {
  const canonical = JSON.stringify([
    [...new Set(route.includeContext)].sort(),
    [...new Set(route.excludeContext)].sort(),
    [...new Set(route.includeSource)].sort(),
    [...new Set(route.excludeSource)].sort(),
  ]);
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
  return { sql: clauses.length ? clauses.join(' AND ') : '1', params };
}

export function describeRoute(route: Route): string {
  const parts: string[] = [];
  if (route.includeContext.length) parts.push(`context in [${route.includeContext.join(', ')}]`);
  if (route.excludeContext.length) parts.push(`context not in [${route.excludeContext.join(', ')}]`);
  if (route.includeSource.length) parts.push(`source in [${route.includeSource.join(', ')}]`);
  if (route.excludeSource.length) parts.push(`source not in [${route.excludeSource.join(', ')}]`);
  return parts.length ? parts.join('; ') : 'everything';
}
