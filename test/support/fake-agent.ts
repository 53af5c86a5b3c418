/**
 * A hostile agent for tests: it speaks the real agent protocol (src/protocol's codec and framing)
 * from this test process and is reached by the real AgentReplica and AgentConnection through a fake
 * `ssh` (RESONANCE_SYNC_SSH): a few lines of perl that bridge the child's stdin and stdout to a Unix
 * socket here, so every byte still crosses real pipes and a real child process, and a test can watch
 * the receiver's memory and database while the agent misbehaves. The handshake and the INFO, CURSOR
 * and FINISH answers are honest; what the feed sends is the test's.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { FrameStream } from '../../src/protocol/channel.js';
import * as m from '../../src/protocol/messages.js';
import { MessageType, preambleLine } from '../../src/protocol/protocol.js';
import type { FeedBatch, FeedRequest, FeedRow, ReplicaInfo } from '../../src/core/replica.js';
import { valueBytes } from '../../src/core/sql-value.js';
import { parsePeerUrl } from '../../src/core/peer-url.js';
import type { SshLocation } from '../../src/transport/ssh/ssh-command.js';
import { AgentReplica } from '../../src/transport/agent/agent-replica.js';
import { SyncError } from '../../src/core/errors.js';
import type { BatchLimits } from '../../src/sync/engine.js';
import { syncReplicas } from '../../src/sync/engine.js';
import { EVERYTHING } from '../../src/core/route.js';
import { LocalReplica } from '../../src/transport/local/local-replica.js';
import { tempDir } from './temp.js';

/** stdin -> socket in the parent, socket -> stdout in a child; the first to end ends both. */
const BRIDGE = `use strict; use IO::Socket::UNIX; use Socket;
my $path = shift @ARGV;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path) or die "bridge: $!";
binmode STDIN; binmode STDOUT;
my $pid = fork();
if ($pid == 0) { my $b; while (my $n = sysread($s, $b, 65536)) { my $o = 0; while ($o < $n) { my $w = syswrite(STDOUT, $b, $n - $o, $o); exit 0 unless $w; $o += $w; } } exit 0; }
$SIG{CHLD} = sub { exit 0 };
my $b; while (my $n = sysread(STDIN, $b, 65536)) { my $o = 0; while ($o < $n) { my $w = syswrite($s, $b, $n - $o, $o); last unless $w; $o += $w; } }
shutdown($s, 1); waitpid($pid, 0); exit 0;
`;

/** What the feed script gets: the wire, and the credit the client has granted so far. */
export interface FeedWire {
  /** Sends bytes as they are (a frame the test built, or anything else). */
  write(bytes: Uint8Array): void;
  /** Batches the client has room for now. */
  readonly credit: number;
  /** Waits until the client has room for one more batch (or the feed was cancelled: false). */
  room(): Promise<boolean>;
  /** Takes one batch of credit. */
  spend(): void;
}

export interface FakeAgentScript {
  info: ReplicaInfo;
  /** INFO answers after the first: a live sender's feed grows. Default: `info` again. */
  laterInfo?: ReplicaInfo;
  /** Runs on FEED_OPEN; should end the feed with FEED_END (or not: a hostile agent may do anything). */
  feed(request: FeedRequest, wire: FeedWire): Promise<void>;
}

export interface FakeAgent {
  /** The environment that makes AgentReplica (or the CLI) reach this agent. */
  env: NodeJS.ProcessEnv;
  location: SshLocation;
  url: string;
  /** The script for the next connections. */
  script: FakeAgentScript;
  /** Feed requests received, newest last. */
  requests: FeedRequest[];
  connect(): Promise<AgentReplica>;
}

