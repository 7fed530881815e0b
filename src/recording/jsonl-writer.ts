/**
 * A JSON Lines file written for a recording: lines go straight into a slab, and each turn of
 * the event loop hands what it wrote to the file as one slice (no buffer per line, no
 * concatenation, one write). A write error (a full disk, a file that cannot be written), the
 * size limit or a disk that does not keep up stops the writer once, with one report; callers
 * go on and their lines are dropped.
 */
import fs from 'node:fs';
import { paceScavenges } from '../wire/scavenge-pacing.js';

/** In-memory backlog beyond which a writer that cannot keep up is stopped. */
const MAX_BACKLOG = 64 * 1024 * 1024;
/** The slab lines are written to, and the room below which a new one is started. */
const SLAB_SIZE = 256 * 1024;
const SLAB_MIN_ROOM = 16 * 1024;
/** Written slabs kept for reuse (2 MiB): a recording that keeps up allocates none after its first few. */
const SLABS_KEPT = 8;

/** A slab and the writes of it the file stream has not finished. */
interface Slab {
  readonly buf: Buffer<ArrayBuffer>;
  /** Slices handed to the stream and not yet written. */
  writing: number;
  /** No more lines go into it: it is reused once `writing` is 0. */
  full: boolean;
}

export interface JsonlWriterOptions {
  file: string;
  /**
   * 'a' appends to an existing file (after a line cut short by a crash, on a line of its own);
   * 'w' (default) starts a new one.
   */
  flags?: 'w' | 'a';
  /** Stop (with one report) once the file would exceed this many bytes. */
  maxBytes?: number;
  /** Called once when the writer stops: why, how many bytes were written, the level to report it at. */
  onStop(why: string, bytes: number, level: 'error' | 'warn'): void;
}

export class JsonlWriter {
  private readonly stream: fs.WriteStream;
  private bytes = 0;
  private stopped = false;
  /** Lines are written here; [slabStart, slabEnd) is what this turn of the event loop wrote. */
  private current: Slab = { buf: newBuffer(SLAB_SIZE), writing: 0, full: false };
  /** Slabs the stream has written, for reuse: no allocation (and no garbage) per slab while the disk keeps up. */
  private readonly spare: Slab[] = [];
  private slabStart = 0;
  private slabEnd = 0;

  /** What the file held before this writer (appending), in bytes. */
  readonly existingBytes: number;

  constructor(private readonly opts: JsonlWriterOptions) {
    const flags = opts.flags ?? 'w';
    this.existingBytes = flags === 'a' ? existingSize(opts.file) : 0;
    this.stream = fs.createWriteStream(opts.file, { flags });
    this.stream.on('error', (err: NodeJS.ErrnoException) => this.stop(this.describe(err)));
    if (this.existingBytes > 0 && !endsWithNewline(opts.file, this.existingBytes)) this.stream.write('\n');
  }

  /** Still writing (no error, no limit reached). */
  get active(): boolean {
    return !this.stopped;
  }

  /** Bytes accepted so far. */
  get written(): number {
    return this.bytes;
  }

  private describe(err: NodeJS.ErrnoException): string {
    const what =
      err.code === 'ENOSPC'
        ? 'the disk is full'
        : err.code === 'EFBIG'
          ? 'the file reached its size limit (ulimit -f)'
          : err.code === 'EACCES' || err.code === 'EPERM'
            ? 'no permission to write it'
            : err.code === 'ENOENT'
              ? 'its folder does not exist'
              : err.code === 'EISDIR'
                ? 'it is a folder'
                : `${err.code ?? ''} ${err.message}`.trim();
    return `recording to ${this.opts.file} stopped: ${what}; proxying goes on`;
  }

  private stop(why: string, level: 'error' | 'warn' = 'error'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.onStop(why, this.bytes, level);
  }

