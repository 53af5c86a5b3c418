/**
 * Entry hashes of identity keys (digest.ts), many at a time, with a second thread helping.
 *
 * An entry hash is the first 8 bytes of a digest of the entry's identity key (SHA-256 or SHA3-256,
 * core/replica.ts EntryHashName), read as a big-endian 64-bit integer: for an agentless peer the
 * sqlite3 shell's sha3() computes the same. The keys come a slice at a time (one BLOB of keys and
 * their lengths, as digest.ts reads them). Hashing takes about as long as SQLite's reading of them
 * (each key is one call into OpenSSL, ~0.5 µs before the first byte is hashed), so while this thread
 * reads the next slices a worker thread hashes earlier ones: a local verify hashes both databases,
 * and an agent on a phone has cores to spare too.
 *
 * Nothing waits on the worker while there is reading to do: a slice goes to it only while fewer
 * than IN_FLIGHT are queued there, else this thread hashes it itself, so the two share the work
 * whatever their speeds, and what is held is a few slices. Answers are taken in between reads
 * (receiveMessageOnPort), so the table is still read in one synchronous walk; only the last answers
 * are awaited. Should the worker fail or exit, what it was given is hashed here.
 */
import * as crypto from 'node:crypto';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { EntryHashName } from '../core/replica.js';

type Digest = (bytes: Uint8Array) => Buffer;
/** A digest as a string of latin1 characters, one per byte ('binary' is Node's name for latin1). */
type DigestText = (bytes: Uint8Array) => string;

/** The digest `name` in one call where Node has crypto.hash (20.12+: no Hash object per entry), else through createHash. */
function digestOf(node: typeof crypto, name: string): Digest {
  return typeof node.hash === 'function'
    ? (bytes) => node.hash(name, bytes, 'buffer')
    : (bytes) => node.createHash(name).update(bytes).digest();
}

/**
 * digestOf, the digest as latin1 text: for one call per entry. A Buffer per digest cost more than
 * hashing a 400-byte key (measured at 300k keys: 3.7-6.9 µs an entry with a Buffer, 2.4-4.4 µs
 * with text), its memory being a separate allocation the collector must free.
 */
function digestTextOf(node: typeof crypto, name: string): DigestText {
  return typeof node.hash === 'function'
    ? (bytes) => node.hash(name, bytes, 'binary')
    : (bytes) => node.createHash(name).update(bytes).digest('binary');
}

/**
 * The entry hashes of one slice: `keys` holds the keys back to back, `lengths` their byte lengths
 * ("12,7,…"). Each hash is written as the two 32-bit halves of its BigUint64Array element (in the
 * platform's byte order), so no BigInt is made per entry. Written once for both threads: the worker
 * runs this very function's text, so it may use nothing from outside it but its arguments.
 */
function hashSlice(digest: DigestText, keys: Uint8Array, lengths: string): BigUint64Array {
  const parts = lengths.split(',');
  const hashes = new BigUint64Array(parts.length);
  const words = new Uint32Array(hashes.buffer);
  const high = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    const end = at + Number(parts[i]);
    const d = digest(keys.subarray(at, end));
    words[2 * i + high] = (d.charCodeAt(0) << 24) | (d.charCodeAt(1) << 16) | (d.charCodeAt(2) << 8) | d.charCodeAt(3);
    words[2 * i + 1 - high] = (d.charCodeAt(4) << 24) | (d.charCodeAt(5) << 16) | (d.charCodeAt(6) << 8) | d.charCodeAt(7);
    at = end;
  }
  if (at !== keys.length) throw new Error(`identity keys of ${keys.length} bytes, but their lengths add up to ${at}`);
  return hashes;
}

/** SHA3-256, whole: what a bucket's digest is taken with (the shell's sha3_query(), digest.ts). */
export const sha3 = digestOf(crypto, 'sha3-256');
/**
 * Which of the two Uint32Array words of a BigUint64Array element holds its high 32 bits (1 on a
 * little-endian machine), for code that reads entry hashes without making a BigInt of each.
 * (hashSlice finds the same by itself: the worker runs its text alone.)
 */
export const HIGH_WORD = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 1 : 0;
const digestTexts = new Map<EntryHashName, DigestText>();
/** The entry hash function `name`, made once. */
function digestText(name: EntryHashName): DigestText {
  let made = digestTexts.get(name);
  if (!made) {
    made = digestTextOf(crypto, name);
    digestTexts.set(name, made);
  }
  return made;
}

/** An entry's hash taken with `name`, as a 64-bit integer (its first byte is its bucket). */
export function entryHash(identityKey: Uint8Array, name: EntryHashName): bigint {
  // The function made once per name (this runs per row of a repair's scan), its first 8 bytes read as they come.
  return Buffer.from(digestText(name)(identityKey).slice(0, 8), 'latin1').readBigUInt64BE(0);
}

/** One slice's keys (their bytes back to back) and their lengths ("12,7,…"), as digest.ts reads them. */
export interface KeySlice {
  keys: Uint8Array;
  lengths: string;
}

/** Slices queued at the worker at most: enough that it never waits for the next, few enough to hold little. */
const IN_FLIGHT = 3;

