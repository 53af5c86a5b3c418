/**
 * The agent wire protocol: what `resonance-sync serve --stdio` (the server, on the remote) and
 * AgentReplica (the client, here) say to each other over ssh's stdin/stdout. Like `rsync --server`
 * or `git-upload-pack`, one connection carries both directions of a sync.
 *
 * ## Preamble
 * The server first writes one line: `\0resonance-sync agent <protocol> <package version>\n`.
 * A remote shell rc file (~/.bashrc, motd scripts) may print text on stdout before the server
 * starts; the client discards everything before the preamble, up to MAX_JUNK_BYTES, and then fails
 * with a PROTOCOL_ERROR that names the shell banner. The preamble is frozen across all versions, so
 * two versions can always tell each other apart; a different `<protocol>` fails the handshake with
 * one line naming both versions and which side to upgrade (PROTOCOL_VERSION).
 *
 * ## Frames
 * After the preamble (server to client) and from the first byte (client to server):
 * `u32 big-endian length | u8 type | payload`, where length counts the type byte and the payload.
 * A length above MAX_FRAME_BYTES (64 MiB, so a 10 MB note fits many times over) is a PROTOCOL_ERROR,
 * raised before any of that frame is buffered.
 * A type byte with the high bit (0x80) set carries its payload compressed with raw DEFLATE (RFC
 * 1951); either end may send any frame so (src/protocol/compression.ts), the limit applies to the
 * inflated payload as well, and frames are taken in the order they arrived however long inflating takes.
 *
 * ## Payload encoding (src/protocol/writer.ts, reader.ts)
 * APPLY's through rowid is a sint: -1 marks a repair batch (verify --repair) that moves no cursor.
 * uint: unsigned LEB128 (up to 2^53); sint: zigzag LEB128 over bigint (any 64-bit SQLite INTEGER);
 * bool: one byte; string: uint header `byteLength << 1 | utf16` then UTF-8 bytes, or UTF-16LE bytes
 * when the string holds a lone surrogate (so every JS string survives exactly);
 * value: a tag byte, then NULL: nothing | INTEGER: sint | REAL: float64 big-endian (keeps -0, ±Infinity,
 * and 1.0 stays REAL) | TEXT: string | BLOB: uint length + bytes.
 * rows: uint count, uint width, uint origin count, origin strings, then per row: sint rowid delta
 * from the previous row, uint index into the origins, `width` values. Origins are node ids (36
 * bytes); a per-batch table keeps them from dominating the wire.
 * route: strings include-context, exclude-context, include-source, exclude-source, local-contexts (the
 * device-local patterns in force, core/route.ts), bool only-kept-home.
 *
 * ## Messages
 * | type | name        | dir | payload                                                            |
 * | 0x01 | HELLO       | c>s | uint protocol, string client version, string db path, bool home-relative, string? node name, bool prepare |
 * | 0x02 | WELCOME     | s>c | string location (the served file's real path), bool read-only      |
 * | 0x03 | ERROR       | s>c | u8 scope (0: the pending request, 1: the open feed), string code, string message |
 * | 0x10 | INFO        | c>s | -                    -> INFO_OK  0x11: ReplicaInfo                 |
 * | 0x12 | CURSOR      | c>s | sender id, route key -> CURSOR_OK 0x13: uint rowid                  |
 * | 0x14 | APPLY       | c>s | ApplyRequest         -> APPLY_OK 0x15: ApplyResult                 |
 * | 0x16 | FINISH      | c>s | ReceiveReport        -> FINISH_OK 0x17: -                          |
 * | 0x18 | DIGEST      | c>s | route, string entry hash function, bool has-buckets, buckets -> DIGEST_OK 0x19: bucket digests, entry hashes |
 * | 0x1a | ROWS_BY_HASH| c>s | route, string entry hash function, columns, hashes -> ROWS_BY_HASH_OK 0x1b: rows (for verify --repair) |
 * | 0x1c | LOG         | c>s | ExchangeRecord: string peer, string direction, string status, uint received, sent, duplicates, batches, rejected, string? error code, string? message, refusals -> LOG_OK 0x1d: - |
 * | 0x20 | FEED_OPEN   | c>s | FeedRequest, uint credit                                           |
 * | 0x21 | FEED_CREDIT | c>s | uint more batches the client has room for                          |
 * | 0x22 | FEED_CANCEL | c>s | - (the client stopped reading; the server ends the feed)           |
 * | 0x23 | FEED_BATCH  | s>c | rows, uint through rowid, uint bytes                               |
 * | 0x24 | FEED_END    | s>c | -                                                                  |
 *
 * Requests are answered in order, one at a time. A feed runs beside them: each FEED_OPEN ends with
 * exactly one FEED_END or ERROR(scope 1), even after FEED_CANCEL, so both ends stay in step. The
 * server sends a batch only while it holds credit, so a slow receiver never makes it read (or the
 * client buffer) more than a couple of batches ahead: memory stays flat however large the delta.
The client holds the server to it: a FEED_BATCH beyond the credit granted ends the connection with a
PROTOCOL_ERROR. A message of rows is checked before any row is built: no more rows than were asked
(a feed's maxRows, a ROWS_BY_HASH's hashes, MAX_MESSAGE_ROWS for APPLY), each as wide as the columns
asked, and no more rows than the bytes left can hold; what the rows mean (origins, rowids, cursors)
is checked by the receiver whatever the transport (src/core/feed-checks.ts).
 * Any request may fail with ERROR(scope 0) carrying a SyncError code; the client re-throws the same
 * code. The client ends the session by closing stdin; the server then closes the database and exits.
 */

