/**
 * The users' agents as they really write, run as real processes beside an operation of ours (a
 * sync, `init`, `rotate`, ...), each reporting every write it lost. Their agents swallow errors, so
 * an insert that fails is a note lost for good:
 * - `sqlite3-cli`: one `sqlite3 DB "INSERT …"` process per note, with no busy timeout at all: SQLite
 *   answers "database is locked" at once whenever another connection holds the lock;
 * - `sqlite3-cli-timeout`: the same with `.timeout 5000` first, the remedy the README gives them;
 * - `python-default`: `sqlite3.connect(path)` (Python's default 5 s timeout), INSERT, commit();
 * - `python-10s`: the same with `timeout=10`.
 *
 * withWriters(db, kinds, operation) starts the writers, runs the operation, stops the writers once it
 * is done and returns the operation's result with one WriterOutcome per writer. Any operation fits:
 * to hold `rotate` to the same bound, pass `() => runCli(['rotate', …])` (see test/cli/writers.test.ts).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { DOCUMENTED_AGENT_WAIT_MS } from './agents.js';
import { withDb } from './notes-db.js';

export type WriterKind = 'sqlite3-cli' | 'sqlite3-cli-timeout' | 'python-default' | 'python-10s';

/** Writers that wait for the lock (a busy timeout): these must lose nothing. */
export const WAITING_WRITERS: readonly WriterKind[] = ['sqlite3-cli-timeout', 'python-default', 'python-10s'];

export interface WriterOutcome {
  kind: WriterKind;
  /** The context its notes carry, unique to this writer: how its surviving notes are counted. */
  context: string;
  attempts: number;
  /** Inserts that reported an error (which their agents swallow). */
  failures: number;
  /**
   * Notes it tried to write that are not in the database: lost for good. Counted in the database,
   * not from the errors: the sqlite3 CLI can report "database is locked" for a note it did store.
   */
  lost: number;
  /** The longest a single insert took, from its start to its commit or its failure. */
  maxWaitMs: number;
  /** The distinct error messages seen, e.g. "database is locked". */
  errors: string[];
  /** Its notes actually in the database afterwards. */
  stored: number;
}

export interface WritersOptions {
  /** Between two notes (default 50 ms: agents that write back to back starve each other, sync or not). */
  pauseMs?: number;
  /** The sqlite3 program (default `sqlite3` on the PATH). */
  sqlite3?: string | undefined;
  /** How long to let the writers run before the operation starts (default 200 ms), so they are writing when it does. */
  leadMs?: number;
  /**
   * Python writers connect for each note, as the users' agents do (default: once). Needed beside
   * `rotate`, which renames a new file over the database: a connection kept open stays on the old one.
   */
  connectEachNote?: boolean;
  /** Their phone agents name themselves in `source` (NOT NULL in init_resonance.sql); without it the column is left out. */
  source?: string;
  /** Other files where a writer's notes count as stored (read once the operation is done), e.g. rotate's archive. */
  alsoStoredIn?: () => string[];
}

/** A Python agent: connect once, then INSERT + commit() per note until told to stop; prints a JSON report. */
const PYTHON_WRITER = `
import json, os, sqlite3, sys, time
path, stop, context, pause, timeout, each, source = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]) / 1000, sys.argv[5], sys.argv[6] == 'each', sys.argv[7]
connect = lambda: sqlite3.connect(path) if timeout == 'default' else sqlite3.connect(path, timeout=float(timeout))
conn = None if each else connect()
attempts = failures = 0
longest = 0.0
errors = set()
while not os.path.exists(stop):
    attempts += 1
    started = time.monotonic()
    try:
        if each:
            conn = connect()
        if source:
            conn.execute("INSERT INTO resonance_notes (timestamp, content, context, source) VALUES (datetime('now'), ?, ?, ?)", ('%s note %d' % (context, attempts), context, source))
        else:
            conn.execute("INSERT INTO resonance_notes (timestamp, content, context) VALUES (datetime('now'), ?, ?)", ('%s note %d' % (context, attempts), context))
        conn.commit()
        if each:
            conn.close()
    except sqlite3.Error as error:
        failures += 1
        errors.add(str(error))
        try:
            conn.rollback()
            if each:
                conn.close()
        except Exception:
            pass
    longest = max(longest, time.monotonic() - started)
    time.sleep(pause)
conn.close()
print(json.dumps({'attempts': attempts, 'failures': failures, 'maxWaitMs': longest * 1000, 'errors': sorted(errors)}))
`;

