/**
 * The agent protocol's codec and framing, by property: every SQLite value keeps its exact type and
 * bits, messages survive any chunking of the byte stream, oversize or malformed input fails as a
 * PROTOCOL_ERROR (never a crash), and the wire stays close to the size of the notes themselves.
 */
import { DEFAULT_LOCAL_CONTEXTS } from '../../src/core/route.js';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import fc from 'fast-check';
import { deflateRawSync } from 'node:zlib';
import { SyncError } from '../../src/core/errors.js';
import { Reader } from '../../src/protocol/reader.js';
import type { Writer } from '../../src/protocol/writer.js';
import { FrameStream, writeFrame } from '../../src/protocol/channel.js';
import { COMPRESSED_FLAG } from '../../src/protocol/compression.js';
import { FrameDecoder, PreambleScanner } from '../../src/protocol/framing.js';
import * as m from '../../src/protocol/messages.js';
import { MAX_FRAME_BYTES, MAX_JUNK_BYTES, MessageType, preambleLine, type Frame } from '../../src/protocol/protocol.js';
import type { ApplyRequest, FeedBatch, FeedRow } from '../../src/core/replica.js';
import type { SqlValue } from '../../src/core/sql-value.js';

const anyUtf16 = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) });
const sqlValue: fc.Arbitrary<SqlValue> = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.constantFrom(0n, -1n, 2n ** 53n + 1n, -(2n ** 63n), 2n ** 63n - 1n),
  fc.double(),
  fc.constantFrom(1.0, -0, 0.1, Infinity, -Infinity, Number.MIN_VALUE, Number.MAX_VALUE),
  fc.string({ unit: 'binary' }),
  anyUtf16,
  fc.constantFrom('', 'ж🙂\u0000', '\ud800', 'a\udfffb'),
  fc.uint8Array({ maxLength: 64 }),
  fc.constant(new Uint8Array(0)),
);

function sameValue(actual: SqlValue | undefined, expected: SqlValue): void {
  assert.equal(typeof actual, typeof expected);
  if (expected instanceof Uint8Array) {
    assert.ok(actual instanceof Uint8Array, 'a BLOB stays a BLOB');
    assert.deepEqual(Buffer.from(actual), Buffer.from(expected));
  } else if (typeof expected === 'number') {
    assert.ok(Object.is(actual, expected), `${String(actual)} is ${expected} (REAL bits, -0 and NaN included)`);
  } else {
    assert.equal(actual, expected);
  }
}

/** Encodes into a frame and decodes it back through the frame decoder, as the wire would. */
function viaWire<T>(write: (w: Writer) => void, read: (r: Reader) => T): T {
  const frames = new FrameDecoder().push(m.frameOf(0x42, write));
  assert.equal(frames.length, 1);
  return m.decode((frames[0] as Frame).payload, read);
}

test('every SQLite value round-trips with its exact type', () => {
  fc.assert(
    fc.property(fc.array(sqlValue, { maxLength: 12 }), (values) => {
      const decoded = viaWire(
        (w) => {
          for (const v of values) w.value(v);
        },
        (r) => values.map(() => r.value()),
      );
      for (const [i, value] of values.entries()) sameValue(decoded[i], value);
    }),
    { numRuns: 500 },
  );
});

