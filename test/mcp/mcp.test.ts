/**
 * `resonance-sync mcp` as an agent host runs it: the SDK's own Client over stdio, spawning the real
 * CLI, against real databases. Lists the tools, reads status and notes, adds one, syncs with a
 * second database file (with progress notifications) and gets typed errors back.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult, Progress } from '@modelcontextprotocol/sdk/types.js';
import { CLI_PATH, runCli } from '../support/cli.js';
import { createNotesDb, insertNotes, withDb } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

const LONG = 'x'.repeat(50_000);

interface Setup {
  main: string;
  phone: string;
  config: string;
}

async function setup(t: TestContext): Promise<Setup> {
  const dir = tempDir(t);
  const main = createNotesDb(dir, 'main');
  const phone = createNotesDb(dir, 'phone', 'a');
  insertNotes(main, [
    { timestamp: '2025-11-30 22:00:00', content: 'Leo: refactored the parser', context: 'leo_development', source: 'leo' },
    { timestamp: '2025-11-30T23:30:00.123456', content: 'diary: 100% done_today', context: 'diary', source: null },
    { timestamp: '2025-12-01 08:00:00', content: LONG, context: 'leo_snapshot_dump', source: 'leo' },
    { timestamp: '2025-12-01 09:00:00', content: 'Morning plan', context: 'leo_development', source: 'scribe' },
  ]);
  insertNotes(
    phone,
    Array.from({ length: 5 }, (_, i) => ({
      timestamp: `2025-12-02 10:00:0${i}`,
      content: `phone note ${i}`,
      context: 'maternal_conversation',
    })),
  );
  const config = join(dir, 'c.toml');
  for (const args of [
    ['init', '--db', main, '--node', 'main_device', '--config', config],
    ['peer', 'add', 'phone', phone, '--config', config],
  ]) {
    const result = await runCli(args);
    assert.equal(result.code, 0, result.stderr);
  }
  return { main, phone, config };
}

async function connect(t: TestContext, setup: Setup, extra: string[] = []): Promise<Client> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  // As test/support/cli.ts: no developer's own config can leak in; this one is named by --config.
  env.RESONANCE_SYNC_CONFIG = '/nonexistent/resonance-sync/config.toml';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI_PATH, 'mcp', '--config', setup.config, '--db', setup.main, ...extra],
    env,
    stderr: 'pipe',
  });
  const client = new Client({ name: 'resonance-sync-test', version: '0.0.0' });
  await client.connect(transport);
  t.after(() => client.close());
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

interface NotesResult {
  notes: Array<{
    id: number;
    timestamp: string;
    context: string | null;
    source: string | null;
    origin: string | null;
    content: string;
    contentLength: number;
    truncated: boolean;
  }>;
  more: boolean;
}

async function notes(client: Client, name: string, args: Record<string, unknown>): Promise<NotesResult> {
  const result = await call(client, name, args);
  assert.equal(result.isError, undefined, JSON.stringify(result.content));
  const structured = result.structuredContent as unknown as NotesResult;
  // The text block carries the same JSON, for hosts that read only text.
  const text = result.content[0];
  assert.equal(text?.type, 'text');
  assert.deepEqual(JSON.parse(text.type === 'text' ? text.text : '').notes, structured.notes);
  return structured;
}

function errorOf(result: CallToolResult): { code: string; message: string } {
  assert.equal(result.isError, true, JSON.stringify(result.content));
  return (result.structuredContent as { error: { code: string; message: string } }).error;
}

test('tools are listed with their JSON schemas and annotations; --read-only offers only those that read', async (t) => {
  const s = await setup(t);
  const client = await connect(t, s);
  const { tools } = await client.listTools();
  const byName = new Map(tools.map((tool) => [tool.name, tool]));
  assert.deepEqual([...byName.keys()].sort(), ['add_note', 'recent_notes', 'search_notes', 'status', 'sync_now']);
  for (const name of ['status', 'recent_notes', 'search_notes']) assert.equal(byName.get(name)?.annotations?.readOnlyHint, true, name);
  for (const name of ['add_note', 'sync_now']) {
    assert.equal(byName.get(name)?.annotations?.readOnlyHint, false, name);
    assert.equal(byName.get(name)?.annotations?.destructiveHint, false, `${name}: append-only`);
  }
  assert.equal(byName.get('sync_now')?.annotations?.openWorldHint, true);
  const recent = byName.get('recent_notes')?.inputSchema as { properties: Record<string, { maximum?: number }> };
  assert.equal(recent.properties.limit?.maximum, 100);
  assert.equal(recent.properties.maxChars?.maximum, 20_000);
  assert.deepEqual(byName.get('search_notes')?.inputSchema.required, ['text']);
  assert.deepEqual(byName.get('add_note')?.inputSchema.required, ['content']);
  const sync = byName.get('sync_now')?.inputSchema as { properties: Record<string, { enum?: string[] }> };
  assert.deepEqual(sync.properties.direction?.enum, ['both', 'pull', 'push']);

  const readOnly = await connect(t, s, ['--read-only']);
  assert.deepEqual((await readOnly.listTools()).tools.map((tool) => tool.name).sort(), ['recent_notes', 'search_notes', 'status']);
});

test('status, recent notes by context, time and origin, long notes cut with their length, search with literal wildcards', async (t) => {
  const s = await setup(t);
  const client = await connect(t, s);
  const status = await call(client, 'status');
  assert.equal(status.isError, undefined);
  const report = status.structuredContent as { node: { name: string }; entries: number; peers: Array<{ name: string }> };
  assert.equal(report.node.name, 'main_device');
  assert.equal(report.entries, 4);
  assert.deepEqual(
    report.peers.map((peer) => peer.name),
    ['phone'],
  );

  const newest = await notes(client, 'recent_notes', { limit: 2, maxChars: 100 });
  assert.deepEqual(
    newest.notes.map((note) => note.context),
    ['leo_development', 'leo_snapshot_dump'],
  );
  assert.equal(newest.more, true);
  assert.equal(newest.notes[0]?.origin, 'main_device');
  const long = newest.notes[1];
  assert.equal(long?.truncated, true);
  assert.equal(long?.contentLength, 50_000);
  assert.equal(long?.content, `${'x'.repeat(100)}\n…[truncated: 100 of 50000 characters]`);

  const leo = await notes(client, 'recent_notes', { context: 'leo_*', source: 'leo' });
  assert.deepEqual(
    leo.notes.map((note) => note.timestamp),
    ['2025-12-01 08:00:00', '2025-11-30 22:00:00'],
  );
  assert.equal(leo.more, false);
  // Both timestamp shapes are read as times: the ISO one with microseconds falls inside, the others not.
  const evening = await notes(client, 'recent_notes', { since: '2025-11-30T22:30:00Z', until: '2025-12-01 08:00:00' });
  assert.deepEqual(
    evening.notes.map((note) => note.content),
    ['diary: 100% done_today'],
  );
  assert.equal((await notes(client, 'recent_notes', { origin: 'phone' })).notes.length, 0, 'nothing from the phone before a sync');

  const found = await notes(client, 'search_notes', { text: 'PARSER' });
  assert.deepEqual(
    found.notes.map((note) => note.content),
    ['Leo: refactored the parser'],
  );
  assert.equal((await notes(client, 'search_notes', { text: '100%' })).notes.length, 1);
  assert.equal((await notes(client, 'search_notes', { text: '0%' })).notes.length, 1);
  assert.equal((await notes(client, 'search_notes', { text: '%d' })).notes.length, 0, '% is matched literally, not as a wildcard');
  assert.equal((await notes(client, 'search_notes', { text: 'done_t' })).notes.length, 1);
  assert.equal((await notes(client, 'search_notes', { text: 'done_x' })).notes.length, 0);

  assert.equal(errorOf(await call(client, 'recent_notes', { since: 'yesterday-ish' })).code, 'USAGE');
  const tooMany = await call(client, 'recent_notes', { limit: 1000 });
  assert.equal(tooMany.isError, true, 'the schema bounds the limit');
});

test('add_note writes a note stamped now that reads back; a blank or oversized note is refused', async (t) => {
  const s = await setup(t);
  const client = await connect(t, s);
  const added = await call(client, 'add_note', { content: 'MCP: remember the meeting', context: 'agent_memory', source: 'claude' });
  assert.equal(added.isError, undefined, JSON.stringify(added.content));
  const { id, timestamp, added: wasAdded } = added.structuredContent as { id: number; timestamp: string; added: boolean };
  assert.equal(wasAdded, true);
  assert.match(timestamp, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  const back = await notes(client, 'recent_notes', { limit: 1 });
  assert.deepEqual(back.notes[0], {
    id,
    timestamp,
    context: 'agent_memory',
    source: 'claude',
    origin: 'main_device',
    content: 'MCP: remember the meeting',
    contentLength: 25,
    truncated: false,
  });
  const row = withDb(s.main, (db) => db.prepare('SELECT sync_origin FROM resonance_notes WHERE id = ?').get(id));
  assert.equal(row?.sync_origin, null, 'written here: no origin');
  // Without a source, the table's DEFAULT applies (variant b: 'scribe').
  const bare = await call(client, 'add_note', { content: 'plain' });
  assert.equal((await notes(client, 'recent_notes', { limit: 1 })).notes[0]?.source, 'scribe', JSON.stringify(bare.content));

  assert.equal(errorOf(await call(client, 'add_note', { content: '   ' })).code, 'USAGE');
  assert.equal((await call(client, 'add_note', { content: 'y'.repeat(1_000_001) })).isError, true);
  assert.equal(withDb(s.main, (db) => db.prepare('SELECT count(*) AS n FROM resonance_notes').get())?.n, 6);
});

test('sync_now with a peer sends progress notifications; received notes are read by origin; an unknown peer is a typed error', async (t) => {
  const s = await setup(t);
  const client = await connect(t, s);
  const progress: Progress[] = [];
  const synced = (await client.callTool({ name: 'sync_now', arguments: { peers: ['phone'], batchRows: 2 } }, undefined, {
    onprogress: (event) => progress.push(event),
  })) as CallToolResult;
  assert.equal(synced.isError, undefined, JSON.stringify(synced.content));
  const report = synced.structuredContent as { ok: boolean; peers: Array<{ directions: Array<{ direction: string; received: number }> }> };
  assert.equal(report.ok, true);
  assert.deepEqual(
    report.peers[0]?.directions.map((d) => [d.direction, d.received]),
    [
      ['pull', 5],
      ['push', 5],
    ],
    'five phone notes in; four notes and the sync note out',
  );
  assert.ok(progress.length >= 5, `a notification per batch of two: ${JSON.stringify(progress)}`);
  for (let i = 1; i < progress.length; i++)
    assert.ok((progress[i]?.progress ?? 0) > (progress[i - 1]?.progress ?? 0), 'progress only grows');
  assert.equal(progress.at(-1)?.progress, 10);
  assert.match(progress[0]?.message ?? '', /^phone pull: 2 stored/);

  const fromPhone = await notes(client, 'recent_notes', { origin: 'phone', limit: 3 });
  assert.deepEqual(
    fromPhone.notes.map((note) => note.content),
    ['phone note 4', 'phone note 3', 'phone note 2'],
  );
  const syncNote = await notes(client, 'recent_notes', { context: 'sync', origin: 'main_device' });
  assert.deepEqual(
    syncNote.notes.map((note) => note.content),
    ['Synced 5 entries from phone'],
  );

  const unknown = errorOf(await call(client, 'sync_now', { peers: ['selesta'] }));
  assert.equal(unknown.code, 'PEER_UNKNOWN');
  assert.match(unknown.message, /no peer named selesta .*configured: phone/);
  const text = (await call(client, 'sync_now', { peers: ['/tmp/elsewhere.sqlite3'] })).content[0];
  assert.match(text?.type === 'text' ? text.text : '', /\[PEER_UNKNOWN\]$/, 'a path is no configured peer: an agent syncs only with those');
});

test('cancelling sync_now stops it at a batch boundary; the next call resumes, exactly once', async (t) => {
  const s = await setup(t);
  insertNotes(
    s.phone,
    Array.from({ length: 100 }, (_, i) => ({
      timestamp: `2025-12-03 10:00:00.${String(i).padStart(3, '0')}`,
      content: `bulk ${i}`,
      context: 'bulk',
    })),
  );
  const client = await connect(t, s);
  const controller = new AbortController();
  const cancelled = client.callTool({ name: 'sync_now', arguments: { peers: ['phone'], direction: 'pull', batchRows: 1 } }, undefined, {
    signal: controller.signal,
    onprogress: () => controller.abort(new Error('enough')),
  });
  await assert.rejects(cancelled, /enough/);
  const bulk = () =>
    withDb(s.main, (db) => Number(db.prepare(`SELECT count(*) AS n FROM resonance_notes WHERE context = 'bulk'`).get()?.n));
  // The server stops at its next batch boundary; it answers the next call once the stopped sync has let go of the lock.
  let resumed: CallToolResult | undefined;
  for (let attempt = 0; attempt < 50; attempt++) {
    resumed = await call(client, 'sync_now', { peers: ['phone'], direction: 'pull' });
    if (!resumed.isError || errorOf(resumed).code !== 'SYNC_RUNNING') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(resumed?.isError, undefined, JSON.stringify(resumed?.content));
  const report = resumed?.structuredContent as { peers: Array<{ directions: Array<{ received: number }> }> };
  const second = report.peers[0]?.directions[0]?.received ?? 0;
  assert.ok(second > 0 && second < 105, `the cancelled call stored some and stopped early; the next stored the rest (${second})`);
  assert.equal(bulk(), 100, 'every entry once');
});
