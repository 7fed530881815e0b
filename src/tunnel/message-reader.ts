/**
 * Reads one direction of the message path: frames (from the splitter) grouped into messages,
 * with their raw bytes kept for a faithful output and their payload unmasked and inflated for
 * the hooks. A data message is its first frame and its continuations; a control frame is a
 * message of its own, complete before the data message it arrived in, which keeps a reference
 * to it at its place in its raw bytes (so that both can go out exactly as they came).
 *
 * A data message whose bytes (raw, or inflated) pass MESSAGE_LIMIT is not kept: it becomes a
 * streaming message, handed over at once, whose raw bytes the direction writes through as they
 * come (control frames inside it with them); it is still inflated, output discarded, so that the
 * inflater's window stays in step for the messages after it.
 *
 * Memory is counted in bytes, not in frames: a message's payload is one buffer (exact for its
 * first piece, then grown by doubling, never past MESSAGE_LIMIT), and its raw bytes are views of
 * the chunks only for its first frame's header and first piece and for pieces of at least
 * VIEW_MIN bytes; smaller pieces (continuation headers, dribbled payload) are copied into one
 * growing buffer, so a million one-byte fragments are a few buffers, not three million.
 */
import type { Side } from '../session/message.js';
import { DEFLATE_TRAILER, writeSyncFlush, type ZlibSync } from '../tap/inflater.js';
import { maskInto, rotateKey } from '../tap/mask.js';
import { FrameSplitter, type FrameHead, type FrameSink } from './frame-splitter.js';
import { newInflater } from './sync-zlib.js';

/** The largest message (raw bytes, or inflated bytes) held for the hooks. */
export const MESSAGE_LIMIT = 64 * 1024 * 1024;

/** Raw pieces at least this large are kept as views of their chunk; smaller ones (after a message's first two) are copied together. */
const VIEW_MIN = 4096;
/** The first buffer for copied raw pieces. */
const TAIL_MIN = 1024;
/** Room for copied raw pieces of a streaming message (they are written after each chunk). */
const STREAM_TAIL = 64 * 1024;
/**
 * What a control frame inside a data message costs besides its bytes while that message is read
 * (its record, about 450 bytes of objects): counted in the message's span, so that MESSAGE_LIMIT
 * bounds the control frames held inside one message too, not only its bytes.
 */
const CONTROL_COST = 512;

/** A message read from the wire. */
export interface Received {
  readonly entry: 'message';
  readonly opcode: number;
  readonly compressed: boolean;
  /** Position among the messages of its sender, in the order they completed. */
  index: number;
  /**
   * Raw bytes as received, in order (headers and payload pieces); a data message also holds,
   * at their place, the control frames that arrived between its frames.
   */
  wire: (Buffer | Received)[];
  /** Bytes from its first byte to now, control frames between its frames included, each also at CONTROL_COST (data messages). */
  span: number;
  /** Payload, unmasked and inflated: payload[0, size), which becomes `data` when complete. */
  payload: Buffer | undefined;
  size: number;
  data: Buffer;
  /** Bytes it holds (raw and payload), counted in its direction's `held`. */
  held: number;
  /** performance.now() when its last byte (so far) arrived. */
  at: number;
  /** For a control frame: the data message it arrived in. */
  readonly within: Received | undefined;
  complete: boolean;
  /** Larger than MESSAGE_LIMIT: written through as it comes, never given to the hooks. */
  streaming: boolean;
  /** A control frame passed as received, waiting to go out at its place inside `within`. */
  slotted: boolean;
  /** Its output has started or is done: nothing can take a place inside it any more. */
  written: boolean;
}

/** What the reader tells its direction. */
export interface ReaderHost {
  /** Bytes held by the direction: the reader adds what it keeps, and what it discards. */
  held: number;
  /** A message is complete (not a streaming one: see oversize). */
  message(m: Received): void;
  /** A data message passed MESSAGE_LIMIT: from now on it streams. */
  oversize(m: Received): void;
}

const EMPTY = Buffer.alloc(0);

function received(opcode: number, compressed: boolean, within: Received | undefined, at: number): Received {
  return {
    entry: 'message',
    opcode,
    compressed,
    index: -1,
    wire: [],
    span: 0,
    payload: undefined,
    size: 0,
    data: EMPTY,
    held: 0,
    at,
    within,
    complete: false,
    streaming: false,
    slotted: false,
    written: false,
  };
}

