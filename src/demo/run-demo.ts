/**
 * The embedded default: two nodes on this machine (main_device and selesta, the phone), the users'
 * routes, a sync both ways, then status and a few received notes with their origin. Running it again
 * in the same folder adds a few fresh notes on each side and shows that only those travel.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { addPeer, saveConfig, withNode } from '../config/config-file.js';
import type { Config } from '../config/schema.js';
import { prepareDatabase } from '../store/prepare.js';
import { openDatabase } from '../store/sqlite/open-database.js';
import { ORIGIN_VIEW } from '../core/notes-table.js';
import { sqliteNow } from '../core/timestamps.js';
import { syncPeers, type PeerOutcome } from '../sync/sync-peers.js';
import { gatherStatus, type NodeStatus } from '../sync/status.js';
import { DEMO_ROUTES, MAIN_NOTES, SELESTA_NOTES, type SampleNote } from './sample-notes.js';
import { loadConfig } from '../config/config-file.js';

export interface DemoResult {
  dir: string;
  configPath: string;
  firstRun: boolean;
  outcomes: PeerOutcome[];
  status: NodeStatus;
  received: Array<{ content: string; context: string; origin: string }>;
}

const route = (includeContext: string[]) => ({ includeContext, excludeContext: [], includeSource: [], excludeSource: [] });

export async function runDemo(dirArgument: string): Promise<DemoResult> {
  const dir = resolve(dirArgument);
  mkdirSync(dir, { recursive: true });
  const mainPath = join(dir, 'main_device.sqlite3');
  const selestaPath = join(dir, 'selesta.sqlite3');
  const configPath = join(dir, 'config.toml');
  const firstRun = !existsSync(mainPath) || !existsSync(selestaPath) || !existsSync(configPath);
  if (firstRun) {
    createDatabase(mainPath, 'main_device', `source TEXT DEFAULT 'scribe'`, MAIN_NOTES);
    createDatabase(selestaPath, 'selesta', undefined, SELESTA_NOTES);
    let config: Config = withNode(loadConfig(configPath, { mustExist: false }), { name: 'main_device', db: mainPath });
    config = addPeer(config, {
      name: 'selesta',
      url: selestaPath,
      push: route(DEMO_ROUTES.toSelesta),
      pull: route(DEMO_ROUTES.fromSelesta),
    });
    saveConfig(configPath, config);
  } else {
    const now = sqliteNow();
    appendNotes(mainPath, [{ timestamp: now, content: `Leo: a fresh note at ${now}.`, context: 'leo_development', source: 'leo' }]);
    appendNotes(selestaPath, [
      { timestamp: now, content: `Maternal conversation at ${now}.`, context: 'maternal_conversation', source: null },
    ]);
  }
  const config = loadConfig(configPath, { mustExist: true });
  const outcomes = await syncPeers({ dbPath: mainPath, node: config.node, peers: config.peers, pull: true, push: true, dryRun: false });
  const failure = outcomes.find((outcome) => outcome.error)?.error;
  if (failure) throw failure;
  return { dir, configPath, firstRun, outcomes, status: gatherStatus(mainPath, config), received: receivedNotes(mainPath, selestaPath) };
}

function createDatabase(path: string, nodeName: string, sourceColumn: string | undefined, notes: SampleNote[]): void {
  const db = openDatabase(path, { create: true });
  try {
    db.exec(`CREATE TABLE IF NOT EXISTS resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL,
      content TEXT NOT NULL, context TEXT${sourceColumn ? `, ${sourceColumn}` : ''})`);
    db.exec('DELETE FROM resonance_notes'); // only ever a half-made demo file of our own
    insert(db, notes, sourceColumn !== undefined);
    prepareDatabase(db, path, { nodeName });
  } finally {
    db.close();
  }
}

function appendNotes(path: string, notes: SampleNote[]): void {
  const db = openDatabase(path);
  try {
    insert(db, notes, true);
  } finally {
    db.close();
  }
}

function insert(db: ReturnType<typeof openDatabase>, notes: SampleNote[], withSource: boolean): void {
  const statement = withSource
    ? db.prepare('INSERT INTO resonance_notes (timestamp, content, context, source) VALUES (?, ?, ?, ?)')
    : db.prepare('INSERT INTO resonance_notes (timestamp, content, context) VALUES (?, ?, ?)');
  for (const note of notes) {
    if (withSource) statement.run(note.timestamp, note.content, note.context, note.source);
    else statement.run(note.timestamp, note.content, note.context);
  }
}

function receivedNotes(...paths: string[]) {
  return paths.flatMap((path) => {
    const db = openDatabase(path, { readOnly: true });
    try {
      return db
        .prepare(
          `SELECT content, context, origin_name FROM ${ORIGIN_VIEW} WHERE sync_origin IS NOT NULL AND context IS NOT 'sync' ORDER BY id DESC LIMIT 3`,
        )
        .all()
        .map((row) => ({
          content: String(row.content),
          context: String(row.context),
          origin: `${String(row.origin_name)} -> ${path.endsWith('selesta.sqlite3') ? 'selesta' : 'main_device'}`,
        }));
    } finally {
      db.close();
    }
  });
}
