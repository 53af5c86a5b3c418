/**
 * `verify`: do two databases hold the same entries within the routes? Cursors cannot see an entry
 * inserted below them (an explicit id, a restored copy that grew again); digests can. Each side
 * summarises what it holds in 256 bucket digests; only differing buckets are narrowed down to entry
 * hashes, and `--repair` sends just the missing entries, each way, through the normal apply (dedupe
 * included) without moving any cursor. Nothing is ever deleted.
 */
import type { DigestRequest, DigestResult, EntryHashName, NodeIdentity, Replica, ReplicaInfo } from '../core/replica.js';
import { SyncError } from '../core/errors.js';
import { routeKey, type Route } from '../core/route.js';
import { checkRepairRows, checkedApplyResult, checkedInfo } from '../core/feed-checks.js';

export interface VerifyOptions {
  /** Entries this node sends (this node -> peer) and receives (peer -> this node). */
  push: Route;
  pull: Route;
  repair: boolean;
  batchRows?: number;
}

export interface DirectionDifference {
  direction: 'push' | 'pull';
  from: NodeIdentity;
  to: NodeIdentity;
  /** Entries the sender holds within the route that the receiver lacks. */
  missing: number;
  repaired: number;
  rejected: number;
}

export interface VerifyReport {
  local: NodeIdentity;
  remote: NodeIdentity;
  bucketsCompared: number;
  bucketsDiffering: number;
  /** Digest and hash bytes exchanged (what a comparison costs, next to a full transfer). */
  bytesExchanged: number;
  directions: DirectionDifference[];
  /** After a repair: whether a second comparison found them equal. */
  equalAfterRepair: boolean | undefined;
}

const bytesOf = (value: DigestResult) => JSON.stringify(value).length;

/** The entry hash function both replicas compute, the one `a` computes fastest among them. */
function commonEntryHash(a: Replica, b: Replica): EntryHashName {
  const common = a.entryHashNames.find((name) => b.entryHashNames.includes(name));
  if (common === undefined) throw new SyncError('INTERNAL', 'the two replicas share no entry hash function');
  return common;
}

export async function verifyReplicas(local: Replica, remote: Replica, options: VerifyOptions): Promise<VerifyReport> {
  const [localInfo, remoteInfo] = [checkedInfo(await local.info()), checkedInfo(await remote.info())];
  const report: VerifyReport = {
    local: localInfo.node,
    remote: remoteInfo.node,
    bucketsCompared: 0,
    bucketsDiffering: 0,
    bytesExchanged: 0,
    directions: [],
    equalAfterRepair: undefined,
  };
  const hash = commonEntryHash(remote, local);
  const push = {
    from: local,
    fromInfo: localInfo,
    to: remote,
    toInfo: remoteInfo,
    route: options.push,
    direction: 'push' as const,
    remote,
    hash,
  };
  const pull = {
    from: remote,
    fromInfo: remoteInfo,
    to: local,
    toInfo: localInfo,
    route: options.pull,
    direction: 'pull' as const,
    remote,
    hash,
  };
  // With one route both ways (the common case), one exchange of digests answers both directions.
  const differences =
    routeKey(options.push) === routeKey(options.pull)
      ? await compareBoth(push, pull, report)
      : [await compare(push, report), await compare(pull, report)];
  for (const [index, side] of [push, pull].entries()) {
    const difference = differences[index] as Difference;
    if (options.repair && difference.hashes.length > 0) await repair(side, difference, options.batchRows ?? 2000);
    report.directions.push(difference.summary);
  }
  if (options.repair && report.directions.some((d) => d.missing > 0)) {
    const recheck: VerifyReport = { ...report, directions: [] };
    const remaining = await compareBoth(push, pull, recheck).then(async (both) =>
      routeKey(options.push) === routeKey(options.pull) ? both : [await compare(push, recheck), await compare(pull, recheck)],
    );
    report.equalAfterRepair = remaining.every((d) => d.hashes.length === 0);
  }
  return report;
}

interface Side {
  from: Replica;
  fromInfo: ReplicaInfo;
  to: Replica;
  toInfo: ReplicaInfo;
  route: Route;
  direction: 'push' | 'pull';
  /** Which of from and to is the peer (asked first, so both ends compute at once). */
  remote: Replica;
  /** The entry hash function of every digest (commonEntryHash). */
  hash: EntryHashName;
}

