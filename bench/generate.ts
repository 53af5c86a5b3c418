/**
 * Realistic notes for the benchmark: the four table variants, mixed timestamp shapes, contents of
 * 20-4000 characters with log-normal lengths, English and Russian. Deterministic (seeded).
 */
import type { Database } from '../src/store/sqlite/driver.js';
import { openDatabase } from '../src/store/sqlite/open-database.js';
import { inTransaction } from '../src/store/sqlite/transaction.js';
import { runScript } from './floors.js';

const VARIANTS = {
  a: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT)`,
  b: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, content TEXT NOT NULL, context TEXT, source TEXT DEFAULT 'scribe')`,
  c: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp DATETIME DEFAULT CURRENT_TIMESTAMP, content TEXT NOT NULL, context TEXT, source TEXT NOT NULL)`,
  d: `CREATE TABLE resonance_notes (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, source TEXT, content TEXT, resonance_score REAL)`,
} as const;
export type BenchVariant = keyof typeof VARIANTS;

const EN = 'the memory is slow and reflective so every note matters resonance field agent observed synthesis development'.split(' ');
const RU = 'память медленная и задумчивая поэтому каждая заметка важна резонанс поле агент наблюдение синтез'.split(' ');
const CONTEXTS = [
  'leo_development',
  'consilium_synthesis',
  'field4_observation',
  'claudecode_development',
  'maternal_conversation',
  'config_update',
  'diary',
];
const SOURCES = ['leo', 'consilium', 'field4', 'claudecode', 'scribe', 'telegram'];

/** Small fast deterministic PRNG (mulberry32). */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logNormalLength(next: () => number): number {
  const normal = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  return Math.max(20, Math.min(4000, Math.round(Math.exp(5.6 + 0.9 * normal))));
}

function content(next: () => number, serial: number): string {
  const words = next() < 0.5 ? EN : RU;
  const length = logNormalLength(next);
  let text = `#${serial} `;
  while (text.length < length) text += `${words[Math.floor(next() * words.length)]} `;
  return text.slice(0, length);
}

function timestamp(next: () => number, serial: number): string {
  const when = new Date(Date.UTC(2025, 0, 1) + serial * 7_000 + Math.floor(next() * 1000));
  const iso = when.toISOString();
  switch (serial % 4) {
    case 0:
      return iso.replace('T', ' ').slice(0, 19);
    case 1:
      return `${iso.slice(0, 19)}.${String(Math.floor(next() * 1e6)).padStart(6, '0')}`;
    case 2:
      return `${iso.slice(0, 19)}.${String(Math.floor(next() * 1e6)).padStart(6, '0')}+00:00`;
    default:
      return iso.slice(0, 19);
  }
}

/** Creates a database of the given variant with `count` notes, numbered from `firstSerial`. */
export function createBenchDb(path: string, variant: BenchVariant, count: number, firstSerial = 0, seed = 1): void {
  const db = openDatabase(path, { create: true });
  try {
    db.exec('PRAGMA journal_mode = WAL');
    db.exec(VARIANTS[variant]);
    appendNotes(db, variant, count, firstSerial, seed);
  } finally {
    db.close();
  }
}

export function appendNotes(db: Database, variant: BenchVariant, count: number, firstSerial: number, seed = 1): number {
  const next = random(seed + firstSerial);
  const insert =
    variant === 'a'
      ? db.prepare('INSERT INTO resonance_notes (timestamp, content, context) VALUES (?, ?, ?)')
      : variant === 'd'
        ? db.prepare('INSERT INTO resonance_notes (timestamp, content, source, resonance_score) VALUES (?, ?, ?, ?)')
        : db.prepare('INSERT INTO resonance_notes (timestamp, content, context, source) VALUES (?, ?, ?, ?)');
  let bytes = 0;
  for (let start = 0; start < count; start += 50_000) {
    inTransaction(db, 'IMMEDIATE', () => {
      for (let i = start; i < Math.min(count, start + 50_000); i++) {
        const serial = firstSerial + i;
        const text = content(next, serial);
        const ts = timestamp(next, serial);
        const context = CONTEXTS[serial % CONTEXTS.length] as string;
        const source = SOURCES[serial % SOURCES.length] as string;
        bytes += Buffer.byteLength(text) + ts.length + context.length + source.length;
        if (variant === 'a') insert.run(ts, text, context);
        else if (variant === 'd') insert.run(ts, text, source, next());
        else insert.run(ts, text, context, source);
      }
    });
  }
  return bytes;
}

/**
 * Grows a database that createBenchDb made with `base` notes (ids 1..base, serials 0..base-1) to
 * `count` notes without a JavaScript loop per row: one sqlite3 process runs one INSERT … SELECT over
 * a recursive CTE that copies the base `count / base - 1` times. Copy k of serial s is serial
 * k·base + s: its content gets that serial's `#N` prefix (so every identity is new), its timestamp
 * the same shape moved k·base·7 s on (timestamp() spaces serials 7 s apart); lengths, languages,
 * contexts and sources are the base's. Columns of variants b and c. It is written without a journal
 * (a crash leaves a scratch file, nothing else: 7 GB through a WAL would be written twice) and left
 * in WAL mode like createBenchDb's. A sqlite3 process because better-sqlite3 opens in SQLite's
 * defensive mode, which refuses journal_mode = OFF; without the CLI the same script runs through the
 * binding, in WAL mode, about twice the writing.
 */
export function growBenchDb(path: string, base: number, count: number): void {
  if (count % base !== 0) throw new Error(`growBenchDb: ${count} is not a multiple of ${base}`);
  runScript(
    path,
    `PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
WITH RECURSIVE copy(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM copy WHERE k < ${count / base - 1})
INSERT INTO resonance_notes (timestamp, content, context, source)
SELECT replace(datetime(substr(n.timestamp, 1, 19), '+' || (copy.k * ${base * 7}) || ' seconds'), ' ', substr(n.timestamp, 11, 1))
    || substr(n.timestamp, 20),
  '#' || (copy.k * ${base} + n.id - 1) || substr(n.content, instr(n.content, ' ')), n.context, n.source
FROM copy CROSS JOIN resonance_notes AS n WHERE n.id <= ${base};
PRAGMA journal_mode = WAL;
`,
  );
}
