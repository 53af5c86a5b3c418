/**
 * One agentless session: `ssh HOST sh -c '<script>'` running one remote `sqlite3` that reads our
 * requests (SQL and dot-commands) on stdin for the whole sync. Replies come back on stdout as frames:
 *   `@RS <seq> json` … lines of `-json` output … `@RS-END <seq>`   (printed by sqlite3 itself, which
 *      flushes before reading each input line, so a reply is complete when the request's last line ran)
 *   `@RS <seq> file <bytes>` then the bytes        (a delta database: the header by sqlite3, the bytes by `cat`)
 * sqlite3's own output goes to /dev/null outside a reply, so nothing else can reach stdout.
 * Requests run one at a time, in the order they were written; a request is written without waiting
 * for the replies to earlier ones (pipelined: a caller that sends several before waiting pays one
 * round trip for all), and replies are read in that same order. `-bail` ends the session at the first
 * error, so a failed request can never run a later statement (a COMMIT), even one already sent; the
 * session is then broken and every call reports why (the failed request's action).
 * Every request runs under the stall watchdog (ssh/stall-watchdog.ts), except verify's whole-table
 * scans: sqlite3 prints their answer only when done, after a time that grows faster than the
 * database (measured: 27 s for 200k notes, 590 s for 1M on a desktop), and cannot say "still working".
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { SyncError, asSyncError } from '../../core/errors.js';
import { connectTimeoutSeconds, destinationOf, type SshLocation, type SshOutcome } from '../ssh/ssh-command.js';
import { startSsh, type SshProcess } from '../ssh/ssh-process.js';
import { firstNonBlankLine, visibleExcerpt } from '../../core/excerpt.js';
import { PREAMBLE_MAGIC } from '../../protocol/protocol.js';
import { StallWatchdog, stallTimeoutMs, stalledError } from '../ssh/stall-watchdog.js';
import { agentInsteadOfScript, sessionFailure } from './failures.js';
import { HELLO_WORD, SCRIPT_VERSION, VERSION_WORD, checkSqliteVersion, sessionDir, sqliteCliSshArgv } from './remote-script.js';
import { StreamEnded, StreamReader } from './stream-reader.js';
import { trace } from '../../core/trace.js';

export interface SessionOptions {
  location: SshLocation;
  /** The remote sqlite3 command (the peer's remote_command in mode "sqlite3"); default `sqlite3`. */
  sqlite3Command: string | undefined;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal | undefined;
  busyTimeoutMs: number;
  /** The configured stall timeout (peer, else global), if any; RESONANCE_SYNC_STALL_TIMEOUT overrides it. */
  stallTimeoutMs?: number | undefined;
}

export interface ExchangeOptions {
  /** The remote reads its whole table before answering (verify): no stall timeout on this request. */
  scansWholeTable?: boolean;
}

/**
 * A line of SQL or a dot-command (written with a newline after it), or bytes sent as hex digits
 * inside the line around them (the body of a blob literal: an upload is SQL text too).
 */
export type RequestPart = string | { hex: Uint8Array };

const JUNK_LIMIT = 64 * 1024;
/** The agent's first bytes: a forced command in authorized_keys answering instead of our script. */
const AGENT_PREAMBLE = Buffer.from(PREAMBLE_MAGIC, 'latin1');
const LINE_LIMIT = 1024 * 1024;
const HEX_CHUNK = 1024 * 1024;
/** A download's file in the session's remote directory. */
const DOWNLOAD_FILE = 'dl.sqlite3';
/** How long an interrupted sync may take to reach a batch boundary before the session is cut. */
const ABORT_GRACE_MS = 10_000;

/** Errors that mean the remote side went away (its output ended, or our writes found no reader). */
function endedSession(error: unknown): boolean {
  if (error instanceof StreamEnded) return true;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END';
}