interface Answer {
  id: number;
  hashes?: BigUint64Array;
  error?: string;
}

/** The worker's program: hashSlice, with the digest it was started for, on every slice it is sent. */
const WORKER_SOURCE = `'use strict';
const { workerData } = require('node:worker_threads');
const digest = (${digestTextOf.toString()})(require('node:crypto'), workerData.name);
const hashSlice = ${hashSlice.toString()};
workerData.port.on('message', ({ id, keys, lengths }) => {
  try {
    const hashes = hashSlice(digest, keys, lengths);
    workerData.port.postMessage({ id, hashes }, [hashes.buffer]);
  } catch (error) {
    workerData.port.postMessage({ id, error: String((error && error.message) || error) });
  }
});`;

/**
 * Hands `use` the entry hashes (taken with `name`) of every key it is given, a slice's at a time, in
 * no particular order; all of them once `finish` has resolved. With `helper` false (a small table:
 * starting a thread would cost more than it saves) every key is hashed in this thread.
 */
export class EntryHasher {
  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  /** Settles when the worker has exited (for whatever reason: its queue is then hashed here). */
  private exited: Promise<void> = Promise.resolve();
  /** The slices at the worker, by id: how to read each again, should the worker never answer. */
  private readonly queued = new Map<number, () => KeySlice | undefined>();
  private nextId = 0;

  private readonly digest: DigestText;

  constructor(
    private readonly use: (hashes: BigUint64Array) => void,
    helper: boolean,
    private readonly name: EntryHashName,
  ) {
    this.digest = digestText(name);
    if (!helper) return;
    try {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { port: port2, name },
        transferList: [port2],
        // Slices and hashes travel outside the heap: hashing needs little of its own, and V8's default
        // heap sizes cost the process 15 MB more at 300k notes. Should it run out, it exits, and what
        // it held is read again and hashed here.
        resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 1 },
      });
      worker.unref();
      // An error ends the worker, and its exit is what is waited for.
      worker.on('error', () => undefined);
      this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
      this.worker = worker;
      this.port = port1;
    } catch {
      this.close();
    }
  }

  /** One key, hashed here (keys that come one by one are not worth a message each). */
  addKey(key: Uint8Array): void {
    this.use(BigUint64Array.of(entryHash(key, this.name)));
  }

  /**
   * One slice, and how to read it again: a slice sent to the worker goes there itself (moved, not
   * copied: copies lingered until a collection, 45 MB at 300k notes), so should the worker fail, it
   * is read again.
   */
  addSlice({ keys, lengths }: KeySlice, readAgain: () => KeySlice | undefined): void {
    this.collect();
    if (this.port && this.queued.size < IN_FLIGHT) {
      const id = this.nextId++;
      this.queued.set(id, readAgain);
      // A view of part of a larger buffer (not what the bindings return) travels as a copy.
      const whole = keys.buffer instanceof ArrayBuffer && keys.byteOffset === 0 && keys.byteLength === keys.buffer.byteLength;
      const owned = whole ? keys : new Uint8Array(keys);
      this.port.postMessage({ id, keys: owned, lengths }, [owned.buffer as ArrayBuffer]);
      return;
    }
    this.hashHere({ keys, lengths });
  }

  /** Waits for the worker's last answers (what it never answers, because it exited, is hashed here), then ends it. */
  async finish(): Promise<void> {
    const port = this.port;
    if (port && this.queued.size > 0) {
      let exited = false;
      await new Promise<void>((resolve, reject) => {
        const settle = () => {
          try {
            this.collect();
            if (this.queued.size === 0 || exited) resolve();
          } catch (error) {
            reject(error);
          }
        };
        port.on('message', (answer: Answer) => {
          try {
            this.take(answer);
          } catch (error) {
            reject(error);
            return;
          }
          settle();
        });
        void this.exited.then(() => {
          exited = true;
          settle();
        });
        settle();
      });
      this.hashLeftHere();
    }
    this.close();
  }

  /** Ends the worker, at once: after finish, or when the scan failed (whatever it still holds is dropped). */
  close(): void {
    this.port?.close();
    this.port = undefined;
    void this.worker?.terminate();
    this.worker = undefined;
    this.queued.clear();
  }

  /** Takes in the worker's answers that have come so far, without waiting. */
  private collect(): void {
    if (!this.port) return;
    for (let message = receiveMessageOnPort(this.port); message; message = receiveMessageOnPort(this.port))
      this.take(message.message as Answer);
  }

  private take(answer: Answer): void {
    const readAgain = this.queued.get(answer.id);
    if (!readAgain) return;
    this.queued.delete(answer.id);
    if (answer.hashes) this.use(answer.hashes);
    else this.hashHere(readAgain()); // throws here, as it would have without a worker
  }

  /** The slices the worker was given and never answered (it exited), read again and hashed here. */
  private hashLeftHere(): void {
    const left = [...this.queued.values()];
    this.queued.clear();
    for (const readAgain of left) this.hashHere(readAgain());
  }

  private hashHere(slice: KeySlice | undefined): void {
    if (slice) this.use(hashSlice(this.digest, slice.keys, slice.lengths));
  }
}
