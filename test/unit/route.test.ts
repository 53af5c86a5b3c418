import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../../src/store/sqlite/open-database.js';
import { createHash } from 'node:crypto';
import {
  DEFAULT_LOCAL_CONTEXTS,
  EVERYTHING,
  describeRoute,
  keptHomeRoute,
  routeKey,
  routePredicate,
  type Route,
} from '../../src/core/route.js';

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
  const predicate = routePredicate({ ...EVERYTHING, includeContext: hostile, localContexts: hostile }, 'context', 'source');
  for (const pattern of hostile) assert.equal(predicate.sql.includes(pattern), false);
  assert.deepEqual(predicate.params, hostile, 'device-local patterns named by the route are lifted');
  const local = routePredicate(
    { ...EVERYTHING, includeContext: hostile.slice(0, 1), localContexts: hostile.slice(1) },
    'context',
    'source',
  );
  for (const pattern of hostile) assert.equal(local.sql.includes(pattern), false);
  assert.deepEqual(local.params, [hostile[0], hostile[1], hostile[0]]);
  assert.equal(passes({ ...EVERYTHING, includeContext: hostile }, 'anything', null), false);
});

test('the route key changes with what the route lets through, not with order or repeats', () => {
  const a: Route = { ...EVERYTHING, includeContext: ['a', 'b'] };
  assert.equal(routeKey(a), routeKey({ ...EVERYTHING, includeContext: ['b', 'a', 'a'] }));
  assert.notEqual(routeKey(a), routeKey({ ...EVERYTHING, includeContext: ['a'] }));
  assert.notEqual(routeKey(a), routeKey({ ...EVERYTHING, includeSource: ['a', 'b'] }));
  assert.equal(describeRoute({ ...EVERYTHING, localContexts: [] }), 'everything');
});

test('device-local contexts stay home by default: *_thread, *_assistant_id, *snapshot', () => {
  assert.deepEqual([...DEFAULT_LOCAL_CONTEXTS], ['*_thread', '*_assistant_id', '*snapshot']);
  for (const context of ['arianna_thread', 'leo_assistant_id', 'field4_snapshot', 'snapshot', 'consilium_resonance_snapshot'])
    assert.equal(passes(EVERYTHING, context, 'scribe'), false, context);
  for (const context of ['arianna', 'thread_notes', 'leo_development', 'snapshots', null])
    assert.equal(passes(EVERYTHING, context, 'scribe'), true, String(context));
  assert.match(describeRoute(EVERYTHING), /device-local kept home \[\*_thread, \*_assistant_id, \*snapshot\]/);
});

test('a route names a device-local context explicitly: the exact context, or the pattern itself; a wider glob does not', () => {
  const exact: Route = { ...EVERYTHING, includeContext: ['arianna_thread', 'maternal*'] };
  assert.equal(passes(exact, 'arianna_thread', 's'), true, 'named exactly');
  assert.equal(passes(exact, 'maternal_thread', 's'), false, 'maternal* is wider, not a name');
  assert.equal(passes(exact, 'maternal_talk', 's'), true);
  const pattern: Route = { ...EVERYTHING, includeContext: ['*_thread'] };
  assert.equal(passes(pattern, 'maternal_thread', 's'), true, 'the pattern itself lifts it');
  assert.equal(passes(pattern, 'leo_assistant_id', 's'), false, 'not included at all');
  const star: Route = { ...EVERYTHING, includeContext: ['*'] };
  assert.equal(passes(star, 'arianna_thread', 's'), false, '* is not a name');
  assert.equal(passes(star, 'arianna', 's'), true);
  // Excludes still win over a name.
  assert.equal(passes({ ...exact, excludeContext: ['arianna_thread'] }, 'arianna_thread', 's'), false);
});

test('the device-local list is overridable: another list, or [] to send everything', () => {
  assert.equal(passes({ ...EVERYTHING, localContexts: [] }, 'arianna_thread', 's'), true);
  assert.equal(describeRoute({ ...EVERYTHING, localContexts: [] }), 'everything');
  const own: Route = { ...EVERYTHING, localContexts: ['private_*'] };
  assert.equal(passes(own, 'arianna_thread', 's'), true, 'the own list replaces the default');
  assert.equal(passes(own, 'private_diary', 's'), false);
});

test('onlyKeptHome selects exactly what the rest of the route lets through but keeps home', () => {
  const route: Route = { ...EVERYTHING, includeContext: ['maternal*', 'arianna_thread'] };
  const kept = keptHomeRoute(route);
  assert.equal(passes(kept, 'maternal_thread', 's'), true, 'passes the includes, kept home');
  assert.equal(passes(kept, 'arianna_thread', 's'), false, 'named: it travels');
  assert.equal(passes(kept, 'maternal_talk', 's'), false, 'not device-local');
  assert.equal(passes(kept, 'leo_thread', 's'), false, 'the route never lets it through anyway');
  assert.equal(passes(keptHomeRoute({ ...EVERYTHING, localContexts: [] }), 'leo_thread', 's'), false, 'nothing kept home');
});

test('the default list keeps route keys as they were; a list of its own changes them', () => {
  const before = createHash('sha256')
    .update(JSON.stringify([[], [], [], []]))
    .digest('hex')
    .slice(0, 16);
  assert.equal(routeKey(EVERYTHING), before, 'cursors of existing routes stay valid');
  assert.equal(routeKey({ ...EVERYTHING, localContexts: ['*snapshot', '*_thread', '*_assistant_id'] }), before);
  assert.notEqual(routeKey({ ...EVERYTHING, localContexts: [] }), before, 'lifting the list re-reads the feed');
  assert.equal(routeKey(keptHomeRoute(EVERYTHING)), before);
});
