/**
 * A passive decoder of one direction of a WebSocket connection. It reads the forwarded
 * bytes (it never writes to a socket, never modifies what it is given, keeps no reference
 * to it) and reports messages, reassembled and inflated, with the arrival time of their
 * bytes. Memory is bounded: beyond maxMessageBytes a message is counted, not kept.
 * A frame that breaks RFC 6455 is reported once and this direction stops decoding.
 *
 * Memory is counted in bytes, not in frames: a message's kept payload is one buffer whatever
 * the number of its fragments (exact for its first frame, then grown by doubling, never past
 * what is kept), and compressed input waiting for the thread pool is one buffer per message, so
 * a million one-byte fragments cost about what one frame of the same size costs.
 *
 * Hot path (see docs/performance.md): each kept payload byte is copied once, unmasked in
 * the same pass (no per-piece copy and concatenation); a frame header that lies whole in a
 * chunk is read in place; compressed messages are inflated synchronously on a persistent
 * inflater (no thread-pool round trip per message) up to SYNC_INFLATE_LIMIT bytes of output
 * per message, and on zlib's thread pool beyond that, so a decompression bomb never blocks
 * the forwarding for long. An idle decoder holds no buffer.
 */
import { paceScavenges } from '../wire/scavenge-pacing.js';
import { isUtf8 } from 'node:buffer';
import type zlib from 'node:zlib';
import type { DecodedMessage, MessageKind, ProtocolViolation, Side } from '../session/message.js';
import { headerSize, opcodeName } from '../wire/ws-frame.js';
import { checkClosePayload, checkHeader, invalidDeflate, invalidUtf8, lengthTooLarge, type RuleBreach } from './frame-rules.js';
import { createRawInflater, DEFLATE_TRAILER, writeSyncFlush, Z_SYNC_FLUSH, ZlibDataError, zlibSyncOf, type ZlibSync } from './inflater.js';
import { maskInto, rotateKey } from './mask.js';

export interface FrameDecoderOptions {
  from: Side;
  /** permessage-deflate was negotiated for this connection. */
  deflate: boolean;
  /** Largest decoded payload kept per message; the rest is counted. */
  maxMessageBytes: number;
  /** Largest decoded payload kept per binary message (default maxMessageBytes): 0 when nobody reads them. */
  maxBinaryBytes?: number;
  onMessage(message: DecodedMessage): void;
  onViolation(violation: ProtocolViolation): void;
}

/** Inflated bytes per message done on the main thread; the rest of a larger message goes to the thread pool. */
const SYNC_INFLATE_LIMIT = 256 * 1024;

/** Compressed input waiting for the thread pool, at least (4 × --max-message-size when that is more). */
const BACKLOG_MIN = 16 * 1024 * 1024;

/**
 * Compressed input arrives faster than the thread pool inflates it (messages that inflate to far
 * more than they weigh: decompression bombs): decoding stops for the session before the backlog
 * passes its bound. Thrown from push(); the tap's owner switches decoding off and says why.
 */
export class DecodeBacklogError extends Error {
  override readonly name = 'DecodeBacklogError';
}

/** A data message being reassembled. */
interface Pending {
  kind: 'text' | 'binary';
  opcode: number;
  compressed: boolean;
  /** Compressed and (from some point on) inflated on the thread pool. */
  async: boolean;
  frames: number;
  wireSize: number;
  firstByteAt: number;
  lastByteAt: number;
  /** The kept payload: kept[0, keptBytes). Exact for a one-frame message, grown by doubling after that. */
  kept: Buffer | undefined;
  keptBytes: number;
  size: number;
  /** Output is ready (uncompressed: at the final frame; compressed: when inflated). */
  done: boolean;
  message?: DecodedMessage;
}

/** The frame being read. */
interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  length: number;
  read: number;
  headerSize: number;
  firstByteAt: number;
  /** Payload bytes of this frame that are kept (uncompressed data and control frames). */
  keep: number;
  /** A control frame's payload. */
  buf: Buffer | undefined;
  control: boolean;
}

interface InflateJob {
  pending: Pending;
  /** Compressed input (unmasked, a copy) not yet written to the inflater: input[0, fill). */
  input: Buffer | undefined;
  fill: number;
  ended: boolean;
}