  /** One value as a line (JSON.stringify). */
  writeValue(value: unknown): void {
    if (this.stopped) return;
    const line = `${JSON.stringify(value)}\n`;
    const at = this.reserve(line.length * 3);
    this.commit(at, at + this.current.buf.write(line, at, 'utf8'));
  }

  /**
   * Room for a line of at most n bytes; returns the slab and where the line starts. The caller
   * writes the line there and then calls commit(at, end).
   */
  reserve(n: number): number {
    if (this.current.buf.length - this.slabEnd < n) {
      this.handOff();
      if (this.current.buf.length - this.slabEnd < n) this.nextSlab(n);
    }
    return this.slabEnd;
  }

  /** The slab reserve() returned a place in (valid until the next reserve or commit). */
  get buffer(): Buffer {
    return this.current.buf;
  }

  /** Keeps slab[at, end) as the next line, or drops it when a limit says stop. */
  commit(at: number, end: number): void {
    if (this.stopped) return;
    const size = end - at;
    const { maxBytes, file } = this.opts;
    if (maxBytes !== undefined && this.bytes + size > maxBytes) {
      this.stop(`recording to ${file} stopped at ${this.bytes} bytes (--record-max-bytes ${maxBytes}); proxying goes on`, 'warn');
      return;
    }
    if (this.stream.writableLength + (at - this.slabStart) > MAX_BACKLOG) {
      this.stop(`recording to ${file} stopped: the disk does not keep up (${MAX_BACKLOG} bytes waiting); proxying goes on`);
      return;
    }
    this.bytes += size;
    const first = this.slabEnd === this.slabStart;
    this.slabEnd = end;
    if (first) setImmediate(this.handOff);
  }

  /** Hands the lines written since the last hand-off to the file (the stream keeps that slice; later lines go after it). */
  private readonly handOff = (): void => {
    if (this.slabEnd > this.slabStart) {
      const chunk = this.current.buf.subarray(this.slabStart, this.slabEnd);
      this.slabStart = this.slabEnd;
      if (!this.stream.destroyed) {
        const slab = this.current;
        slab.writing++;
        // Called once the slice is written, or with the error that stops the writer.
        this.stream.write(chunk, () => this.slabWritten(slab));
      }
    }
    if (this.current.buf.length - this.slabEnd < SLAB_MIN_ROOM) this.nextSlab(SLAB_SIZE);
  };

  /** Starts a slab of at least n bytes: a written one when there is one, else a new one. */
  private nextSlab(n: number): void {
    const done = this.current;
    done.full = true;
    if (done.writing === 0) this.keep(done);
    const reused = n <= SLAB_SIZE ? this.spare.pop() : undefined;
    if (reused) reused.full = false;
    this.current = reused ?? { buf: newBuffer(Math.max(SLAB_SIZE, n)), writing: 0, full: false };
    this.slabStart = this.slabEnd = 0;
  }

  private slabWritten(slab: Slab): void {
    slab.writing--;
    if (slab.full && slab.writing === 0) this.keep(slab);
  }

  private keep(slab: Slab): void {
    if (slab.buf.length === SLAB_SIZE && this.spare.length < SLABS_KEPT) this.spare.push(slab);
  }

  /** Writes out everything and closes the file. */
  close(): Promise<void> {
    this.handOff();
    return new Promise((resolve) => {
      if (this.stream.destroyed || this.stream.closed) return resolve();
      this.stream.end(() => resolve());
      this.stream.once('error', () => resolve());
    });
  }
}

/** A new slab's buffer; one that is not kept for reuse is garbage once written, so it is counted like a read (wire/scavenge-pacing.ts). */
function newBuffer(size: number): Buffer<ArrayBuffer> {
  paceScavenges(size);
  return Buffer.allocUnsafeSlow(size);
}

function existingSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

/** Whether the file's last byte is a newline (a writer killed mid-line leaves it without one). */
function endsWithNewline(file: string, size: number): boolean {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, 'r');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, size - 1);
    return b[0] === 0x0a;
  } catch {
    return true;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