export async function startFakeAgent(t: TestContext, script: FakeAgentScript): Promise<FakeAgent> {
  const dir = tempDir(t, 'resonance-agent-');
  const bridge = join(dir, 'bridge.pl');
  writeFileSync(bridge, BRIDGE);
  chmodSync(bridge, 0o755);
  const socketPath = join(dir, 'agent.sock');
  const sockets = new Set<Socket>();
  const url = 'ssh://fake-phone/data/phone.sqlite3';
  const agent: FakeAgent = {
    env: { ...process.env, RESONANCE_SYNC_SSH: `perl ${bridge} ${socketPath}`, RESONANCE_SYNC_CONNECT_TIMEOUT: '5' },
    location: parsePeerUrl(url) as SshLocation,
    url,
    script,
    requests: [],
    connect: () =>
      AgentReplica.connect({ location: agent.location, remoteCommand: undefined, nodeName: 'phone', prepare: true, env: agent.env }),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    void serve(socket, agent).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return agent;
}

async function serve(socket: Socket, agent: FakeAgent): Promise<void> {
  socket.write(preambleLine('9.9.9-fake'));
  const frames = new FrameStream(socket, { preamble: false });
  const send = (type: number, write?: Parameters<typeof m.frameOf>[1]) => socket.write(m.frameOf(type, write));
  const script = agent.script;
  let infos = 0;
  let credit = 0;
  let cancelled = false;
  let wake: (() => void) | undefined;
  const wire: FeedWire = {
    write: (bytes) => void socket.write(bytes),
    get credit() {
      return credit;
    },
    room: async () => {
      while (credit <= 0 && !cancelled && !socket.destroyed) await new Promise<void>((resolve) => (wake = resolve));
      return !cancelled && !socket.destroyed;
    },
    spend: () => void credit--,
  };
  socket.once('close', () => wake?.());
  for (;;) {
    const frame = await frames.next();
    if (frame === undefined) return void socket.end();
    switch (frame.type) {
      case MessageType.HELLO:
        send(MessageType.WELCOME, (w) => m.writeWelcome(w, { location: '/data/phone.sqlite3', readOnly: false }));
        break;
      case MessageType.INFO: {
        const info = infos++ === 0 ? script.info : (script.laterInfo ?? script.info);
        send(MessageType.INFO_OK, (w) => m.writeInfo(w, info));
        break;
      }
      case MessageType.CURSOR:
        send(MessageType.CURSOR_OK, (w) => w.uint(0));
        break;
      case MessageType.FINISH:
        send(MessageType.FINISH_OK);
        break;
      case MessageType.LOG:
        // The passive end's own sync_log row (protocol 4): a real agent writes it; this one has no log.
        send(MessageType.LOG_OK);
        break;
      case MessageType.FEED_OPEN: {
        const open = m.decode(frame.payload, m.readFeedOpen);
        agent.requests.push(open.request);
        credit = open.credit;
        cancelled = false;
        void script.feed(open.request, wire).catch(() => socket.destroy());
        break;
      }
      case MessageType.FEED_CREDIT:
        credit += m.decode(frame.payload, (r) => r.uint());
        wake?.();
        break;
      case MessageType.FEED_CANCEL:
        cancelled = true;
        wake?.();
        send(MessageType.FEED_END);
        break;
      default:
        send(MessageType.ERROR, (w) =>
          m.writeError(w, { scope: 0, code: 'REMOTE_ERROR', message: `the fake agent does not answer ${frame.type}` }),
        );
    }
  }
}

/** Batches of `rows` for `request`, cut as the real feed reader cuts them (transport/local/feed.ts). */
export function honestBatches(rows: readonly FeedRow[], request: FeedRequest, feedEnd: number): FeedBatch[] {
  const batches: FeedBatch[] = [];
  let current: FeedRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    if (row.rowid <= request.afterRowid || row.origin === request.receiverId) continue;
    current.push(row);
    bytes += row.values.reduce<number>((sum, value) => sum + valueBytes(value), 0);
    if (current.length >= request.maxRows || bytes >= request.maxBytes) {
      batches.push({ rows: current, throughRowid: row.rowid, bytes });
      current = [];
      bytes = 0;
    }
  }
  const reached = batches.at(-1)?.throughRowid ?? request.afterRowid;
  if (current.length > 0 || feedEnd > reached) batches.push({ rows: current, throughRowid: Math.max(feedEnd, reached), bytes });
  return batches;
}

/** A feed script sending `batches` honestly: one per credit, then FEED_END. */
export function sendsHonestly(batches: (request: FeedRequest) => FeedBatch[]): FakeAgentScript['feed'] {
  return async (request, wire) => {
    for (const batch of batches(request)) {
      if (!(await wire.room())) return;
      wire.spend();
      wire.write(m.frameOf(MessageType.FEED_BATCH, (w) => m.writeBatch(w, batch)));
    }
    wire.write(m.frameOf(MessageType.FEED_END));
  };
}

/** The fake phone's node, a node it relayed entries from, and the columns it has. */
export const SENDER_ID = 'a1a1a1a1-0000-4000-8000-000000000001';
export const RELAY_ID = 'b2b2b2b2-0000-4000-8000-000000000002';
export const COLUMNS = ['timestamp', 'content', 'context', 'source'];

export function senderInfo(maxRowid: number, extra: Partial<ReplicaInfo> = {}): ReplicaInfo {
  return {
    node: { id: SENDER_ID, name: 'phone' },
    columns: COLUMNS,
    maxRowid,
    knownNodes: [{ id: RELAY_ID, name: 'relay' }],
    location: '/data/phone.sqlite3',
    ...extra,
  };
}

/** Entries 1..n of the fake phone's feed, a few relayed from another node. */
export function entries(n: number): FeedRow[] {
  return Array.from({ length: n }, (_, i) => ({
    rowid: i + 1,
    origin: i % 7 === 3 ? RELAY_ID : SENDER_ID,
    values: [
      `2025-11-30 22:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}`,
      `phone note ${i + 1}`,
      'c',
      `s${i % 3}`,
    ],
  }));
}

/** Pulls everything the agent offers into the database at `path`; the SyncError it ended with, if any. */
export async function pullFromAgent(
  path: string,
  agent: { connect(): Promise<AgentReplica> },
  limits: BatchLimits = { maxRows: 2000, maxBytes: 4 << 20 },
): Promise<SyncError | undefined> {
  const local = LocalReplica.open(path);
  try {
    const remote = await agent.connect();
    try {
      await syncReplicas(local, remote, {
        peerName: 'phone',
        pull: EVERYTHING,
        push: undefined,
        dryRun: false,
        writeSyncNote: false,
        limits,
      });
      return undefined;
    } finally {
      await remote.close();
    }
  } catch (error) {
    if (error instanceof SyncError) return error;
    throw error;
  } finally {
    await local.close();
  }
}
