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
import { constants, deflateRaw, inflateRaw } from 'node:zlib';
import { SyncError } from '../core/errors.js';
import { FRAME_HEADER_BYTES, MAX_FRAME_BYTES, messageName, type Frame } from './protocol.js';

export const COMPRESSED_FLAG = 0x80;
const MIN_COMPRESSED_BYTES = 1024;

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

/** The frame as it should go on the wire: deflated when large enough and worth it. */
export async function compressFrame(frame: Uint8Array): Promise<Uint8Array> {
  const payload = frame.subarray(FRAME_HEADER_BYTES);
  if (payload.byteLength < MIN_COMPRESSED_BYTES) return frame;
  const deflated = await deflate(payload, { level: constants.Z_BEST_SPEED });
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
    return { type, payload: await inflate(frame.payload, { maxOutputLength: MAX_FRAME_BYTES }) };
  } catch (error) {
    throw new SyncError(
      'PROTOCOL_ERROR',
      `a compressed ${messageName(type)} frame from the agent is corrupt or too large (${(error as Error).message})`,
      { cause: error },
    );
  }
}