// Shared empty lists, replaced by a decoder's own on its first push (never pushed to).
const NO_MESSAGES: (Pending | DecodedMessage)[] = [];
const NO_JOBS: InflateJob[] = [];
const NO_WAITERS: (() => void)[] = [];

// A decoder exists for each direction of every open tunnel, idle ones included: it holds no
// buffer or array until it needs one.
export class FrameDecoder {
  /** Header bytes, when a header is split across chunks (made on first need). */
  private header: Buffer | undefined;
  private headerFill = 0;
  private headerStartedAt = 0;
  /** The current frame's masking key (big-endian, as on the wire). */
  private maskKey = 0;
  private frame: Frame | undefined;
  private message: Pending | undefined;
  /** Complete messages waiting for an earlier one still being inflated; emitted in wire order. */
  private outbox: (Pending | DecodedMessage)[] = NO_MESSAGES;
  private inflater: zlib.InflateRaw | undefined;
  /** undefined until the inflater exists; null when this Node offers no synchronous path. */
  private syncInflate: ZlibSync | null | undefined;
  /** Compressed messages inflated on the thread pool, one at a time, in order. */
  private inflateQueue: InflateJob[] = NO_JOBS;
  private inflating = false;
  /** Writes to the inflater not yet done (input waits in its job meanwhile: see feedInflater). */
  private writing = 0;
  private blind = false;
  private closed = false;
  /** Compressed bytes given to the thread pool's inflater or waiting for it, not yet inflated. */
  private backlog = 0;
  private waiters: (() => void)[] = NO_WAITERS;

  /** Binary payload bytes kept per message (opts.maxBinaryBytes; an application protocol that reads binary raises it). */
  private binaryLimit: number | undefined;

  constructor(private readonly opts: FrameDecoderOptions) {
    this.binaryLimit = opts.maxBinaryBytes;
  }

  /** Keep this many bytes of each binary payload from the next frame on (undefined: up to maxMessageBytes). */
  keepBinary(n: number | undefined): void {
    this.binaryLimit = n;
  }

  /** True once a protocol error switched this direction off. */
  get stopped(): boolean {
    return this.blind;
  }

  /** Between two frames of what it was fed: a frame of wstap's own may be written there. */
  get atFrameBoundary(): boolean {
    return !this.blind && this.frame === undefined && this.headerFill === 0;
  }

  /** Between two messages: not inside a fragmented data message either (a data frame of wstap's own may go there). */
  get atMessageBoundary(): boolean {
    return this.atFrameBoundary && this.message === undefined;
  }

  /** Bytes as they were forwarded, with the time they arrived (performance.now()). */
  push(chunk: Buffer, at: number): void {
    if (this.blind) return;
    const end = chunk.length;
    let pos = 0;
    while (pos < end && !this.blind) {
      const f = this.frame;
      if (f === undefined) {
        pos = this.readHeader(chunk, pos, at);
        continue;
      }
      const take = Math.min(f.length - f.read, end - pos);
      if (take > 0) this.payload(f, chunk, pos, take);
      pos += take;
      if (f.read === f.length && !this.blind) this.endFrame(f, at);
    }
  }

  /** Resolves once every complete message has been reported (compressed ones may be inflated asynchronously). */
  settled(): Promise<void> {
    if (this.blind || this.outbox.length === 0) return Promise.resolve();
    if (this.waiters === NO_WAITERS) this.waiters = [];
    const waiters = this.waiters;
    return new Promise((resolve) => waiters.push(resolve));
  }

  /** Ends the decoder: pending inflation is dropped. */
  destroy(): void {
    this.blind = true;
    this.closeInflater();
    // What waited for the inflater goes with it.
    this.inflateQueue = NO_JOBS;
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    for (const w of this.waiters.splice(0)) w();
  }

  private closeInflater(): void {
    this.inflater?.close();
    this.inflater = undefined;
    this.syncInflate = undefined;
  }

  private violation(breach: RuleBreach, at: number): void {
    if (this.blind) return;
    this.blind = true;
    this.opts.onViolation({ from: this.opts.from, rule: breach.rule, detail: breach.detail, at });
    this.closeInflater();
    this.wake();
  }

