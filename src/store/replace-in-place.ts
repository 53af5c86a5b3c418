/**
 * Replacing a rollback-journal database's content with another database's, in place: the same file
 * (inode), so every connection an agent holds on it stays valid and simply sees the new content.
 *
 * Why not rename the new file over the path: a connection opened on the old file a moment before
 * has its next write refused by SQLite ("attempt to write a readonly database", the file moved), and
 * that is not a busy error its busy handler would wait out: an agent that swallows errors loses the
 * note. Why not SQLite's backup API into the live file: it takes the destination's exclusive lock
 * itself, on a connection of its own, so rows an agent commits between our last look at the file and
 * that lock would be overwritten unseen.
 *
 * So the caller holds the database's EXCLUSIVE lock (`BEGIN EXCLUSIVE` on its own connection: no
 * reader, no writer) across its last look and this call, and the bytes are written as SQLite's own
 * pager would: the pages about to be overwritten go to `<db>-journal` in SQLite's rollback-journal
 * format and are synced, then the new pages are written and synced, then the journal is deleted (the
 * commit point), and only then is the file cut to its new length. A crash before the deletion leaves
 * a hot journal: the next connection rolls the old pages back, and the file, not yet cut, is the old
 * database again. A crash after it leaves the new database, with its size in its header (the bytes
 * past it are ignored until the cut, as SQLite itself leaves them when it crashes between its commit
 * and its own cut). The header of the new content is adjusted so that every other connection
 * notices the change: its change counter and schema cookie move past the old file's.
 *
 * The cut is not made under that lock: freeing gigabytes takes the file system about a second per
 * gigabyte here (367 ms for 400 MB), and agents would wait for all of it. `cutTail` cuts the file in
 * steps of CUT_STEP_BYTES, each under a short exclusive lock of its own and never below the pages the
 * database holds by then (agents may have written past the new content meanwhile), and stays off the
 * lock between steps as a sync does (write-lock-yield.ts).
 *
 * This module opens the file by a descriptor of its own: closing a descriptor drops every POSIX lock
 * the process holds on the file, so it is closed only by `finish`, once the caller's connection holds
 * no lock.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Database } from './sqlite/driver.js';
import { inTransaction } from './sqlite/transaction.js';
import { WriteLockYielder } from './write-lock-yield.js';

const JOURNAL_MAGIC = Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7]);
/** The journal header's length: the sector size it records (any power of two SQLite accepts). */
const SECTOR_SIZE = 512;

/** Header offsets (https://www.sqlite.org/fileformat.html#the_database_header). */
const PAGE_SIZE_AT = 16;
const CHANGE_COUNTER_AT = 24;
const PAGE_COUNT_AT = 28;
const SCHEMA_COOKIE_AT = 40;
const VERSION_VALID_FOR_AT = 92;

/** Bytes cut off the file per step: about 30 ms of the file system's work here. */
const CUT_STEP_BYTES = 32 * 1024 * 1024;

export interface InPlaceReplacement {
  /** Cuts the bytes past the database off the file, in short steps under `db`'s exclusive lock (`db` on the same file, outside any transaction). */
  cutTail(db: Database): void;
  /** Closes the descriptor: call it once the caller's connection holds no lock. */
  finish(): void;
}

/**
 * Writes `content` (a whole database file, e.g. read from a fresh file nobody else uses) over the
 * database at `path`, whose EXCLUSIVE lock the caller holds, as described above.
 */