export class CliSession {
  readonly destination: string;
  /** The remote sqlite3's version, its first line. */
  version = '';
  /** The remote script reads it as our first line, and names the session's directory after it (remote-script.ts). */
  private readonly id = randomBytes(16).toString('hex');
  /** Whether a request has made the session's directory (its first download). */
  private dirRequested = false;
  private readonly process: SshProcess;
  private readonly reader: StreamReader;
  private readonly watchdog: StallWatchdog;
  /** Replies are read in the order the requests were written; this is the last one's (swallowed). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Requests are written in call order, each without waiting for earlier replies (pipelined). */
  private writing: Promise<unknown> = Promise.resolve();
  private greeted: Promise<void> = Promise.resolve();
  private seq = 0;
  private broken: SyncError | undefined;
  private started = false;
  private junk = '';
  private abortTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly options: SessionOptions) {
    this.destination = destinationOf(options.location);
    // Checked before ssh starts: a bad RESONANCE_SYNC_STALL_TIMEOUT must not leave a connection behind.
    const timeoutMs = stallTimeoutMs(options.env, options.stallTimeoutMs);
    this.process = startSsh(sqliteCliSshArgv(options.location, options.sqlite3Command, options.env), options.env);
    this.watchdog = new StallWatchdog({
      timeoutMs,
      output: this.process.child.stdin,
      onStall: (action) => {
        this.broken ??= stalledError(this.destination, this.watchdog.timeoutMs, action);
        void this.process.kill();
        return this.broken;
      },
    });
    this.reader = new StreamReader(this.process.child.stdout, () => this.watchdog.progress());
  }

  /**
   * Starts ssh and writes the session's id and setup at once (ssh buffers them; the script reads the
   * id, sqlite3 the rest when it starts); requests may follow before the remote answered (say, the
   * schema probe, which only reads), and their replies are read after its HELLO line and sqlite3's
   * version. connected() says whether both came.
   */
  static open(options: SessionOptions): CliSession {
    const session = new CliSession(options);
    session.process.child.stdin.write(
      [
        session.id,
        // Printed before anything else, in the output mode every sqlite3 starts in: an old one that
        // cannot run what follows has said which version it is first.
        `SELECT '${VERSION_WORD} ' || sqlite_version();`,
        '.output /dev/null',
        '.mode json',
        '.bail on',
        `.timeout ${Math.trunc(options.busyTimeoutMs)}`,
        'PRAGMA foreign_keys = ON;',
        '',
      ].join('\n'),
    );
    session.greeted = session.hello().catch(async (error: unknown) => {
      session.broken ??= asSyncError(error);
      session.watchdog.stop();
      await session.process.kill();
      throw session.broken;
    });
    session.greeted.catch(() => undefined); // reported by connected(), and by every request
    session.queue = session.greeted.catch(() => undefined);
    return session;
  }

  /** Waits for the remote's HELLO line and sqlite3's version (and checks it); a failure here has ended the session. */
  async connected(): Promise<void> {
    await this.greeted;
    this.options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    // The engine stops at the next batch boundary and closes us; this only cuts a session that stays stuck.
    this.abortTimer = setTimeout(() => {
      this.broken ??= new SyncError('INTERRUPTED', `interrupted; the connection to ${this.destination} was closed`);
      void this.process.kill();
    }, ABORT_GRACE_MS);
    this.abortTimer.unref();
  };

  /** Skips whatever a shell rc file printed, up to the HELLO line; checks the remote sqlite3. */
  private async hello(): Promise<void> {
    const seconds = connectTimeoutSeconds(this.options.env) * 3;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new SyncError('PEER_UNREACHABLE', `no answer from ${this.destination} within ${seconds} s; skipped`)),
        seconds * 1000,
      );
      onAbort = () => reject(new SyncError('INTERRUPTED', `interrupted while connecting to ${this.destination}`));
      if (this.options.signal?.aborted) onAbort();
      this.options.signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([this.findHello(), stop]);
    } finally {
      clearTimeout(timer);
      if (onAbort) this.options.signal?.removeEventListener('abort', onAbort);
    }
    // The script has started sqlite3: from here a silence is a stall, like a request's.
    this.version = await this.watchdog.watch(this.readVersion(), 'starting sqlite3');
    checkSqliteVersion(this.version, this.destination);
  }

  /** sqlite3's first line: `VERSION_WORD <version>`. */
  private async readVersion(): Promise<string> {
    const got = await this.reader.readLine(256);
    if (got === undefined) throw await this.failure('starting sqlite3', false);
    const match = got.cut ? null : new RegExp(`^${VERSION_WORD} (\\S+)\\r?$`).exec(got.line.toString('utf8'));
    if (!match) {
      throw new SyncError(
        'PROTOCOL_ERROR',
        `unexpected output from sqlite3 on ${this.destination}: ${visibleExcerpt(got.line, 120)} (expected its version)`,
      );
    }
    return match[1] as string;
  }

  private async findHello(): Promise<void> {
    const pattern = new RegExp(`^${HELLO_WORD} (\\d+)\\r?$`);
    let skipped = 0;
    for (;;) {
      const got = await this.reader.readLine(4096);
      if (got === undefined) throw await this.failure('starting agentless sync', false);
      const text = got.line.toString('utf8');
      const match = got.cut ? null : pattern.exec(text);
      if (match) {
        if (Number(match[1]) !== SCRIPT_VERSION)
          throw new SyncError('PROTOCOL_ERROR', `${this.destination} answered with script version ${match[1]}, expected ${SCRIPT_VERSION}`);
        this.started = true;
        trace('sqlite3: hello received');
        return;
      }
      if (got.line.includes(AGENT_PREAMBLE)) throw agentInsteadOfScript(this.options.location);
      const printed = firstNonBlankLine(got.line);
      if (this.junk === '' && printed.length > 0) this.junk = visibleExcerpt(printed);
      skipped += got.line.length + 1;
      if (skipped > JUNK_LIMIT) {
        throw new SyncError(
          'PROTOCOL_ERROR',
          `the remote shell on ${this.destination} printed more than ${JUNK_LIMIT} bytes (starting ${this.junk === '' ? 'with blank lines' : this.junk}) before agentless sync started; make shell startup files quiet for non-interactive logins`,
        );
      }
    }
  }

  /**
   * A request whose reply is the JSON rows of `query`, run after `before` and followed by `after`.
   * Only the query's output reaches stdout; nothing in `before`/`after` can print there.
   * It is written at once, before the replies of earlier requests are read: a caller that does not
   * wait for one reply before asking again pipelines its requests (each still runs on its own, in order).
   */
  json<T>(
    action: string,
    request: { before?: RequestPart[]; query: string; after?: string[]; locking?: boolean } & ExchangeOptions,
  ): Promise<T[]> {
    return this.exchange(
      action,
      request,
      (seq) => [
        ...(request.before ?? []),
        '.output',
        `.print @RS ${seq} json`,
        `${request.query.trim().replace(/;$/, '')};`,
        `.print @RS-END ${seq}`,
        '.output /dev/null',
        ...(request.after ?? []),
      ],
      async (seq) => {
        await this.header(seq, 'json');
        return this.readJson<T>(seq);
      },
    );
  }

  /**
   * A request whose `before` leaves a database in the file it is given (in the session's remote
   * directory, made by the first download); its bytes are written to `localPath`.
   */
  download(
    action: string,
    request: { before: (remoteFile: string) => RequestPart[]; localPath: string } & ExchangeOptions,
  ): Promise<number> {
    const dir = sessionDir(this.id);
    const remoteFile = `${dir}/${DOWNLOAD_FILE}`;
    // fileio's writefile() with a directory's mode makes it (mkdir, 0700 before the umask).
    const makeDir = this.dirRequested ? [] : [`SELECT writefile('${dir}', NULL, ${0o40700});`];
    this.dirRequested = true;
    return this.exchange(
      action,
      request,
      (seq) => [
        ...makeDir,
        ...request.before(remoteFile),
        // The frame's header from sqlite3 itself (flushed before it reads the next line), then the
        // bytes by one `cat`: each process the remote starts per download costs milliseconds.
        '.output',
        '.mode list',
        `SELECT '@RS ${seq} file ' || length(readfile('${remoteFile}'));`,
        '.mode json',
        '.output /dev/null',
        `.system cat ${remoteFile}`,
        // Emptied, not removed (sqlite3 removes no file): an empty file ATTACHes as a new database.
        `SELECT writefile('${remoteFile}', x'');`,
      ],
      async (seq) => {
        const size = await this.header(seq, 'file');
        const fd = openSync(request.localPath, 'w', 0o600);
        try {
          await this.reader.copyExact(size, fd);
        } finally {
          closeSync(fd);
        }
        return size;
      },
    );
  }

  /**
   * Writes request `seq` once the earlier requests are written (not answered), then reads its reply
   * once the earlier replies are read. A session that failed writes nothing more.
   */
  private exchange<T>(
    action: string,
    options: { locking?: boolean } & ExchangeOptions,
    request: (seq: number) => RequestPart[],
    reply: (seq: number) => Promise<T>,
  ): Promise<T> {
    const locking = options.locking ?? false;
    const seq = ++this.seq;
    trace(`sqlite3: request ${seq} ${action}`);
    const written = this.writing.then(() => {
      if (this.broken) throw this.broken;
      return this.write(request(seq));
    });
    written.catch(() => undefined); // reported by the reply's reading below
    this.writing = written.catch(() => undefined);
    const earlier = this.queue;
    const attempt = async (): Promise<T> => {
      await earlier;
      if (this.broken) throw this.broken;
      try {
        // Writing the request and reading its reply: the remote must keep taking or giving bytes.
        const read = written.then(() => reply(seq));
        const result = options.scansWholeTable ? await read : await this.watchdog.watch(read, action);
        trace(`sqlite3: reply ${seq}`);
        return result;
      } catch (error) {
        // The session ended (explained by how it ended), or a frame we cannot parse, or a local
        // failure (say, a full disk under a download); the stream is mid-reply either way, so it is done.
        const failure = endedSession(error)
          ? await this.failure(action, locking)
          : error instanceof SyncError
            ? error
            : new SyncError(
                'DB_ERROR',
                `${action} from ${this.destination} failed on this machine: ${error instanceof Error ? error.message : String(error)}`,
                { cause: error },
              );
        this.broken ??= failure;
        if (this.process.running) await this.process.kill();
        throw this.broken;
      }
    };
    const result = attempt();
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async write(parts: RequestPart[]): Promise<void> {
    const stdin = this.process.child.stdin;
    const send = async (text: string) => {
      if (stdin.destroyed || !stdin.write(text)) {
        // Either drained, or the session ended (the reply read then reports why).
        await Promise.race([once(stdin, 'drain'), this.process.exited.then(() => undefined)]);
      }
    };
    for (const [index, part] of parts.entries()) {
      if (typeof part === 'string') {
        const next = parts[index + 1];
        await send(next !== undefined && typeof next !== 'string' ? part : `${part}\n`);
        continue;
      }
      for (let offset = 0; offset < part.hex.length; offset += HEX_CHUNK) {
        await send(
          Buffer.from(part.hex.buffer, part.hex.byteOffset + offset, Math.min(HEX_CHUNK, part.hex.length - offset)).toString('hex'),
        );
      }
    }
  }

  /** Reads `@RS <seq> <kind> [size]`; returns the size for a file frame. */
  private async header(seq: number, kind: 'json' | 'file'): Promise<number> {
    const got = await this.reader.readLine(256);
    if (got === undefined) throw new StreamEnded();
    const text = got.line.toString('utf8');
    const match = /^@RS (\d+) (json|file)(?: (\d+))?$/.exec(text);
    if (!match || Number(match[1]) !== seq || match[2] !== kind || (kind === 'file') !== (match[3] !== undefined)) {
      throw new SyncError(
        'PROTOCOL_ERROR',
        `unexpected output from sqlite3 on ${this.destination}: ${visibleExcerpt(got.line, 120)} (expected reply ${seq})`,
      );
    }
    return Number(match[3] ?? 0);
  }

  private async readJson<T>(seq: number): Promise<T[]> {
    const end = `@RS-END ${seq}`;
    const lines: string[] = [];
    let total = 0;
    for (;;) {
      const got = await this.reader.readLine(LINE_LIMIT);
      if (got === undefined) throw new StreamEnded();
      if (got.cut) throw new SyncError('PROTOCOL_ERROR', `a reply line from ${this.destination} is longer than ${LINE_LIMIT} bytes`);
      const line = got.line.toString('utf8');
      if (line === end) break;
      lines.push(line);
      total += line.length;
      if (total > 512 * LINE_LIMIT) throw new SyncError('PROTOCOL_ERROR', `a reply from ${this.destination} is too large`);
    }
    const text = lines.join('\n').trim();
    // -json prints nothing at all for an empty result.
    if (text === '') return [];
    try {
      return JSON.parse(text) as T[];
    } catch {
      throw new SyncError('PROTOCOL_ERROR', `unreadable reply from sqlite3 on ${this.destination}: ${JSON.stringify(text.slice(0, 120))}`);
    }
  }

  /** Why the session ended (waiting for ssh's exit status briefly). */
  private async failure(action: string, locking: boolean): Promise<SyncError> {
    if (this.broken) return this.broken;
    const outcome: SshOutcome | undefined = await Promise.race([
      this.process.exited,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000).unref()),
    ]);
    const final = outcome ?? (await this.process.kill());
    return sessionFailure(final, {
      location: this.options.location,
      sqlite3Command: this.options.sqlite3Command,
      started: this.started,
      junk: this.junk,
      action,
      locking,
    });
  }

  get brokenError(): SyncError | undefined {
    return this.broken;
  }

  /** Lets the requests in flight finish, then EOF: sqlite3 exits, the remote temp dir goes, ssh ends. */
  async close(): Promise<void> {
    await this.queue;
    trace('sqlite3: close');
    this.watchdog.stop();
    clearTimeout(this.abortTimer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    if (this.process.running) await this.process.close();
  }
}
