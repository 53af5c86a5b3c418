/**
 * The JSON contract (src/api/contract.ts) is written out by hand so that the published declarations
 * depend on nothing else. These checks keep it honest:
 * - at compile time, each contract type and the internal type it is printed from must be assignable
 *   both ways: a field added to, removed from or retyped in either one fails `npm test` at its build;
 * - at run time, what `status --json`, `sync --json` and `log --json` print is what the library
 *   returns for the same database, key for key.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { status, syncPeers } from '../../src/api/index.js';
import type {
  CheckReport,
  DemoReport,
  InitReport,
  LogEntry,
  PeerStatusReport,
  ScheduleStatusReport,
  StatusReport,
  VerifyReport,
} from '../../src/api/contract.js';
import type { LogRow } from '../../src/cli/commands/log.js';
import type { DemoResult } from '../../src/demo/run-demo.js';
import type { CheckResult } from '../../src/doctor/check.js';
import type { ScheduleState } from '../../src/schedule/schedule-state.js';
import type { DuplicateReport } from '../../src/store/duplicates.js';
import type { PrepareResult } from '../../src/store/prepare.js';
import type { NodeStatus, PeerStatus } from '../../src/sync/status.js';
import type { VerifyReport as EngineVerifyReport } from '../../src/sync/verify.js';
import { runCli } from '../support/cli.js';
import { createNotesDb, insertNotes } from '../support/notes-db.js';
import { tempDir } from '../support/temp.js';

/** true when A and B are assignable to each other (no field only one of them has, no field typed apart). */
type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const agree = <T extends true>(value: T): T => value;

// Compile-time: each pair must agree, or this file does not build.
agree<SameShape<NodeStatus, StatusReport>>(true);
agree<SameShape<PeerStatus, PeerStatusReport>>(true);
agree<SameShape<LogRow, LogEntry>>(true);
agree<SameShape<CheckResult, CheckReport>>(true);
agree<SameShape<ScheduleState, ScheduleStatusReport>>(true);
// init --json and demo --json are put together by their commands from these parts.
agree<SameShape<PrepareResult, Omit<InitReport, 'db' | 'config' | 'duplicates'>>>(true);
agree<SameShape<DuplicateReport, InitReport['duplicates']>>(true);
agree<SameShape<Pick<DemoResult, 'dir' | 'firstRun' | 'status' | 'received'>, DemoReport>>(true);
// The library leaves equalAfterRepair out when no repair ran; the engine says undefined.
agree<SameShape<Omit<EngineVerifyReport, 'equalAfterRepair'>, Omit<VerifyReport, 'equalAfterRepair'>>>(true);
// A contract that lost a field is caught: the check itself can fail.
agree<SameShape<Omit<NodeStatus, 'dedupe'>, StatusReport> extends false ? true : false>(true);

test('status --json and sync --json print exactly what the library returns', async (t) => {
  const dir = tempDir(t);
  const here = createNotesDb(dir, 'here');
  const there = createNotesDb(dir, 'there');
  insertNotes(there, [{ timestamp: '2026-11-01T10:00:00Z', content: 'from there', context: 'c', source: 's' }]);
  const env = { RESONANCE_SYNC_CONFIG: join(dir, 'config.toml') };
  // Both go through the same config resolution: an absent default config file is an empty config.
  process.env.RESONANCE_SYNC_CONFIG = env.RESONANCE_SYNC_CONFIG;
  t.after(() => delete process.env.RESONANCE_SYNC_CONFIG);

  for (const [db, node] of [
    [here, 'here'],
    [there, 'there'],
  ] as const) {
    const init = await runCli(['init', '--db', db, '--node', node], { env });
    assert.equal(init.code, 0, init.stderr);
  }
  const dry = await runCli(['sync', there, '--db', here, '--dry-run', '--json'], { env });
  assert.equal(dry.code, 0, dry.stderr);
  const fromApi = await syncPeers({ db: here, peers: [there], dryRun: true });
  assert.deepEqual(JSON.parse(dry.stdout), JSON.parse(JSON.stringify(fromApi)));
  assert.equal(fromApi.peers[0]?.directions.find((d) => d.direction === 'pull')?.received, 1);

  const printed = await runCli(['status', '--db', here, '--json'], { env });
  assert.equal(printed.code, 0, printed.stderr);
  assert.deepEqual(JSON.parse(printed.stdout), JSON.parse(JSON.stringify(await status({ db: here }))));
});