export class MessageReader implements FrameSink {
  private readonly splitter: FrameSplitter;
  private inflater: ZlibSync | undefined;
  private frame: FrameHead | undefined;
  /** The message the current frame belongs to (a streaming one for a control frame inside it). */
  private cur: Received | undefined;
  /** The data message being read. */
  private open: Received | undefined;
  /** The current frame is a control frame inside a streaming message: its bytes stream with it. */
  private inStream = false;
  /** Small raw pieces of the open data message, copied: tail[tailStart, tailFill) is not in its wire yet (see copyRaw). */
  private tail: Buffer | undefined;
  private tailStart = 0;
  private tailFill = 0;
  private index = 0;
  private at = 0;

  constructor(
    from: Side,
    deflate: boolean,
    private readonly host: ReaderHost,
  ) {
    this.splitter = new FrameSplitter(from, deflate, this);
  }

  /** Reads a chunk that arrived at `at`. When reading stops (a frame that breaks RFC 6455, bad compressed data), answers with the bytes it did not take. */
  push(chunk: Buffer, at: number): Buffer | undefined {
    this.at = at;
    const rest = this.splitter.push(chunk);
    // A streaming message's bytes go out after each chunk: its wire must be whole.
    const open = this.open;
    if (open?.streaming) this.flushTail(open);
    return rest;
  }

  head(h: FrameHead, raw: Buffer): void {
    this.frame = h;
    const open = this.open;
    if (h.opcode >= 0x8) {
      if (open !== undefined && !open.streaming) this.addSpan(open, CONTROL_COST);
      this.inStream = open?.streaming === true;
      this.cur = this.inStream ? open : received(h.opcode, false, open, this.at);
    } else if (h.opcode !== 0) this.cur = this.open = received(h.opcode, h.rsv1, undefined, this.at);
    else this.cur = open;
    this.keepRaw(raw);
  }

  payload(piece: Buffer, offset: number): boolean {
    this.keepRaw(piece);
    const m = this.cur!;
    const h = this.frame!;
    // Streaming: only compressed data is still read (the inflater must see it).
    if (this.inStream || (m.streaming && !m.compressed)) return true;
    const n = piece.length;
    if (m.compressed) {
      if (!h.masked) return this.inflate(m, piece);
      const plain = Buffer.allocUnsafe(n);
      maskInto(piece, 0, n, rotateKey(h.key, offset), plain, 0);
      return this.inflate(m, plain);
    }
    // The hooks get a copy, never a view of the bytes that may be forwarded as they are: unmasked into the message's payload.
    const out = this.room(m, n);
    if (out === undefined) return true;
    if (h.masked) maskInto(piece, 0, n, rotateKey(h.key, offset), out, m.size);
    else piece.copy(out, m.size);
    this.count(m, n);
    return true;
  }

  frameEnd(): boolean {
    const m = this.cur!;
    const h = this.frame!;
    this.cur = undefined;
    this.frame = undefined;
    if (this.inStream) {
      // A control frame inside a streaming message went out with it, unseen by the hooks.
      this.inStream = false;
      this.index++;
      return true;
    }
    if (h.opcode < 0x8) {
      if (!h.fin) return true;
      if (m.compressed && !this.inflate(m, DEFLATE_TRAILER)) return false;
      this.flushTail(m);
      this.open = undefined;
      this.dropTail();
    } else if (m.within && !m.within.streaming) {
      // At its place: after the data message's bytes so far.
      this.flushTail(m.within);
      m.within.wire.push(m);
    }
    this.complete(m);
    return true;
  }

  /** The bytes held for a message not yet complete (a data message, a control frame, a header): taken out of the reader, which is done. */
  takePartial(): (Buffer | Received)[] {
    const out: (Buffer | Received)[] = [];
    const open = this.open;
    if (open) this.flushTail(open);
    this.dropTail();
    // A streaming message is in its direction's queue already: it ends here.
    if (open?.streaming) open.complete = true;
    else if (open) this.takeRaw(open, out);
    const cur = this.cur;
    if (cur !== undefined && cur !== open) this.takeRaw(cur, out);
    const header = this.splitter.pending();
    if (header.length) {
      out.push(header);
      this.host.held += header.length;
    }
    this.open = this.cur = undefined;
    this.dispose();
    return out;
  }

  dispose(): void {
    this.inflater?.stream.close();
    this.inflater = undefined;
  }

  private complete(m: Received): void {
    m.complete = true;
    m.index = this.index++;
    if (m.streaming) return;
    const payload = m.payload;
    m.data = payload === undefined ? EMPTY : payload.length === m.size ? payload : payload.subarray(0, m.size);
    m.payload = undefined;
    this.host.message(m);
  }

