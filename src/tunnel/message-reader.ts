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
 */
import type { Side } from '../session/message.js';
import { DEFLATE_TRAILER, writeSyncFlush, type ZlibSync } from '../tap/inflater.js';
import { maskInto, rotateKey } from '../tap/mask.js';
import { FrameSplitter, type FrameHead, type FrameSink } from './frame-splitter.js';
import { newInflater } from './sync-zlib.js';

/** The largest message (raw bytes, or inflated bytes) held for the hooks. */
export const MESSAGE_LIMIT = 64 * 1024 * 1024;

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
  /** Bytes from its first byte to now, control frames between its frames included (data messages). */
  span: number;
  /** Payload: unmasked, inflated; joined into `data` when complete. */
  parts: Buffer[];
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
    parts: [],
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
    return this.splitter.push(chunk);
  }

  head(h: FrameHead, raw: Buffer): void {
    this.frame = h;
    const open = this.open;
    if (h.opcode >= 0x8) {
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
    if (!h.masked) {
      // The hooks get a copy, never a view of the bytes that may be forwarded as they are.
      if (m.compressed) return this.inflate(m, piece);
      this.keepPayload(m, Buffer.from(piece));
      return true;
    }
    const plain = Buffer.allocUnsafe(piece.length);
    maskInto(piece, 0, piece.length, rotateKey(h.key, offset), plain, 0);
    if (m.compressed) return this.inflate(m, plain);
    this.keepPayload(m, plain);
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
      this.open = undefined;
    } else if (m.within && !m.within.streaming) m.within.wire.push(m);
    this.complete(m);
    return true;
  }

  /** The bytes held for a message not yet complete (a data message, a control frame, a header): taken out of the reader, which is done. */
  takePartial(): (Buffer | Received)[] {
    const out: (Buffer | Received)[] = [];
    const open = this.open;
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
    m.data = m.parts.length === 1 ? m.parts[0]! : m.parts.length === 0 ? EMPTY : Buffer.concat(m.parts, m.size);
    m.parts = [];
    this.host.message(m);
  }

  /** Keeps raw bytes of the current frame with its message; counts them towards the data message they are part of. */
  private keepRaw(b: Buffer): void {
    const m = this.cur!;
    m.wire.push(b);
    m.at = this.at;
    m.held += b.length;
    this.host.held += b.length;
    const open = this.open;
    if (open === undefined || open.streaming || (m !== open && m.within !== open)) return;
    open.span += b.length;
    if (open.span > MESSAGE_LIMIT) this.stream(open);
  }

  private keepPayload(m: Received, b: Buffer): void {
    m.parts.push(b);
    m.size += b.length;
    m.held += b.length;
    this.host.held += b.length;
    if (m.opcode < 0x8 && m.size > MESSAGE_LIMIT) this.stream(m);
  }

  private inflate(m: Received, input: Buffer): boolean {
    try {
      writeSyncFlush((this.inflater ??= newInflater()), input, 0, input.length, (out, n) => {
        // The scratch buffer is reused: what is kept is copied.
        if (!m.streaming) this.keepPayload(m, Buffer.from(out.subarray(0, n)));
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
    m.parts = [];
    this.host.oversize(m);
  }

  /** Moves a partial message's raw bytes to `out` (still counted in `held`); its payload is dropped. */
  private takeRaw(m: Received, out: (Buffer | Received)[]): void {
    this.release(m, m.size);
    for (const b of m.wire) out.push(b);
    m.wire = [];
    m.parts = [];
    m.held = 0;
  }

  private release(m: Received, n: number): void {
    m.held -= n;
    this.host.held -= n;
  }
}
