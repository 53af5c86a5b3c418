import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { EVERYTHING, describeRoute, routeKey, routePredicate, type Route } from '../../src/core/route.js';

function passes(route: Route, context: string | null, source: string | null): boolean {
  const db = openDatabase(':memory:', { create: true });
  try {
    db.exec('CREATE TABLE t (context TEXT, source TEXT)');
    db.prepare('INSERT INTO t VALUES (?, ?)').run(context, source);
    const predicate = routePredicate(route, 'context', 'source');
    return db.prepare(`SELECT count(*) AS n FROM t WHERE ${predicate.sql}`).get(...predicate.params)?.n === 1;
  } finally {
    db.close();
  }
}

test('include and exclude globs on context and source; NULL matches no pattern', () => {
  const route: Route = {
    includeContext: ['leo_*', 'consilium*'],
    excludeContext: ['*_private'],
    includeSource: [],
    excludeSource: ['telegram'],
  };
  assert.equal(passes(route, 'leo_development', 'scribe'), true);
  assert.equal(passes(route, 'leo_private', 'scribe'), false, 'excluded');
  assert.equal(passes(route, 'maternal', 'scribe'), false, 'not included');
  assert.equal(passes(route, 'leo_x', 'telegram'), false, 'source excluded');
  assert.equal(passes(route, 'leo_x', null), true, 'NULL source is not excluded');
  assert.equal(passes(route, null, 'scribe'), false, 'NULL context is not included');
  assert.equal(passes(EVERYTHING, null, null), true);
  assert.equal(passes({ ...EVERYTHING, includeContext: ['Leo*'] }, 'leo', null), false, 'case-sensitive like GLOB');
});

test('patterns are bound, never spliced: hostile patterns cannot change the SQL', () => {
  const hostile = ["' OR 1=1 --", '*); DROP TABLE t; --'];
  const predicate = routePredicate({ ...EVERYTHING, includeContext: hostile }, 'context', 'source');
  for (const pattern of hostile) assert.equal(predicate.sql.includes(pattern), false);
  assert.deepEqual(predicate.params, hostile);
  assert.equal(passes({ ...EVERYTHING, includeContext: hostile }, 'anything', null), false);
});

test('the route key changes with what the route lets through, not with order or repeats', () => {
  const a: Route = { ...EVERYTHING, includeContext: ['a', 'b'] };
  assert.equal(routeKey(a), routeKey({ ...EVERYTHING, includeContext: ['b', 'a', 'a'] }));
  assert.notEqual(routeKey(a), routeKey({ ...EVERYTHING, includeContext: ['a'] }));
  assert.notEqual(routeKey(a), routeKey({ ...EVERYTHING, includeSource: ['a', 'b'] }));
  assert.equal(describeRoute(EVERYTHING), 'everything');
});
