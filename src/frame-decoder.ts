/**
 * A passive decoder of one direction of a WebSocket connection. It reads copies of
 * the forwarded bytes (it never writes to a socket, never modifies what it is given)
 * and reports messages, reassembled and inflated, with the arrival time of their
 * bytes. Memory is bounded: beyond maxMessageBytes a message is counted, not kept.
 * A frame that breaks RFC 6455 is reported once and this direction stops decoding.
 */
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { OPCODES, type MessageKind, type ProtocolViolation, type Side, type WsMessage } from './frame.js';

const require = createRequire(import.meta.url);

type Unmask = (buf: Buffer, mask: Buffer) => void;
/** The optional native bufferutil (the one ws uses) unmasks about eight times faster than JavaScript. */
const nativeUnmask: Unmask | undefined = (() => {
  if (process.env['WS_NO_BUFFER_UTIL']) return undefined;
  try {
    return (require('bufferutil') as { unmask: Unmask }).unmask;
  } catch {
    return undefined;
  }
})();

function unmask(buf: Buffer, mask: Buffer): void {
  if (nativeUnmask && buf.length >= 32) {
    nativeUnmask(buf, mask);
    return;
  }
  for (let i = 0; i < buf.length; i++) buf[i]! ^= mask[i & 3]!;
}

export interface FrameDecoderOptions {
  from: Side;
  /** permessage-deflate was negotiated for this connection. */
  deflate: boolean;
  /** Largest decoded payload kept per message; the rest is counted. */
  maxMessageBytes: number;
  onMessage(message: WsMessage): void;
  onViolation(violation: ProtocolViolation): void;
}

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A data message being reassembled. */
interface Pending {
  kind: 'text' | 'binary';
  opcode: number;
  compressed: boolean;
  frames: number;
  wireSize: number;
  firstByteAt: number;
  lastByteAt: number;
  kept: Buffer[];
  keptBytes: number;
  size: number;
  /** Output is ready (uncompressed: at the final frame; compressed: when inflated). */
  done: boolean;
  message?: WsMessage;
}

/** The frame being read. */
interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  mask: Buffer | undefined;
  length: number;
  read: number;
  headerSize: number;
  firstByteAt: number;
  control: Buffer[] | undefined;
}

function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

export class FrameDecoder {
  private header = Buffer.alloc(14);
  private headerFill = 0;
  private frame: Frame | undefined;
  private message: Pending | undefined;
  /** Complete messages in wire order; emitted from the head once ready (inflation is asynchronous). */
  private readonly outbox: (Pending | WsMessage)[] = [];
  private inflater: zlib.InflateRaw | undefined;
  /** Compressed messages waiting for (or in) the inflater, one at a time. */
  private readonly inflateQueue: { pending: Pending; parts: Buffer[]; ended: boolean }[] = [];
  private inflating = false;
  private blind = false;
  private closed = false;

  constructor(private readonly opts: FrameDecoderOptions) {}

  /** True once a protocol error switched this direction off. */
  get stopped(): boolean {
    return this.blind;
  }

  /** Bytes as they were forwarded, with the time they arrived (performance.now()). */
  push(chunk: Buffer, at: number): void {
    if (this.blind) return;
    let pos = 0;
    while (pos < chunk.length && !this.blind) {
      if (!this.frame) {
        pos = this.readHeader(chunk, pos, at);
        continue;
      }
      const f = this.frame;
      const take = Math.min(f.length - f.read, chunk.length - pos);
      if (take > 0) this.payload(f, chunk.subarray(pos, pos + take));
      pos += take;
      if (f.read === f.length) this.endFrame(f, at);
    }
  }