/**
 * Bumped on any incompatible change to frames or messages (the preamble itself never changes). 2: compressed frames.
 * 3: a route carries its device-local contexts (strings, bool only-kept-home); APPLY_OK carries why entries were refused.
 * 4: LOG, the agent's own sync_log row for each direction the client ran with it.
 * 5: DIGEST's entry hashes and bucket digests are of the identity keys' bytes, not their hex (store/digest.ts):
 *    same frames, other values, so a protocol-4 agent's digests would differ from every bucket of ours.
 * 6: DIGEST and ROWS_BY_HASH name the entry hash function (core/replica.ts EntryHashName): SHA-256
 *    between two Node ends, where 5 always took SHA3-256; and the identity key puts content last,
 *    without its length (store/digest.ts identityKeySql).
 */
export const PROTOCOL_VERSION = 6;

export const PREAMBLE_MAGIC = '\0resonance-sync agent ';
/** What a shell banner may print before the preamble, at most. */
export const MAX_JUNK_BYTES = 64 * 1024;
/** The rest of the preamble line after the magic, at most. */
export const MAX_PREAMBLE_LINE = 128;
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;
export const FRAME_HEADER_BYTES = 5;
/**
 * Entries in one message, at most: far above any real batch (the 4 MB byte limit cuts a batch of
 * notes long before), and low enough that decoding one frame of tiny rows cannot fill memory.
 */
export const MAX_MESSAGE_ROWS = 1_000_000;
/**
 * Batches the server may send ahead of the client's reading: enough to overlap network and disk.
 * (3 was measured: an initial 100k over ssh 1-7 % faster in alternating runs, but a peak RSS of up to
 * 160 MB in the full bench against 125-134 MB with 2, where the target is 150.)
 */
export const FEED_CREDIT = 2;

/** The tag byte in front of every SQL value. */
export const ValueTag = { null: 0, integer: 1, real: 2, text: 3, blob: 4 } as const;

export const MessageType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  ERROR: 0x03,
  INFO: 0x10,
  INFO_OK: 0x11,
  CURSOR: 0x12,
  CURSOR_OK: 0x13,
  APPLY: 0x14,
  APPLY_OK: 0x15,
  FINISH: 0x16,
  FINISH_OK: 0x17,
  DIGEST: 0x18,
  DIGEST_OK: 0x19,
  ROWS_BY_HASH: 0x1a,
  ROWS_BY_HASH_OK: 0x1b,
  LOG: 0x1c,
  LOG_OK: 0x1d,
  FEED_OPEN: 0x20,
  FEED_CREDIT: 0x21,
  FEED_CANCEL: 0x22,
  FEED_BATCH: 0x23,
  FEED_END: 0x24,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const NAMES = new Map<number, string>(Object.entries(MessageType).map(([name, type]) => [type, name]));

export function messageName(type: number): string {
  return NAMES.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

export interface Frame {
  type: number;
  payload: Uint8Array;
}

export interface Hello {
  protocol: number;
  clientVersion: string;
  /** As the peer URL names it: absolute, or relative to the remote home when homeRelative. */
  dbPath: string;
  homeRelative: boolean;
  /** The peer's configured name, for naming the remote node when it is prepared on first contact. */
  nodeName: string | undefined;
  /** False in dry runs: the server must write nothing, not even the preparation or the lock file. */
  prepare: boolean;
}

export interface Welcome {
  location: string;
  readOnly: boolean;
}

export const ErrorScope = { request: 0, feed: 1 } as const;
export type ErrorScope = (typeof ErrorScope)[keyof typeof ErrorScope];

export interface ErrorMessage {
  scope: ErrorScope;
  code: string;
  message: string;
}

export interface Preamble {
  protocol: number;
  version: string;
}

export function preambleLine(version: string): string {
  return `${PREAMBLE_MAGIC}${PROTOCOL_VERSION} ${version}\n`;
}