interface Difference {
  hashes: string[];
  summary: DirectionDifference;
}

async function compareBoth(push: Side, pull: Side, report: VerifyReport): Promise<Difference[]> {
  const [mine, theirs] = await digestsOf(push, { route: push.route, hash: push.hash });
  report.bytesExchanged += bytesOf(mine) + bytesOf(theirs);
  const differing = differingBuckets(mine, theirs, report);
  let onlyMine: string[] = [];
  let onlyTheirs: string[] = [];
  if (differing.length > 0) {
    const [myHashes, theirHashes] = await digestsOf(push, { route: push.route, hash: push.hash, buckets: differing });
    report.bytesExchanged += bytesOf(myHashes) + bytesOf(theirHashes);
    const [mySet, theirSet] = [new Set(myHashes.hashes), new Set(theirHashes.hashes)];
    onlyMine = myHashes.hashes.filter((hash) => !theirSet.has(hash));
    onlyTheirs = theirHashes.hashes.filter((hash) => !mySet.has(hash));
  }
  return [difference(push, onlyMine), difference(pull, onlyTheirs)];
}

/**
 * The sender's and the receiver's digests, computed at the same time: the peer is asked first, and
 * the request is on its way before this process starts its own scan (a local digest holds the event
 * loop until it is done). Each end reads its whole table, so this halves verify's time over ssh.
 */
async function digestsOf(side: Side, request: DigestRequest): Promise<[DigestResult, DigestResult]> {
  const [first, second] = side.remote === side.to ? [side.to, side.from] : [side.from, side.to];
  const early = first.digest(request);
  // Should this end fail first, the peer's answer must not be an unhandled rejection.
  early.catch(() => undefined);
  await new Promise((resolve) => setImmediate(resolve));
  const late = await second.digest(request);
  const answers: [DigestResult, DigestResult] = [await early, late];
  return first === side.from ? answers : [answers[1], answers[0]];
}

function differingBuckets(mine: DigestResult, theirs: DigestResult, report: VerifyReport): string[] {
  const digestOf = (result: DigestResult) => new Map(result.buckets.map((b) => [b.bucket, b.digest]));
  const [a, b] = [digestOf(mine), digestOf(theirs)];
  const all = new Set([...a.keys(), ...b.keys()]);
  const differing = [...all].filter((bucket) => a.get(bucket) !== b.get(bucket));
  report.bucketsCompared += all.size;
  report.bucketsDiffering += differing.length;
  return differing;
}

function difference(side: Side, hashes: string[]): Difference {
  return {
    hashes,
    summary: {
      direction: side.direction,
      from: side.fromInfo.node,
      to: side.toInfo.node,
      missing: hashes.length,
      repaired: 0,
      rejected: 0,
    },
  };
}

async function compare(side: Side, report: VerifyReport): Promise<Difference> {
  const [mine, theirs] = await digestsOf(side, { route: side.route, hash: side.hash });
  report.bytesExchanged += bytesOf(mine) + bytesOf(theirs);
  const differing = differingBuckets(mine, theirs, report);
  let missing: string[] = [];
  if (differing.length > 0) {
    const [fromHashes, toHashes] = await digestsOf(side, { route: side.route, hash: side.hash, buckets: differing });
    report.bytesExchanged += bytesOf(fromHashes) + bytesOf(toHashes);
    const present = new Set(toHashes.hashes);
    missing = fromHashes.hashes.filter((hash) => !present.has(hash));
  }
  return difference(side, missing);
}

async function repair(side: Side, difference: Difference, batchRows: number): Promise<void> {
  const columns = side.fromInfo.columns.filter((name) => side.toInfo.columns.includes(name));
  for (let start = 0; start < difference.hashes.length; start += batchRows) {
    const hashes = difference.hashes.slice(start, start + batchRows);
    const rows = await side.from.rowsByHash(side.route, columns, hashes, side.hash);
    checkRepairRows({ maxRows: hashes.length, width: columns.length }, rows, side.fromInfo.location);
    const applied = await side.to.apply({
      sender: side.fromInfo.node,
      routeKey: routeKey(side.route),
      columns,
      rows,
      throughRowid: -1,
      rewound: false,
      knownNodes: side.fromInfo.knownNodes,
      dryRun: false,
    });
    const result = checkedApplyResult(rows.length, applied, side.toInfo.location);
    difference.summary.repaired += result.received;
    difference.summary.rejected += result.rejected;
  }
}