  // --- frame headers -------------------------------------------------------------------

  private readHeader(chunk: Buffer, pos: number, at: number): number {
    let h: Buffer;
    let base: number;
    let need: number;
    if (this.headerFill === 0 && chunk.length - pos >= 2 && chunk.length - pos >= (need = headerSize(chunk[pos + 1]!))) {
      // The whole header is in this chunk: read it in place.
      this.headerStartedAt = at;
      h = chunk;
      base = pos;
      pos += need;
    } else {
      if (this.headerFill === 0) this.headerStartedAt = at;
      // Collect header bytes until the header is complete (2 to 14 bytes).
      const header = (this.header ??= Buffer.alloc(14));
      while (pos < chunk.length) {
        header[this.headerFill++] = chunk[pos++]!;
        if (this.headerFill >= 2 && this.headerFill >= headerSize(header[1]!)) break;
      }
      if (this.headerFill < 2) return pos;
      need = headerSize(header[1]!);
      if (this.headerFill < need) return pos;
      h = header;
      base = 0;
      this.headerFill = 0;
    }
    const b0 = h[base]!;
    const b1 = h[base + 1]!;
    const len7 = b1 & 0x7f;
    let length = len7;
    let off = base + 2;
    if (len7 === 126) {
      length = h.readUInt16BE(off);
      off += 2;
    } else if (len7 === 127) {
      const hi = h.readUInt32BE(off);
      if (hi > 0x1fffff) {
        this.violation(lengthTooLarge(), at);
        return pos;
      }
      length = hi * 2 ** 32 + h.readUInt32BE(off + 4);
      off += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) this.maskKey = h.readInt32BE(off);
    const opcode = b0 & 0x0f;
    const frame: Frame = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      opcode,
      masked,
      length,
      read: 0,
      headerSize: need,
      firstByteAt: this.headerStartedAt,
      keep: 0,
      buf: undefined,
      control: opcode >= 0x8,
    };
    if (!this.checkFrame(frame, b0, at)) return pos;
    this.frame = frame;
    if (frame.control) {
      frame.keep = length;
      frame.buf = Buffer.allocUnsafe(length);
    } else this.startData(frame);
    if (length === 0) this.endFrame(frame, at);
    return pos;
  }

  private checkFrame(f: Frame, b0: number, at: number): boolean {
    const o = this.opts;
    const breach = checkHeader(
      { b0, masked: f.masked, length: f.length },
      { from: o.from, deflate: o.deflate, closed: this.closed, inMessage: this.message !== undefined },
    );
    if (breach) this.violation(breach, at);
    return breach === undefined;
  }

  // --- payloads ------------------------------------------------------------------------

  private startData(f: Frame): void {
    let p = this.message;
    if (f.opcode !== 0) {
      p = {
        kind: f.opcode === 1 ? 'text' : 'binary',
        opcode: f.opcode,
        compressed: f.rsv1,
        async: false,
        frames: 0,
        wireSize: 0,
        firstByteAt: f.firstByteAt,
        lastByteAt: f.firstByteAt,
        kept: undefined,
        keptBytes: 0,
        size: 0,
        done: false,
      };
      this.message = p;
      if (p.compressed && !this.startInflating(p)) return;
    }
    p!.frames++;
    p!.wireSize += f.headerSize + f.length;
    if (!p!.compressed) f.keep = Math.max(0, Math.min(f.length, this.keepLimit(p!) - p!.keptBytes));
  }

  /** The piece chunk[start, start + n) of frame f's payload. */
  private payload(f: Frame, chunk: Buffer, start: number, n: number): void {
    const offset = f.read;
    f.read += n;
    if (f.control) {
      this.copyOut(f, chunk, start, n, offset, f.buf!, offset);
      return;
    }
    const p = this.message!;
    if (p.compressed) {
      this.inflatePiece(p, f, chunk, start, n, offset);
      return;
    }
    p.size += n;
    const k = Math.min(n, f.keep - offset);
    if (k <= 0) return;
    // Room for the frame's kept part at its first piece: a one-frame message gets one exact
    // buffer (the usual case: one allocation, one copy); later frames go into the same one.
    const out = offset === 0 ? reserve(p, f.keep, this.keepLimit(p)) : p.kept!;
    this.copyOut(f, chunk, start, k, offset, out, p.keptBytes + offset);
    if (offset + k === f.keep) p.keptBytes += f.keep;
  }

  /** Copies n payload bytes that start at `offset` in the frame to out[at], unmasked. */
  private copyOut(f: Frame, chunk: Buffer, start: number, n: number, offset: number, out: Buffer, at: number): void {
    if (!f.masked) {
      chunk.copy(out, at, start, start + n);
      return;
    }
    maskInto(chunk, start, n, rotateKey(this.maskKey, offset), out, at);
  }

  private endFrame(f: Frame, at: number): void {
    this.frame = undefined;
    if (f.control) {
      this.controlFrame(f, f.buf!, at);
      return;
    }
    const p = this.message!;
    p.lastByteAt = at;
    if (!f.fin) return;
    this.message = undefined;
    if (p.compressed) {
      this.endInflating(p);
      return;
    }
    this.finishData(p, at);
  }

  /** The message is complete and its data ready: check it, then emit it (or queue it behind one still inflating). */
  private finishData(p: Pending, at: number): void {
    const kept = p.kept;
    const data = kept === undefined ? Buffer.alloc(0) : kept.length === p.keptBytes ? kept : kept.subarray(0, p.keptBytes);
    p.kept = undefined;
    // Over --max-message-size; a binary message may also be kept shorter (only as far as a sink reads it).
    const truncated = p.size > this.opts.maxMessageBytes;
    if (p.kind === 'text' && !truncated && !isUtf8(data)) {
      this.violation(invalidUtf8(), at);
      return;
    }
    const m: DecodedMessage = {
      from: this.opts.from,
      kind: p.kind,
      opcode: p.opcode,
      data,
      size: p.size,
      wireSize: p.wireSize,
      compressed: p.compressed,
      frames: p.frames,
      firstByteAt: p.firstByteAt,
      lastByteAt: p.lastByteAt,
      truncated,
    };
    if (p.async) {
      // Queued in the outbox when it completed on the wire.
      p.message = m;
      p.done = true;
      this.drain();
      return;
    }
    this.emit(m);
  }

  private controlFrame(f: Frame, data: Buffer, at: number): void {
    const kind = opcodeName(f.opcode) as MessageKind;
    const m: DecodedMessage = {
      from: this.opts.from,
      kind,
      opcode: f.opcode,
      data,
      size: data.length,
      wireSize: f.headerSize + f.length,
      compressed: false,
      frames: 1,
      firstByteAt: f.firstByteAt,
      lastByteAt: at,
      truncated: false,
    };
    if (kind === 'close') {
      const breach = checkClosePayload(data, isUtf8);
      if (breach) {
        this.violation(breach, at);
        return;
      }
      m.closeCode = data.length >= 2 ? data.readUInt16BE(0) : 1005;
      m.closeReason = data.length >= 2 ? data.toString('utf8', 2) : '';
      this.closed = true;
    }
    this.emit(m);
  }

  /** A message complete in wire order: out at once unless an earlier one is still being inflated. */
  private emit(m: DecodedMessage): void {
    // (A non-empty outbox is the decoder's own: see endInflating.)
    if (this.outbox.length === 0) {
      this.opts.onMessage(m);
      return;
    }
    this.outbox.push(m);
    this.drain();
  }

  /** Emits messages from the head of the outbox, in wire order, as they become ready. */
  private drain(): void {
    while (this.outbox.length && !this.blind) {
      const head = this.outbox[0]!;
      if ('done' in head) {
        if (!head.done) return;
        this.outbox.shift();
        this.opts.onMessage(head.message!);
      } else {
        this.outbox.shift();
        this.opts.onMessage(head);
      }
    }
    if (this.outbox.length === 0) this.wake();
  }

  // --- permessage-deflate -------------------------------------------------------------
  // One raw inflater per direction with a 15-bit window that is never reset: it decodes
  // every negotiated combination (a smaller window, or no context takeover, only means
  // the sender refers back less far). It is created with the first compressed message.
  //
  // A message is inflated synchronously (zlib's writeSync on the same stream) while nothing
  // is queued for the thread pool and its output stays under SYNC_INFLATE_LIMIT; otherwise
  // (or when this Node has no synchronous path) through the stream, asynchronously.

  private ensureInflater(): zlib.InflateRaw {
    if (!this.inflater) {
      const z = createRawInflater();
      z.on('data', (d: Buffer) => this.onInflated(d));
      z.on('error', (err: Error) => this.violation(invalidDeflate(err.message), performance.now()));
      this.inflater = z;
      this.syncInflate = zlibSyncOf(z) ?? null;
    }
    return this.inflater;
  }

  /** A compressed message starts; false when decoding stopped. */
  private startInflating(p: Pending): boolean {
    this.ensureInflater();
    if (this.syncInflate === null || this.inflateQueue.length > 0) this.goAsync(p, undefined);
    return !this.blind;
  }

  private inflatePiece(p: Pending, f: Frame, chunk: Buffer, start: number, n: number, offset: number): void {
    if (p.async) {
      this.feedInflater(p, f, chunk, start, n, offset);
      return;
    }
    let input: Buffer;
    if (f.masked) {
      input = Buffer.allocUnsafe(n);
      paceScavenges(n);
      maskInto(chunk, start, n, rotateKey(this.maskKey, offset), input, 0);
    } else input = chunk.subarray(start, start + n);
    this.inflateSync(p, input, !f.masked);
  }

  /** The last frame of a compressed message arrived. */
  private endInflating(p: Pending): void {
    if (!p.async) {
      this.inflateSync(p, DEFLATE_TRAILER, false);
      if (this.blind) return;
      if (!p.async) {
        this.finishData(p, p.lastByteAt);
        return;
      }
    }
    const job = this.inflateQueue.find((j) => j.pending === p);
    if (!job) return;
    // Messages are reported in the order they completed on the wire.
    if (this.outbox === NO_MESSAGES) this.outbox = [];
    this.outbox.push(p);
    job.ended = true;
    this.runInflater();
  }

  /**
   * Inflates `input` on the main thread into p. Past SYNC_INFLATE_LIMIT bytes of output the
   * rest of the message (what is left of the input, and every later piece) goes to the
   * thread pool. `borrowed`: input is a view of the forwarded chunk (copied before it is queued).
   */
  private inflateSync(p: Pending, input: Buffer, borrowed: boolean): void {
    let result: { consumed: number; stopped: boolean };
    try {
      result = writeSyncFlush(this.syncInflate!, input, 0, input.length, (out, n) => {
        this.collectInflated(p, out, n, true);
        return p.size <= SYNC_INFLATE_LIMIT;
      });
    } catch (err) {
      this.violation(invalidDeflate(err instanceof ZlibDataError ? err.message : String(err)), performance.now());
      return;
    }
    if (!result.stopped) return;
    // Past the limit: the rest of this message (and every message behind it) goes to the thread pool.
    const rest = input.subarray(result.consumed);
    this.goAsync(p, borrowed ? Buffer.from(rest) : rest);
  }

  /** From now on p (and every message behind it) is inflated on the thread pool. */
  private goAsync(p: Pending, first: Buffer | undefined): void {
    p.async = true;
    if (this.inflateQueue === NO_JOBS) this.inflateQueue = [];
    const n = first?.length ?? 0;
    this.inflateQueue.push({ pending: p, input: n > 0 ? first : undefined, fill: n, ended: false });
    this.grewBacklog(n);
    this.runInflater();
  }

  /**
   * A piece of compressed input for the thread pool: appended (unmasked) to the message's input
   * buffer, which goes to the inflater in one write whenever none is in flight. The stream
   * keeps what it is given until the thread pool gets to it: a copy, never the forwarded chunk;
   * and one write per piece would be one queued request per fragment.
   */
  private feedInflater(p: Pending, f: Frame, chunk: Buffer, start: number, n: number, offset: number): void {
    const job = this.inflateQueue.find((j) => j.pending === p);
    if (!job) return;
    const fill = job.fill;
    let input = job.input;
    if (input === undefined || fill + n > input.length) {
      // Doubled (amortised): exact for the first piece, which is usually the whole frame.
      const grown = Buffer.allocUnsafe(input === undefined ? n : Math.max(fill + n, input.length * 2));
      paceScavenges(grown.length);
      if (input !== undefined) input.copy(grown, 0, 0, fill);
      job.input = input = grown;
    }
    if (f.masked) maskInto(chunk, start, n, rotateKey(this.maskKey, offset), input, fill);
    else chunk.copy(input, fill, start, start + n);
    job.fill = fill + n;
    this.grewBacklog(n);
    if (this.inflateQueue[0] === job) this.runInflater();
  }

  private grewBacklog(n: number): void {
    this.backlog += n;
    const limit = Math.max(BACKLOG_MIN, 4 * this.opts.maxMessageBytes);
    if (this.backlog <= limit) return;
    this.destroy();
    throw new DecodeBacklogError(
      `more than ${Math.round(limit / 1048576)} MiB of compressed input from the ${this.opts.from} waited to be inflated ` +
        '(messages that inflate to far more than they weigh, arriving faster than they inflate): decoding stops here to bound memory',
    );
  }

  private runInflater(): void {
    const job = this.inflateQueue[0];
    if (!job || this.blind) return;
    const inflater = this.ensureInflater();
    if (job.fill > 0 && (this.writing === 0 || job.ended)) {
      const input = job.input!;
      const part = job.fill === input.length ? input : input.subarray(0, job.fill);
      // The stream holds `part` until it is inflated: the next input goes into a new buffer.
      job.input = undefined;
      job.fill = 0;
      this.writing++;
      // When it is done, what came meanwhile goes in one write.
      inflater.write(part, () => {
        this.writing--;
        this.backlog -= part.length;
        this.runInflater();
      });
    }
    if (!job.ended || this.inflating) return;
    this.inflating = true;
    inflater.write(DEFLATE_TRAILER);
    inflater.flush(Z_SYNC_FLUSH, () => {
      this.inflating = false;
      if (this.blind || this.inflater !== inflater) return;
      this.inflateQueue.shift();
      this.finishData(job.pending, job.pending.lastByteAt);
      this.runInflater();
    });
  }

  private onInflated(d: Buffer): void {
    const job = this.inflateQueue[0];
    if (!job) return;
    this.collectInflated(job.pending, d, d.length, false);
  }

  /** How much of a message's payload is kept. */
  private keepLimit(p: Pending): number {
    return p.kind === 'binary' && this.binaryLimit !== undefined ? Math.min(this.binaryLimit, this.opts.maxMessageBytes) : this.opts.maxMessageBytes;
  }

  /**
   * Counts inflated bytes and keeps up to keepLimit() of them, in the message's one buffer
   * (`scratch`: d is reused and must be copied; otherwise a first piece is kept as it is).
   */
  private collectInflated(p: Pending, d: Buffer, n: number, scratch: boolean): void {
    p.size += n;
    const limit = this.keepLimit(p);
    const room = limit - p.keptBytes;
    if (room <= 0) return;
    const k = Math.min(n, room);
    if (!scratch && p.kept === undefined) {
      p.kept = k < d.length ? d.subarray(0, k) : d;
      p.keptBytes = k;
      return;
    }
    d.copy(reserve(p, k, limit), p.keptBytes, 0, k);
    p.keptBytes += k;
  }
}

/**
 * A buffer with room for n more kept bytes of p: exact for the first piece (a one-frame message
 * is one buffer of its size), then doubled, never past `limit` (keptBytes + n never is).
 */
function reserve(p: Pending, n: number, limit: number): Buffer {
  const kept = p.kept;
  const need = p.keptBytes + n;
  if (kept !== undefined && need <= kept.length) return kept;
  const grown = Buffer.allocUnsafe(kept === undefined ? n : Math.min(limit, Math.max(need, kept.length * 2)));
  // A payload kept for the sinks is garbage soon after: counted like a read (wire/scavenge-pacing.ts).
  paceScavenges(grown.length);
  if (kept !== undefined) kept.copy(grown, 0, 0, p.keptBytes);
  p.kept = grown;
  return grown;
}