export function replaceInPlace(path: string, content: Buffer): InPlaceReplacement {
  const fd = openSync(path, 'r+');
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    closeSync(fd);
  };
  try {
    const header = readAt(fd, 0, 100);
    const pageSize = pageSizeOf(header);
    const { size } = fstatSync(fd);
    const oldPages = Math.floor(size / pageSize);
    const next = Buffer.from(content);
    // Past the old file's values, so that every other connection drops its cached pages and schema.
    const counter = (header.readUInt32BE(CHANGE_COUNTER_AT) + 1) >>> 0;
    next.writeUInt32BE(counter, CHANGE_COUNTER_AT);
    next.writeUInt32BE(counter, VERSION_VALID_FOR_AT); // the page count at PAGE_COUNT_AT is then trusted
    next.writeUInt32BE(Math.max(header.readUInt32BE(SCHEMA_COOKIE_AT), next.readUInt32BE(SCHEMA_COOKIE_AT)) + 1, SCHEMA_COOKIE_AT);
    const newBytes = pageSizeOf(next) * next.readUInt32BE(PAGE_COUNT_AT);
    if (newBytes !== next.length) throw new Error(`the new content is ${next.length} bytes, its header says ${newBytes}`);

    const journalPath = `${path}-journal`;
    const journaled = Math.min(oldPages, Math.ceil(next.length / pageSize));
    writeJournal(journalPath, fd, pageSize, oldPages, journaled);
    writeAll(fd, next, 0);
    fsyncSync(fd);
    unlinkSync(journalPath); // the commit point
    syncDirectory(dirname(path));
  } catch (error) {
    finish();
    throw error;
  }
  // Only after the commit point, as SQLite does: cut before it, a rollback would find the old pages gone.
  return { cutTail: (db) => cutTail(db, fd), finish };
}

function cutTail(db: Database, fd: number): void {
  const yielder = new WriteLockYielder(db);
  for (;;) {
    const started = performance.now();
    const done = inTransaction(db, 'EXCLUSIVE', () => {
      const pages = Number(db.prepare('PRAGMA main.page_count').get()?.page_count ?? 0);
      const pageSize = Number(db.prepare('PRAGMA main.page_size').get()?.page_size ?? 0);
      const size = fstatSync(fd).size;
      const target = Math.max(pages * pageSize, size - CUT_STEP_BYTES);
      if (pages === 0 || pageSize === 0 || target >= size) return true;
      ftruncateSync(fd, target);
      return false;
    });
    if (done) break;
    yielder.released(performance.now() - started);
  }
  fsyncSync(fd);
}

/**
 * Writes SQLite's rollback journal of the first `pages` pages of the database open on `fd`, whose
 * size is `oldPages` pages, and syncs it (and its directory): from then on a crash is rolled back.
 * Exported for the test that checks SQLite itself rolls such a journal back.
 */
export function writeJournal(journalPath: string, fd: number, pageSize: number, oldPages: number, pages: number): void {
  const nonce = Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
  const header = Buffer.alloc(SECTOR_SIZE);
  JOURNAL_MAGIC.copy(header, 0);
  header.writeUInt32BE(pages, 8); // records in this journal
  header.writeUInt32BE(nonce, 12); // the checksums' starting value
  header.writeUInt32BE(oldPages, 16); // the database's size before the transaction, in pages
  header.writeUInt32BE(SECTOR_SIZE, 20);
  header.writeUInt32BE(pageSize, 24);
  const journal = openSync(journalPath, 'w');
  try {
    writeAll(journal, header, 0);
    let at = SECTOR_SIZE;
    for (let page = 1; page <= pages; page++) {
      const data = readAt(fd, (page - 1) * pageSize, pageSize);
      const record = Buffer.alloc(4 + pageSize + 4);
      record.writeUInt32BE(page, 0);
      data.copy(record, 4);
      record.writeUInt32BE(pageChecksum(nonce, data), 4 + pageSize);
      writeAll(journal, record, at);
      at += record.length;
    }
    fsyncSync(journal);
  } finally {
    closeSync(journal);
  }
  syncDirectory(dirname(journalPath));
}

/** SQLite's pager_cksum: the nonce plus every 200th byte of the page, counted down from its end. */
function pageChecksum(nonce: number, data: Buffer): number {
  let sum = nonce;
  for (let i = data.length - 200; i > 0; i -= 200) sum = (sum + (data[i] ?? 0)) >>> 0;
  return sum;
}

function pageSizeOf(header: Buffer): number {
  const raw = header.readUInt16BE(PAGE_SIZE_AT);
  return raw === 1 ? 65_536 : raw;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return buffer;
}

function writeAll(fd: number, buffer: Buffer, position: number): void {
  let done = 0;
  while (done < buffer.length) done += writeSync(fd, buffer, done, buffer.length - done, position + done);
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