  /** Keeps raw bytes of the current frame with its message; counts them towards the data message they are part of. */
  private keepRaw(b: Buffer): void {
    const m = this.cur!;
    // A data message's first header and first piece (a one-frame message: all of it) and large
    // pieces are views of the chunk; other pieces are copied together (see copyRaw).
    if (m !== this.open || b.length >= VIEW_MIN || m.wire.length < 2) {
      if (m === this.open) this.flushTail(m);
      m.wire.push(b);
    } else this.copyRaw(m, b);
    m.at = this.at;
    m.held += b.length;
    this.host.held += b.length;
    const open = this.open;
    if (open === undefined || open.streaming || (m !== open && m.within !== open)) return;
    this.addSpan(open, b.length);
  }

  /** The open data message spans n more bytes (or their cost): past MESSAGE_LIMIT it streams. */
  private addSpan(open: Received, n: number): void {
    open.span += n;
    if (open.span > MESSAGE_LIMIT) this.stream(open);
  }

  /**
   * Appends a small raw piece of the open data message m to the tail buffer: grown by doubling,
   * never past what m can still take before it streams; what is in its wire already stays where it is.
   */
  private copyRaw(m: Received, b: Buffer): void {
    const n = b.length;
    let tail = this.tail;
    if (tail === undefined || this.tailFill + n > tail.length) {
      const pending = this.tailFill - this.tailStart;
      const doubled = tail === undefined ? TAIL_MIN : tail.length * 2;
      // A streaming message's copies go out after each chunk: a chunk's worth of room is enough.
      const most = m.streaming ? STREAM_TAIL : pending + MESSAGE_LIMIT + 1 - m.span;
      const grown = Buffer.allocUnsafe(Math.max(pending + n, Math.min(doubled, most)));
      if (pending > 0) tail!.copy(grown, 0, this.tailStart, this.tailFill);
      this.tail = tail = grown;
      this.tailStart = 0;
      this.tailFill = pending;
    }
    b.copy(tail, this.tailFill);
    this.tailFill += n;
  }

  /** The copied raw pieces not yet in m's wire (m is the open data message) go there, as one view. */
  private flushTail(m: Received): void {
    if (this.tailFill === this.tailStart) return;
    m.wire.push(this.tail!.subarray(this.tailStart, this.tailFill));
    this.tailStart = this.tailFill;
  }

  /** The open data message is done: its copied pieces are all in its wire. */
  private dropTail(): void {
    this.tail = undefined;
    this.tailStart = this.tailFill = 0;
  }

  /**
   * Room for n more payload bytes at m.payload[m.size]: exact for the first piece (a one-frame
   * message is one buffer of its size), then doubled. Undefined when they take a data message
   * past MESSAGE_LIMIT: it streams from now on (they are counted, then dropped with the rest).
   */
  private room(m: Received, n: number): Buffer | undefined {
    const need = m.size + n;
    if (m.opcode < 0x8 && need > MESSAGE_LIMIT) {
      this.count(m, n);
      this.stream(m);
      return undefined;
    }
    const b = m.payload;
    if (b !== undefined && need <= b.length) return b;
    const grown = Buffer.allocUnsafe(b === undefined ? n : Math.min(MESSAGE_LIMIT, Math.max(need, b.length * 2)));
    if (b !== undefined) b.copy(grown, 0, 0, m.size);
    m.payload = grown;
    return grown;
  }

  /** n payload bytes were written at m.payload[m.size]. */
  private count(m: Received, n: number): void {
    m.size += n;
    m.held += n;
    this.host.held += n;
  }

  private inflate(m: Received, input: Buffer): boolean {
    try {
      writeSyncFlush((this.inflater ??= newInflater()), input, 0, input.length, (out, n) => {
        // The scratch buffer is reused: what is kept is copied.
        if (m.streaming) return true;
        const to = this.room(m, n);
        if (to === undefined) return true;
        out.copy(to, m.size, 0, n);
        this.count(m, n);
        return true;
      });
      return true;
    } catch {
      // Invalid compressed data (ZlibDataError): reading stops here.
      return false;
    }
  }

  /** Past the limit: the payload is dropped and the message streams from now on. */
  private stream(m: Received): void {
    m.streaming = true;
    this.release(m, m.size);
    m.payload = undefined;
    this.flushTail(m);
    this.host.oversize(m);
  }

  /** Moves a partial message's raw bytes to `out` (still counted in `held`); its payload is dropped. */
  private takeRaw(m: Received, out: (Buffer | Received)[]): void {
    this.release(m, m.size);
    for (const b of m.wire) out.push(b);
    m.wire = [];
    m.payload = undefined;
    m.held = 0;
  }

  private release(m: Received, n: number): void {
    m.held -= n;
    this.host.held -= n;
  }
}
