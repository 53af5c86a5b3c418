/**
 * Frame compression: notes are text, and raw DEFLATE at its fastest level shrinks a batch of them to
 * about a third, which is what a phone on a mobile link or a Wi-Fi hop needs, whatever the user's ssh
 * config says about Compression. The work runs on libuv's thread pool, so compressing one batch
 * overlaps reading the next one (and inflating overlaps writing, on the other end).
 *
 * On the wire: a frame whose type byte has COMPRESSED_FLAG set carries its payload deflated (RFC 1951,
 * no header). Only frames of at least MIN_COMPRESSED_BYTES are tried, and one is sent deflated only
 * when that is smaller.
 */
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import type { ZlibOptions } from 'node:zlib';
import { SyncError } from '../core/errors.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES, messageName, type Frame } from './protocol.js';

export const COMPRESSED_FLAG = 0x80;
const MIN_COMPRESSED_BYTES = 1024;

/** node:zlib, loaded with the first compressed frame: an import would load it into the start of every command and of the agent (cli/main.ts). */
let zlibCalls: { deflate: Codec; inflate: Codec; bestSpeed: number } | undefined;
type Codec = (payload: Uint8Array, options: ZlibOptions) => Promise<Buffer>;
function zlib(): { deflate: Codec; inflate: Codec; bestSpeed: number } {
  if (zlibCalls === undefined) {
    const module: typeof import('node:zlib') = createRequire(import.meta.url)('node:zlib');
    zlibCalls = { deflate: promisify(module.deflateRaw), inflate: promisify(module.inflateRaw), bestSpeed: module.constants.Z_BEST_SPEED };
  }
  return zlibCalls;
}

/** zlib's own output chunk (16 KiB), and the largest we ask for. */
const MIN_CHUNK_BYTES = 16 * 1024;
const MAX_CHUNK_BYTES = 8 * 1024 * 1024;
/** What a deflated byte of notes inflates to, rounded up (a batch of notes deflates to about a fifth). */
const INFLATED_PER_DEFLATED_BYTE = 8;

/**
 * zlib's output chunk for an expected output size: the whole output in one chunk where it fits.
 * zlib hands each chunk back across the thread pool and the result is copied together from them,
 * so a 600 KB batch inflated in 16 KiB chunks took 40 such trips (7 ms, against 1 ms in one). The
 * output itself stays bounded by maxOutputLength; a chunk only sizes the buffer it is written in.
 */
function chunkSizeFor(expectedBytes: number): number {
  return Math.min(MAX_CHUNK_BYTES, Math.max(MIN_CHUNK_BYTES, Math.ceil(expectedBytes)));
}

/** The frame as it should go on the wire: deflated when large enough and worth it. */
export async function compressFrame(frame: Uint8Array): Promise<Uint8Array> {
  const payload = frame.subarray(FRAME_HEADER_BYTES);
  if (payload.byteLength < MIN_COMPRESSED_BYTES) return frame;
  const deflated = await zlib().deflate(payload, { level: zlib().bestSpeed, chunkSize: chunkSizeFor(payload.byteLength / 2) });
  if (deflated.byteLength >= payload.byteLength) return frame;
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + deflated.byteLength);
  out.writeUInt32BE(1 + deflated.byteLength, 0);
  out[4] = (frame[4] as number) | COMPRESSED_FLAG;
  out.set(deflated, FRAME_HEADER_BYTES);
  return out;
}

/** The frame as it was before compression; the size limit applies to the inflated payload too. */
export async function decompressFrame(frame: Frame): Promise<Frame> {
  if ((frame.type & COMPRESSED_FLAG) === 0) return frame;
  const type = frame.type & ~COMPRESSED_FLAG;
  try {
    const chunkSize = chunkSizeFor(frame.payload.byteLength * INFLATED_PER_DEFLATED_BYTE);
    return { type, payload: await zlib().inflate(frame.payload, { maxOutputLength: MAX_FRAME_BYTES, chunkSize }) };
  } catch (error) {
    throw new SyncError(
      'PROTOCOL_ERROR',
      `a compressed ${messageName(type)} frame from the agent is corrupt or too large (${(error as Error).message})`,
      { cause: error },
    );
  }
}