  /** Resolves once every complete message has been reported (compressed ones are inflated asynchronously). */
  settled(): Promise<void> {
    if (this.blind || this.outbox.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Ends the decoder: pending inflation is dropped. */
  destroy(): void {
    this.blind = true;
    this.inflater?.close();
    this.inflater = undefined;
    this.wake();
  }

  private readonly waiters: (() => void)[] = [];

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private violation(rule: string, at: number): void {
    if (this.blind) return;
    this.blind = true;
    this.opts.onViolation({ from: this.opts.from, rule, at });
    this.inflater?.close();
    this.inflater = undefined;
    this.wake();
  }

  private readHeader(chunk: Buffer, pos: number, at: number): number {
    if (this.headerFill === 0) this.headerStartedAt = at;
    // Copy header bytes until the header is complete (2 to 14 bytes).
    while (pos < chunk.length) {
      this.header[this.headerFill++] = chunk[pos++]!;
      const need = this.headerSize();
      if (need !== undefined && this.headerFill >= need) break;
    }
    const need = this.headerSize();
    if (need === undefined || this.headerFill < need) return pos;
    const h = this.header;
    const b0 = h[0]!;
    const b1 = h[1]!;
    const len7 = b1 & 0x7f;
    let length = len7;
    let off = 2;
    if (len7 === 126) {
      length = h.readUInt16BE(2);
      off = 4;
    } else if (len7 === 127) {
      const hi = h.readUInt32BE(2);
      if (hi > 0x1fffff) {
        this.violation('a 64-bit payload length above 2^53 (the most significant bit must be 0)', at);
        return pos;
      }
      length = hi * 2 ** 32 + h.readUInt32BE(6);
      off = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    const frame: Frame = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      opcode: b0 & 0x0f,
      masked,
      mask: masked ? Buffer.from(h.subarray(off, off + 4)) : undefined,
      length,
      read: 0,
      headerSize: need,
      firstByteAt: this.headerStartedAt,
      control: undefined,
    };
    this.headerFill = 0;
    if (!this.checkFrame(frame, b0, at)) return pos;
    this.frame = frame;
    if (frame.opcode >= 0x8) frame.control = [];
    else this.startData(frame);
    if (frame.length === 0) this.endFrame(frame, at);
    return pos;
  }

  private headerStartedAt = 0;

  /** Total header size once the second byte (and the length bytes) are known. */
  private headerSize(): number | undefined {
    if (this.headerFill < 2) return undefined;
    const b1 = this.header[1]!;
    const len7 = b1 & 0x7f;
    const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    return 2 + ext + (b1 & 0x80 ? 4 : 0);
  }

  private checkFrame(f: Frame, b0: number, at: number): boolean {
    const from = this.opts.from;
    const kind = OPCODES[f.opcode];
    if (this.closed) {
      this.violation(`a frame after the close frame (${from}s must not send anything after close, RFC 6455 5.5.1)`, at);
      return false;
    }
    if (kind === undefined) {
      this.violation(`reserved opcode 0x${f.opcode.toString(16)}`, at);
      return false;
    }
    if (b0 & 0x30) {
      this.violation('RSV2 or RSV3 bit set (no negotiated extension defines them)', at);
      return false;
    }
    if (f.rsv1 && (!this.opts.deflate || f.opcode === 0 || f.opcode >= 0x8)) {
      this.violation(
        !this.opts.deflate
          ? 'RSV1 bit set without a negotiated permessage-deflate'
          : 'RSV1 bit set on a continuation or control frame (only the first frame of a message may carry it)',
        at,
      );
      return false;
    }
    if (from === 'client' && !f.masked) {
      this.violation('an unmasked frame from the client (clients must mask every frame, RFC 6455 5.1)', at);
      return false;
    }
    if (from === 'server' && f.masked) {
      this.violation('a masked frame from the server (servers must not mask, RFC 6455 5.1)', at);
      return false;
    }
    if (f.opcode >= 0x8) {
      if (!f.fin) {
        this.violation('a fragmented control frame (control frames must have FIN set, RFC 6455 5.5)', at);
        return false;
      }
      if (f.length > 125) {
        this.violation(`a control frame with a ${f.length}-byte payload (at most 125, RFC 6455 5.5)`, at);
        return false;
      }
      return true;
    }
    if (f.opcode === 0 && !this.message) {
      this.violation('a continuation frame without a message to continue', at);
      return false;
    }
    if (f.opcode !== 0 && this.message) {
      this.violation('a new data frame while a fragmented message is still open (expected a continuation frame)', at);
      return false;
    }
    return true;
  }

  private startData(f: Frame): void {
    if (f.opcode !== 0) {
      const kind = OPCODES[f.opcode] as 'text' | 'binary';
      const p: Pending = {
        kind,
        opcode: f.opcode,
        compressed: f.rsv1,
        frames: 0,
        wireSize: 0,
        firstByteAt: f.firstByteAt,
        lastByteAt: f.firstByteAt,
        kept: [],
        keptBytes: 0,
        size: 0,
        done: false,
      };
      this.message = p;
      if (p.compressed) this.inflateQueue.push({ pending: p, parts: [], ended: false });
    }
    this.message!.frames++;
    this.message!.wireSize += f.headerSize + f.length;
  }

  private payload(f: Frame, piece: Buffer): void {
    const offset = f.read;
    f.read += piece.length;
    if (f.control) {
      f.control.push(this.unmasked(f, piece, offset));
      return;
    }
    const p = this.message!;
    if (p.compressed) {
      this.feedInflater(p, this.unmasked(f, piece, offset));
      return;
    }
    p.size += piece.length;
    const room = this.opts.maxMessageBytes - p.keptBytes;
    if (room <= 0) return;
    const keep = piece.length > room ? piece.subarray(0, room) : piece;
    p.kept.push(this.unmasked(f, keep, offset));
    p.keptBytes += keep.length;
  }

  /** A copy of the piece, unmasked (the forwarded bytes are never touched). */
  private unmasked(f: Frame, piece: Buffer, offset: number): Buffer {
    const copy = Buffer.allocUnsafe(piece.length);
    piece.copy(copy);
    if (!f.mask) return copy;
    const m = f.mask;
    const r = offset & 3;
    unmask(copy, r === 0 ? m : Buffer.from([m[r]!, m[(r + 1) & 3]!, m[(r + 2) & 3]!, m[(r + 3) & 3]!]));
    return copy;
  }

  private endFrame(f: Frame, at: number): void {
    this.frame = undefined;
    if (f.control) {
      this.controlFrame(f, Buffer.concat(f.control), at);
      return;
    }
    const p = this.message!;
    p.lastByteAt = at;
    if (!f.fin) return;
    this.message = undefined;
    // Messages are reported in the order they completed on the wire.
    this.outbox.push(p);
    if (p.compressed) {
      const job = this.inflateQueue.find((j) => j.pending === p)!;
      job.ended = true;
      this.runInflater();
      return;
    }
    this.finishData(p, at);
  }

  private finishData(p: Pending, at: number): void {
    const data = p.kept.length === 1 ? p.kept[0]! : Buffer.concat(p.kept);
    const truncated = p.size > p.keptBytes;
    if (p.kind === 'text' && !truncated && !isUtf8(data)) {
      this.violation('invalid UTF-8 in a text message (RFC 6455 8.1)', at);
      return;
    }
    p.message = {
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
    p.done = true;
    this.drain();
  }

  private controlFrame(f: Frame, data: Buffer, at: number): void {
    const kind = OPCODES[f.opcode] as MessageKind;
    const m: WsMessage = {
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
      if (data.length === 1) {
        this.violation('a close frame with a 1-byte payload (a close payload starts with a 2-byte code)', at);
        return;
      }
      if (data.length >= 2) {
        const code = data.readUInt16BE(0);
        if (!isValidCloseCode(code)) {
          this.violation(`invalid close code ${code}`, at);
          return;
        }
        const reason = data.subarray(2);
        if (!isUtf8(reason)) {
          this.violation('invalid UTF-8 in the close reason', at);
          return;
        }
        m.closeCode = code;
        m.closeReason = reason.toString('utf8');
      } else {
        m.closeCode = 1005;
        m.closeReason = '';
      }
      this.closed = true;
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
  // the sender refers back less far).

  private feedInflater(p: Pending, part: Buffer): void {
    const job = this.inflateQueue.find((j) => j.pending === p);
    if (!job) return;
    job.parts.push(part);
    if (this.inflateQueue[0] === job) this.runInflater();
  }

  private runInflater(): void {
    const job = this.inflateQueue[0];
    if (!job || this.blind) return;
    if (!this.inflater) {
      this.inflater = zlib.createInflateRaw({ windowBits: 15 });
      this.inflater.on('data', (d: Buffer) => this.onInflated(d));
      this.inflater.on('error', (err: Error) => this.violation(`invalid compressed data (${err.message})`, performance.now()));
    }
    const inflater = this.inflater;
    for (const part of job.parts.splice(0)) inflater.write(part);
    if (!job.ended || this.inflating) return;
    this.inflating = true;
    inflater.write(TRAILER);
    inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
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
    const p = job.pending;
    p.size += d.length;
    const room = this.opts.maxMessageBytes - p.keptBytes;
    if (room <= 0) return;
    const keep = d.length > room ? d.subarray(0, room) : d;
    p.kept.push(keep);
    p.keptBytes += keep.length;
  }
}