/** Zigzag LEB128 as protocol.ts defines it, written the slow obvious way: what the codec's number fast paths must equal. */
function referenceSint(value: bigint): number[] {
  let rest = value >= 0n ? value << 1n : (-value << 1n) - 1n;
  const bytes: number[] = [];
  while (rest >= 0x80n) {
    bytes.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  bytes.push(Number(rest));
  return bytes;
}

test('a rowid delta is written with the same bytes as any sint, and read back exactly, at every magnitude', () => {
  const safe = fc.oneof(
    fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    fc.constantFrom(
      0,
      -1,
      2 ** 49 - 1,
      2 ** 49,
      -(2 ** 49),
      2 ** 52 - 1,
      2 ** 52,
      -(2 ** 52),
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ),
  );
  fc.assert(
    fc.property(safe, (delta) => {
      const frame = m.frameOf(0x42, (w) => w.sintNumber(delta));
      assert.deepEqual([...frame.subarray(5)], referenceSint(BigInt(delta)));
      assert.equal(
        viaWire(
          (w) => w.sintNumber(delta),
          (r) => r.sintNumber(),
        ),
        delta,
      );
      assert.equal(
        viaWire(
          (w) => w.sintNumber(delta),
          (r) => r.sint(),
        ),
        BigInt(delta),
      );
    }),
    { numRuns: 1000 },
  );
});

test('any byte string reads as the same sint (or the same error) with the short-value fast path as without it', () => {
  /** The reading before the fast path: bigint arithmetic on every byte. */
  function referenceRead(bytes: number[]): bigint | string {
    let value = 0n;
    let shift = 0n;
    for (let i = 0; ; i++) {
      if (i >= bytes.length) return 'runs past the end';
      const byte = bytes[i] as number;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7n;
      if (shift > 63n) return 'too long';
    }
    const decoded = value & 1n ? -((value + 1n) >> 1n) : value >> 1n;
    if (decoded > 0x7fffffffffffffffn || decoded < -0x8000000000000000n) return 'exceeds 64 bits';
    return decoded;
  }
  const continued = fc.integer({ min: 0x80, max: 0xff });
  const last = fc.integer({ min: 0, max: 0x7f });
  const bytes = fc.oneof(
    fc.tuple(fc.array(continued, { maxLength: 11 }), last).map(([more, end]) => [...more, end]),
    fc.array(fc.integer({ min: 0, max: 0xff }), { maxLength: 12 }),
  );
  fc.assert(
    fc.property(bytes, (input) => {
      const expected = referenceRead(input);
      const reader = new Reader(Uint8Array.from(input));
      let actual: bigint | string;
      try {
        actual = reader.sint();
      } catch (error) {
        assert.ok(error instanceof SyncError && error.code === 'PROTOCOL_ERROR');
        actual = /past the end/.test(error.message) ? 'runs past the end' : /too long/.test(error.message) ? 'too long' : 'exceeds 64 bits';
      }
      assert.equal(actual, expected);
    }),
    { numRuns: 2000 },
  );
});

const feedRow: fc.Arbitrary<FeedRow> = fc.record({
  rowid: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  origin: fc.oneof(fc.constantFrom('8c4a0d6e-0a3e-4a40-9a55-6c0d3b0f7e11', 'phone'), anyUtf16),
  values: fc.constant<SqlValue[]>([]),
});

test('apply requests and feed batches round-trip (rows, origins, routes, cursors)', () => {
  const rows = fc.integer({ min: 0, max: 5 }).chain((width) =>
    fc.array(
      fc.tuple(feedRow, fc.array(sqlValue, { minLength: width, maxLength: width })).map(([row, values]) => ({ ...row, values })),
      { maxLength: 8 },
    ),
  );
  const node = fc.record({ id: fc.string(), name: anyUtf16 }).map(({ id, name }) => ({ id, name }));
  fc.assert(
    fc.property(
      rows,
      node,
      fc.array(node, { maxLength: 3 }),
      fc.nat(),
      fc.boolean(),
      fc.option(fc.string(), { nil: undefined }),
      (feedRows, sender, knownNodes, through, flag, newest) => {
        // As wide as the columns named: the codec refuses anything else before building rows.
        const columns = feedRows[0] ? feedRows[0].values.map((_, i) => `c${i}`) : ['timestamp', 'content'];
        const apply: ApplyRequest = {
          sender,
          routeKey: 'k',
          columns,
          rows: feedRows,
          throughRowid: through,
          rewound: flag,
          knownNodes,
          dryRun: !flag,
        };
        const back = viaWire((w) => m.writeApply(w, apply), m.readApply);
        assert.equal(back.rows.length, apply.rows.length);
        back.rows.forEach((row, i) => {
          const sent = apply.rows[i] as FeedRow;
          assert.equal(row.rowid, sent.rowid);
          assert.equal(row.origin, sent.origin);
          for (const [j, value] of sent.values.entries()) sameValue(row.values[j], value);
        });
        assert.deepEqual({ ...back, rows: [] }, { ...apply, rows: [] });
        const batch: FeedBatch = { rows: [], throughRowid: through, bytes: 7 };
        assert.deepEqual(
          viaWire((w) => m.writeBatch(w, batch), m.readBatch),
          batch,
        );
        const refusals = flag
          ? [
              { column: 'source', count: 2 },
              { column: null, count: 1 },
            ]
          : [];
        const result = { received: through, duplicates: 1, rejected: flag ? 3 : 0, syncNotes: 2, newestTimestamp: newest, refusals };
        assert.deepEqual(
          viaWire((w) => m.writeApplyResult(w, result), m.readApplyResult),
          result,
        );
      },
    ),
    { numRuns: 300 },
  );
});

function sampleStream(): { bytes: Buffer; frames: Frame[] } {
  const frames: Frame[] = [
    {
      type: MessageType.WELCOME,
      payload: Buffer.from(m.frameOf(0, (w) => m.writeWelcome(w, { location: '/x', readOnly: false })).subarray(5)),
    },
    { type: MessageType.FEED_END, payload: Buffer.alloc(0) },
    { type: MessageType.FEED_BATCH, payload: Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256)) },
  ];
  const encoded = frames.map((f) =>
    m.frameOf(f.type, (w) => {
      for (const byte of f.payload) w.u8(byte);
    }),
  );
  const bytes = Buffer.concat([Buffer.from('Welcome to pyenv!\nmotd\n'), Buffer.from(preambleLine('9.9.9')), ...encoded]);
  return { bytes, frames };
}

