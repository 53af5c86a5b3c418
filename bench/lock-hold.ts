/**
 * `npm run bench:locks` (`-- --quick` for small sizes, `-- --gb 3` for the largest size): how long
 * `init` and `sync` keep the database's other writers waiting, as a function of the database's
 * size. A Python writer with a 10 s busy timeout (test/support/writers.ts) inserts a note every
 * 20 ms into a rollback-journal database of bench notes while each operation runs; its longest wait
 * is what the operation cost the users' agents. The database grows through the sizes (built once in
 * the system's temp folder and deleted at the end). Printed as a table and written to bench-results/.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../src/store/sqlite/open-database.js';
import { runCli } from '../test/support/cli.js';
import { withWriters } from '../test/support/writers.js';
import { appendNotes, createBenchDb } from './generate.js';

const quick = process.argv.includes('--quick');
const gbArg = process.argv.indexOf('--gb');
const largestGb = gbArg > 0 ? Number(process.argv[gbArg + 1]) : quick ? 0.25 : 2;
const sizesMb = [...new Set([64, 256, 1024, 2048, 4096].filter((mb) => mb < largestGb * 1024).concat(largestGb * 1024))];
const work = mkdtempSync(join(tmpdir(), 'resonance-lock-bench-'));

interface Measure {
  seconds: number;
  writerMaxWaitMs: number;
  writerFailures: number;
  code: number | null;
}

async function measured(db: string, operation: () => Promise<{ code: number | null }>): Promise<Measure> {
  const started = performance.now();
  const { result, writers } = await withWriters(work, db, ['python-10s'], operation, { pauseMs: 20 });
  const writer = writers[0];
  return {
    seconds: (performance.now() - started) / 1000,
    writerMaxWaitMs: Math.round(writer?.maxWaitMs ?? -1),
    writerFailures: writer?.failures ?? -1,
    code: result.code,
  };
}

async function main() {
  const big = join(work, 'big.sqlite3');
  const config = join(work, 'config.toml');
  createBenchDb(big, 'b', 0);
  // This node's database, so that a sync before any init reaches it (and is refused once it is large).
  writeFileSync(config, ['[node]', 'name = "big"', `db = ${JSON.stringify(big)}`, ''].join('\n'));
  const results: Array<Record<string, unknown>> = [];
  let serial = 0;
  for (const mb of sizesMb) {
    const db = openDatabase(big);
    db.exec('PRAGMA journal_mode = DELETE'); // the users' default
    db.exec('DROP INDEX IF EXISTS resonance_sync_timestamp_idx'); // each size measures the one-time build again
    while (statSync(big).size < mb * 1024 * 1024) serial += appendNotes(db, 'b', 20_000, serial) > 0 ? 20_000 : 0;
    db.close();
    const notes = serial;
    const fileMb = statSync(big).size / 1024 / 1024;
    const peer = join(work, `peer-${mb}.sqlite3`);
    createBenchDb(peer, 'b', 10_000, 5_000_000_000 + mb);
    const sync = ['sync', peer, '--pull-only', '--config', config];
    const row = {
      sizeMb: Math.round(fileMb),
      notes,
      refusedSync: await measured(big, () => runCli(sync)), // unindexed: refused at once over 128 MB, else it prepares (and indexes)
      initBuildingIndex: await measured(big, () => runCli(['init', '--db', big, '--node', 'big', '--build-index', '--config', config])),
      initAgain: await measured(big, () => runCli(['init', '--db', big, '--config', config])),
      sync10k: await measured(big, () => runCli(sync)),
    };
    results.push(row);
    console.log(JSON.stringify(row));
  }
  console.log(
    '\nsize      notes      longest wait of a writer (ms) during: refused sync | init building the index | init again | sync of 10k',
  );
  for (const r of results) {
    const m = (k: string) => String((r[k] as Measure).writerMaxWaitMs).padStart(6);
    console.log(
      `${String(r.sizeMb).padStart(5)} MB ${String(r.notes).padStart(9)}  ${m('refusedSync')} | ${m('initBuildingIndex')} | ${m('initAgain')} | ${m('sync10k')}`,
    );
  }
  mkdirSync('bench-results', { recursive: true });
  const file = join('bench-results', `lock-hold-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwritten ${file}`);
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