/** A shell agent: one sqlite3 process per note, as `sqlite3 "$DB" "INSERT …"` in a script. */
const CLI_WRITER = `
db=$1; stop=$2; context=$3; pause=$4; sqlite3=$5; timeout=$6; source=$7
opts=(); [ -n "$timeout" ] && opts=(-cmd ".timeout $timeout")
columns="timestamp, content, context"; extra=; [ -n "$source" ] && { columns="$columns, source"; extra=", '$source'"; }
attempts=0; failures=0; longest=0; errors=
while [ ! -e "$stop" ]; do
  attempts=$((attempts + 1))
  started=$(date +%s%N)
  # .timer: sqlite3's own clock of the statement, busy wait included, process start-up left out (a
  # loaded machine can take longer to fork and exec than any lock holds); a failed insert prints none.
  if ! out=$("$sqlite3" -batch -cmd ".timer on" "\${opts[@]}" "$db" "INSERT INTO resonance_notes ($columns) VALUES (datetime('now'), '$context note $attempts', '$context'$extra);" 2>&1); then
    failures=$((failures + 1)); errors=$(printf '%s' "$out" | grep -v '^Run Time:')
  fi
  took=$(printf '%s' "$out" | sed -n 's/^Run Time: real \\([0-9.]*\\).*/\\1/p' | head -n 1)
  if [ -n "$took" ]; then took=$(awk -v s="$took" 'BEGIN { printf "%d", s * 1000 }')
  else took=$(( ($(date +%s%N) - started) / 1000000 )); fi
  [ "$took" -gt "$longest" ] && longest=$took
  sleep "$pause"
done
printf '{"attempts":%d,"failures":%d,"maxWaitMs":%d,"errors":[%s]}' "$attempts" "$failures" "$longest" \\
  "$(printf '%s' "$errors" | head -n 1 | sed 's/["\\\\]//g; s/.*/"&"/; /^""$/d')"
`;

function startWriter(kind: WriterKind, db: string, stop: string, context: string, options: WritersOptions) {
  const pause = options.pauseMs ?? 50;
  const child = kind.startsWith('python')
    ? spawn(
        'python3',
        [
          '-c',
          PYTHON_WRITER,
          db,
          stop,
          context,
          String(pause),
          kind === 'python-10s' ? '10' : 'default',
          options.connectEachNote ? 'each' : 'once',
          options.source ?? '',
        ],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      )
    : spawn(
        'bash',
        [
          '-c',
          CLI_WRITER,
          'writer',
          db,
          stop,
          context,
          String(pause / 1000),
          options.sqlite3 ?? 'sqlite3',
          kind === 'sqlite3-cli' ? '' : '5000',
          options.source ?? '',
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise<Pick<WriterOutcome, 'attempts' | 'failures' | 'maxWaitMs' | 'errors'>>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${kind} writer exited ${code}: ${out}`));
      else resolve(JSON.parse(out));
    });
  });
}

let runs = 0;

/**
 * Runs `operation` while one writer of each of `kinds` writes `db`; see the top of this file. The
 * writers write notes of their own context (`writer-<kind>-<run>.<n>`), counted afterwards in `db`.
 */
export async function withWriters<T>(
  dir: string,
  db: string,
  kinds: readonly WriterKind[],
  operation: () => Promise<T>,
  options: WritersOptions = {},
): Promise<{ result: T; writers: WriterOutcome[] }> {
  const stop = join(dir, `stop-writers-${process.pid}-${Date.now()}`);
  const run = ++runs;
  const contexts = kinds.map((kind, i) => `writer-${kind}-${run}.${i}`);
  const running = kinds.map((kind, i) => startWriter(kind, db, stop, contexts[i] as string, options));
  let result: T;
  try {
    await new Promise((resolve) => setTimeout(resolve, options.leadMs ?? 200));
    result = await operation();
  } finally {
    writeFileSync(stop, '');
  }
  const reports = await Promise.all(running);
  const files = [db, ...(options.alsoStoredIn?.() ?? [])];
  const writers = reports.map((report, i) => {
    const context = contexts[i] as string;
    const count = (path: string) =>
      withDb(path, (d) => Number(d.prepare('SELECT count(*) AS n FROM resonance_notes WHERE context = ?').get(context)?.n));
    const stored = files.reduce((sum, path) => sum + count(path), 0);
    return { kind: kinds[i] as WriterKind, context, ...report, stored, lost: report.attempts - stored };
  });
  return { result, writers };
}

/** One line per writer, for t.diagnostic. */
export function describeWriter(w: WriterOutcome): string {
  const errors = w.errors.length > 0 ? ` (${w.errors.join('; ')})` : '';
  return `${w.kind}: ${w.attempts} inserts, ${w.failures} failed${errors}, ${w.lost} lost (not stored), longest ${Math.round(w.maxWaitMs)} ms`;
}

/** Every writer wrote; those with a busy timeout lost nothing and waited less than the bound. */
export function expectNoneLost(t: TestContext, writers: WriterOutcome[]): void {
  for (const writer of writers) t.diagnostic(describeWriter(writer));
  for (const writer of writers) {
    assert.ok(writer.attempts > 0, `${writer.kind} wrote during the operation`);
    assert.ok(writer.lost >= 0 && writer.lost <= writer.failures, `${writer.kind}: only a failed insert can be missing`);
    if (!WAITING_WRITERS.includes(writer.kind)) continue;
    assert.equal(writer.failures, 0, `${writer.kind} failed ${writer.failures} times: ${writer.errors.join('; ')}`);
    assert.equal(writer.lost, 0);
    assert.ok(writer.maxWaitMs < DOCUMENTED_AGENT_WAIT_MS, `${writer.kind} waited ${Math.round(writer.maxWaitMs)} ms`);
  }
}