async function readAll(chunks: Buffer[]): Promise<{ frames: Frame[]; version: string | undefined }> {
  const input = new PassThrough();
  const stream = new FrameStream(input, { preamble: true });
  for (const chunk of chunks) input.write(chunk);
  input.end();
  const found = await stream.preamble;
  const frames: Frame[] = [];
  for (let frame = await stream.next(); frame; frame = await stream.next())
    frames.push({ type: frame.type, payload: Buffer.from(frame.payload) });
  return { frames, version: found.ok ? found.preamble.version : undefined };
}

test('frames and the preamble survive a split at every byte boundary, and any chunking', async () => {
  const { bytes, frames } = sampleStream();
  for (let cut = 0; cut <= bytes.length; cut++) {
    const result = await readAll([bytes.subarray(0, cut), bytes.subarray(cut)]);
    assert.equal(result.version, '9.9.9', `cut at ${cut}`);
    assert.deepEqual(result.frames, frames, `cut at ${cut}`);
  }
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 60 }), async (sizes) => {
      const chunks: Buffer[] = [];
      let at = 0;
      for (let i = 0; at < bytes.length; i++) {
        const size = sizes[i % sizes.length] as number;
        chunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual((await readAll(chunks)).frames, frames);
    }),
    { numRuns: 100 },
  );
});

test('an oversize or empty frame is refused from its header alone', () => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(MAX_FRAME_BYTES + 1, 0);
  assert.throws(
    () => new FrameDecoder().push(header),
    (e: SyncError) => e.code === 'PROTOCOL_ERROR' && /exceeds/.test(e.message),
  );
  assert.throws(
    () => new FrameDecoder().push(Buffer.alloc(5)),
    (e: SyncError) => e.code === 'PROTOCOL_ERROR',
  );
  // The limit itself is allowed: a 10 MB note fits in one frame many times over.
  header.writeUInt32BE(MAX_FRAME_BYTES, 0);
  assert.deepEqual(new FrameDecoder().push(header), []);
});

test('a shell banner before the preamble is skipped up to 64 KiB, then named in the error', () => {
  const banner = Buffer.alloc(MAX_JUNK_BYTES, 'x');
  const ok = new PreambleScanner().push(Buffer.concat([banner, Buffer.from(preambleLine('1.0.0'))]));
  assert.equal(ok?.preamble.version, '1.0.0');
  assert.equal(ok?.junkBytes, MAX_JUNK_BYTES);
  const scanner = new PreambleScanner();
  assert.throws(
    () => {
      for (let i = 0; i < 100; i++) scanner.push(Buffer.from(`Welcome, this is line ${i} of a chatty ~/.bashrc${' '.repeat(1000)}\n`));
    },
    (e: SyncError) => e.code === 'PROTOCOL_ERROR' && /shell banner/.test(e.message) && /chatty/.test(e.message),
  );
  assert.throws(
    () => new PreambleScanner().push(Buffer.from('\0resonance-sync agent one two three\n')),
    (e: SyncError) => e.code === 'PROTOCOL_ERROR',
  );
});

test('malformed payloads fail as PROTOCOL_ERROR, never as a crash', () => {
  const decoders = [m.readApply, m.readBatch, m.readInfo, m.readHello, m.readFeedOpen, m.readReport, m.readError];
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat({ max: decoders.length - 1 }), (bytes, which) => {
      try {
        m.decode(bytes, decoders[which] as (r: Reader) => unknown);
      } catch (error) {
        assert.ok(error instanceof SyncError && error.code === 'PROTOCOL_ERROR', String(error));
      }
    }),
    { numRuns: 2000 },
  );
});

test('wire size stays within 1.2x of the notes themselves; a 10 MB note fits in one frame', () => {
  const origins = ['2f1e7a52-1c1b-4d0e-9d7e-1b1a5b9e0c01', 'a7d43c9e-55a4-4c55-8f0e-4b0c1d2e3f40'];
  const rows: FeedRow[] = Array.from({ length: 2000 }, (_, i) => ({
    rowid: 100_000 + i * 2,
    origin: origins[i % 7 === 0 ? 1 : 0] as string,
    values: [
      `2025-11-30T22:${String(i % 60).padStart(2, '0')}:00.123456`,
      `note ${i}: ${'мысль и resonance '.repeat(1 + (i % 9))}`,
      'leo_development',
      i % 3 ? 'scribe' : null,
    ],
  }));
  const own = rows.reduce(
    (sum, row) => sum + row.values.reduce<number>((s, v) => s + (typeof v === 'string' ? Buffer.byteLength(v) : 0), 0),
    0,
  );
  const wire = m.frameOf(MessageType.FEED_BATCH, (w) => m.writeBatch(w, { rows, throughRowid: 104_000, bytes: own })).length;
  assert.ok(wire <= own * 1.2, `wire ${wire} bytes for ${own} bytes of notes (${(wire / own).toFixed(3)}x)`);

  const big = `${'ж'.repeat(5 * 1024 * 1024)}🙂`;
  const back = viaWire((w) => m.writeRows(w, [{ rowid: 1, origin: 'x', values: [big] }]), m.readRows);
  assert.equal(back[0]?.values[0], big);
});

