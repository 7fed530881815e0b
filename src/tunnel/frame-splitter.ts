/**
 * Splits one direction's byte stream into frames for the message path: each header as it
 * completes, checked against the rules of RFC 6455 the frame tap checks (tap/frame-rules.ts),
 * then the payload in the pieces it arrives in, as on the wire (still masked). Pieces are views
 * of the chunks; only a header split across chunks is copied.
 *
 * Parsing stops for good at the first frame that breaks a rule, or when the sink asks it to:
 * push() then answers with the bytes the sink did not get, so that the caller can forward them
 * (and everything after them) as they are.
 */
import type { Side } from '../session/message.js';
import { checkHeader } from '../tap/frame-rules.js';
import { headerSize } from '../wire/ws-frame.js';

export interface FrameHead {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** The masking key, big-endian as on the wire (0 when unmasked). */
  readonly key: number;
  readonly length: number;
}

export interface FrameSink {
  /** A frame header, whole: `raw` is its bytes (a view of the chunk, or a copy when it came in pieces). */
  head(h: FrameHead, raw: Buffer): void;
  /** A piece of the current frame's payload as received, `offset` bytes into the payload; false stops parsing. */
  payload(piece: Buffer, offset: number): boolean;
  /** The current frame is complete; false stops parsing. */
  frameEnd(): boolean;
}

const NO_BYTES = Buffer.alloc(0);

export class FrameSplitter {
  /** Header bytes, when a header is split across chunks (made on first need). */
  private header: Buffer | undefined;
  private fill = 0;
  private frame: FrameHead | undefined;
  private read = 0;
  private inMessage = false;
  private closed = false;
  /** Set when parsing stopped: the bytes the sink did not get. */
  private stopped: Buffer | undefined;

  constructor(
    private readonly from: Side,
    private readonly deflate: boolean,
    private readonly sink: FrameSink,
  ) {}

  /** Hands a chunk to the sink. When parsing stops, answers with the bytes the sink did not get (from a bad frame's first byte on). */
  push(chunk: Buffer): Buffer | undefined {
    let pos = 0;
    while (pos < chunk.length) {
      const f = this.frame;
      if (f === undefined) {
        pos = this.readHeader(chunk, pos);
        if (this.stopped !== undefined) return this.stopped;
        continue;
      }
      const take = Math.min(f.length - this.read, chunk.length - pos);
      const offset = this.read;
      this.read += take;
      let ok = this.sink.payload(chunk.subarray(pos, pos + take), offset);
      pos += take;
      if (ok && this.read === f.length) ok = this.endFrame();
      if (!ok) return this.stop(chunk.subarray(pos));
    }
    return undefined;
  }

  /** The bytes of a header not yet complete (a copy). */
  pending(): Buffer {
    return this.fill === 0 ? NO_BYTES : Buffer.from(this.header!.subarray(0, this.fill));
  }

  private stop(rest: Buffer): Buffer {
    this.stopped = rest;
    return rest;
  }

  /** Reads a header from chunk[pos]; answers with the position after the bytes it took. */
  private readHeader(chunk: Buffer, pos: number): number {
    let raw: Buffer;
    let need: number;
    if (this.fill === 0 && chunk.length - pos >= 2 && chunk.length - pos >= (need = headerSize(chunk[pos + 1]!))) {
      // The whole header is in this chunk: a view of it.
      raw = chunk.subarray(pos, pos + need);
      pos += need;
    } else {
      // Collect header bytes until the header is complete (2 to 14 bytes).
      const header = (this.header ??= Buffer.alloc(14));
      while (pos < chunk.length) {
        header[this.fill++] = chunk[pos++]!;
        if (this.fill >= 2 && this.fill >= headerSize(header[1]!)) break;
      }
      if (this.fill < 2 || this.fill < (need = headerSize(header[1]!))) return pos;
      raw = Buffer.from(header.subarray(0, need));
      this.fill = 0;
    }
    const h = this.parse(raw);
    if (h === undefined) {
      this.stop(Buffer.concat([raw, chunk.subarray(pos)]));
      return pos;
    }
    this.frame = h;
    this.read = 0;
    this.sink.head(h, raw);
    if (h.length === 0 && !this.endFrame()) this.stop(chunk.subarray(pos));
    return pos;
  }

  /** The header's facts, or undefined when it breaks a rule (the frame tap, which reads what is written, reports which). */
  private parse(raw: Buffer): FrameHead | undefined {
    const b0 = raw[0]!;
    const b1 = raw[1]!;
    const len7 = b1 & 0x7f;
    let length = len7;
    let off = 2;
    if (len7 === 126) {
      length = raw.readUInt16BE(2);
      off = 4;
    } else if (len7 === 127) {
      const hi = raw.readUInt32BE(2);
      // Above 2^53 (length-too-large).
      if (hi > 0x1fffff) return undefined;
      length = hi * 2 ** 32 + raw.readUInt32BE(6);
      off = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const facts = { from: this.from, deflate: this.deflate, closed: this.closed, inMessage: this.inMessage };
    if (checkHeader({ b0, masked, length }, facts)) return undefined;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    if (opcode === 0x8) this.closed = true;
    else if (opcode < 0x8) this.inMessage = !fin;
    return { fin, rsv1: (b0 & 0x40) !== 0, opcode, masked, key: masked ? raw.readInt32BE(off) : 0, length };
  }

  private endFrame(): boolean {
    this.frame = undefined;
    return this.sink.frameEnd();
  }
}