test('large frames travel deflated and arrive intact and in order; corrupt or bomb-sized ones are PROTOCOL_ERROR', async () => {
  const rows: FeedRow[] = Array.from({ length: 500 }, (_, i) => ({
    rowid: i + 1,
    origin: 'o',
    values: [`2025-11-30 22:00:${i % 60}`, `заметка ${i} about resonance `.repeat(1 + (i % 5)), null],
  }));
  const big = m.frameOf(MessageType.FEED_BATCH, (w) => m.writeBatch(w, { rows, throughRowid: 500, bytes: 0 }));
  const small = m.frameOf(MessageType.FEED_CREDIT, (w) => w.uint(1));
  const pipe = new PassThrough();
  const sent: Buffer[] = [];
  pipe.on('data', (chunk: Buffer) => sent.push(chunk));
  // Handed over without waiting: the small frames must not overtake the big one being compressed.
  await Promise.all([writeFrame(pipe, big), writeFrame(pipe, small), writeFrame(pipe, big), writeFrame(pipe, small)]);
  pipe.end();
  const wire = Buffer.concat(sent);
  assert.ok(wire.length < big.length, `${wire.length} bytes on the wire for ${2 * big.length + 2 * small.length} bytes of frames`);
  assert.equal((wire[4] as number) & COMPRESSED_FLAG, COMPRESSED_FLAG, 'the batch went deflated');
  const stream = new FrameStream(streamOf([wire]), { preamble: false });
  const types: number[] = [];
  for (let frame = await stream.next(); frame; frame = await stream.next()) {
    types.push(frame.type);
    if (frame.type === MessageType.FEED_BATCH) assert.deepEqual(m.decode(frame.payload, m.readBatch).rows, rows);
  }
  assert.deepEqual(types, [MessageType.FEED_BATCH, MessageType.FEED_CREDIT, MessageType.FEED_BATCH, MessageType.FEED_CREDIT]);

  const frameWith = (payload: Uint8Array) => {
    const out = Buffer.alloc(5 + payload.length);
    out.writeUInt32BE(1 + payload.length, 0);
    out[4] = MessageType.FEED_BATCH | COMPRESSED_FLAG;
    out.set(payload, 5);
    return out;
  };
  const corrupt = new FrameStream(streamOf([frameWith(Buffer.from('not deflate at all, not at all'))]), { preamble: false });
  await assert.rejects(corrupt.next(), (error: unknown) => error instanceof SyncError && error.code === 'PROTOCOL_ERROR');
  // 65 MiB of zeros deflate to about 64 KiB: the inflated size is held to the frame limit too.
  const bomb = new FrameStream(streamOf([frameWith(deflateRawSync(Buffer.alloc(MAX_FRAME_BYTES + 1024 * 1024)))]), { preamble: false });
  await assert.rejects(
    bomb.next(),
    (error: unknown) => error instanceof SyncError && error.code === 'PROTOCOL_ERROR' && /too large|corrupt/.test(error.message),
  );
});

function streamOf(chunks: Buffer[]): PassThrough {
  const stream = new PassThrough();
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  return stream;
}

test('a route travels with its device-local list resolved and its only-kept-home flag (protocol 3)', () => {
  const request = { afterRowid: 4, receiverId: 'r', columns: ['timestamp'], maxRows: 10, maxBytes: 100 };
  const route = { includeContext: ['a*'], excludeContext: [], includeSource: ['*'], excludeSource: [] };
  const open = (r: typeof route & { localContexts?: string[]; onlyKeptHome?: boolean }) =>
    viaWire((w) => m.writeFeedOpen(w, { ...request, route: r }, 2), m.readFeedOpen).request.route;
  assert.deepEqual(open(route), { ...route, localContexts: [...DEFAULT_LOCAL_CONTEXTS], onlyKeptHome: false });
  assert.deepEqual(open({ ...route, localContexts: [], onlyKeptHome: true }), { ...route, localContexts: [], onlyKeptHome: true });
});
