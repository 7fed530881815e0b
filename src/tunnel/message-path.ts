/**
 * The message path of the tunnel: the forwarding of a session that a message hook took at the
 * handshake. Each direction reads its bytes into messages (message-reader.ts), hands each
 * complete one to the hooks (hook-chain.ts) and writes what they let through, in order. A
 * handler that answers with a promise holds its direction (what comes after queues behind it);
 * the other direction goes on.
 *
 * Output. A message passed as received goes out as its original frame bytes (same
 * fragmentation, masking key and compressed bytes; a control frame that came between the
 * frames of a data message keeps its place when both pass), so a session whose hooks pass
 * everything is byte-faithful. What wstap writes itself (replacements, added and injected
 * messages) is one frame with FIN set, uncompressed (RSV1 clear is valid under
 * permessage-deflate), masked with a fresh random key toward the server and unmasked toward the
 * client. Observers see the bytes as written, so the frame tap decodes what the receiver got.
 *
 * permessage-deflate. With context takeover the receiver inflates each compressed message with
 * the window its earlier compressed messages left. Passing originals keeps the receiver's window
 * equal to the sender's; uncompressed messages never touch either, so writing our own
 * uncompressed frames changes nothing. Dropping or replacing a compressed message does: the
 * receiver never sees bytes the sender's later messages may refer back to. From that message on
 * the direction is in re-deflate mode: every compressed message it passes (originals included)
 * is inflated (the reader does that anyway, for the hooks) and compressed again by wstap's own
 * raw deflater for the direction, made at the switch, one frame with RSV1, sync flush, trailing
 * 00 00 ff ff stripped. A fresh deflater is valid mid-stream: its history is exactly the
 * messages it compressed, which are also the last bytes of the receiver's window, so every
 * distance it uses resolves to the same bytes there; its window is the one negotiated for that
 * sender (9 bits for 8, see sync-zlib.ts). When the sender has no context takeover
 * (server_no_context_takeover for server messages, client_no_context_takeover for client ones)
 * each message stands alone: originals stay valid after a drop and nothing is re-deflated.
 *
 * Bounds. A direction stops reading while its destination wants a drain, and while what it holds
 * passes HOLD_LIMIT when that is waiting on a hook (not on input: the message being read is
 * bounded by MESSAGE_LIMIT instead). A larger message is written through as it comes, unseen by
 * the hooks, when that is faithful; when it is compressed and the direction re-deflates, it
 * could only be re-deflated whole, so wstap closes the session with 1009 to both sides and says
 * why through onHookFailure.
 *
 * A frame that breaks RFC 6455, or bad compressed data, ends the parsing of that direction: what
 * it holds goes out in order, then the rest of its bytes as they come (the frame tap reports the
 * error). An end of input (FIN) is passed on after what the direction holds has been written.
 */
import type net from 'node:net';
import type { Side } from '../session/message.js';
import type { DeflateParams } from '../wire/extensions.js';
import { encodeFrame } from '../wire/ws-frame.js';
import { HookChain, hookMessage, ORIGINAL, toOut, type Item, type Out } from './hook-chain.js';
import type { MessageHandler, OutMessage } from './hooks.js';
import { MESSAGE_LIMIT, MessageReader, type ReaderHost, type Received } from './message-reader.js';
import { hasSyncZlib, Redeflater } from './sync-zlib.js';

export interface MessagePathOptions {
  /** The hooks that took this session, in order. */
  handlers: readonly MessageHandler[];
  /** permessage-deflate as negotiated, or undefined. */
  deflate: DeflateParams | undefined;
  /** A hook threw or rejected (the message passed), or wstap closed the session (the error says why). */
  onHookFailure(error: unknown): void;
}

/** Bytes a direction holds (queued messages and the one being read) before it stops reading while a hook holds it. */
export const HOLD_LIMIT = 16 * 1024 * 1024;

/** One direction of a tunnel, as tunnel.ts has it. */
export interface DirectionEnds {
  /** The sender. */
  readonly side: Side;
  readonly from: net.Socket;
  readonly to: net.Socket;
  readonly observe: ((chunk: Buffer, at: number) => void) | undefined;
  readonly forwarded: ((ms: number) => void) | undefined;
}

/** A message wstap writes itself (sent through the tunnel's send()). */
interface Injected {
  readonly entry: 'injected';
  readonly out: Out;
  readonly at: number;
}

/** Bytes forwarded as they are (after a protocol error, or at the end of input). */
interface Verbatim {
  readonly entry: 'verbatim';
  readonly wire: (Buffer | Received)[];
  at: number;
  /** No more bytes will come. */
  complete: boolean;
}

type Entry = Received | Injected | Verbatim;

export class MessagePath {
  readonly up: MessageDirection;
  readonly down: MessageDirection;
  readonly chain: HookChain;

  /**
   * The message path for a session, or undefined (reported through onHookFailure) when this Node
   * cannot run it: a compressed session needs synchronous zlib, which every Node 20 has.
   */
  static open(opts: MessagePathOptions, up: DirectionEnds, down: DirectionEnds): MessagePath | undefined {
    if (opts.deflate === undefined || hasSyncZlib()) return new MessagePath(opts, up, down);
    opts.onHookFailure(new Error('this Node offers no synchronous zlib: the session is forwarded as it is, without its message hooks'));
    return undefined;
  }

  private constructor(
    readonly opts: MessagePathOptions,
    up: DirectionEnds,
    down: DirectionEnds,
  ) {
    this.chain = new HookChain(opts.handlers, (err) => opts.onHookFailure(err));
    this.up = new MessageDirection(this, up);
    this.down = new MessageDirection(this, down);
  }

  /** Sends a message to one side, behind what that direction holds. */
  send(to: Side, m: OutMessage): boolean {
    return (to === 'server' ? this.up : this.down).inject(toOut(m));
  }

  /** wstap closes the session with `code` to both sides, and says why. */
  closeSession(origin: MessageDirection, code: number, why: string): void {
    this.opts.onHookFailure(new Error(why));
    origin.closeWith(code, true);
    (origin === this.up ? this.down : this.up).closeWith(code, false);
  }

  /**
   * wstap ends the session itself (shutdown): each side whose direction is at a message boundary
   * gets a close frame with `code` and `reason` behind what that direction holds, then a FIN; a
   * direction that is writing a message through in pieces (or bytes after a protocol error) gets
   * only the FIN. Says which sides got a close frame.
   */
  goAway(
    code: number,
    reason: string,
    to: { client: boolean; server: boolean } = { client: true, server: true },
  ): { toServer: boolean; toClient: boolean } {
    const toServer = to.server && this.up.atBoundary();
    const toClient = to.client && this.down.atBoundary();
    if (toServer) this.up.goAway(code, reason);
    else this.up.endOutput();
    if (toClient) this.down.goAway(code, reason);
    else this.down.endOutput();
    return { toServer, toClient };
  }

  /** Both sockets are closed: zlib streams are freed, and hooks that settle later write nothing. */
  dispose(): void {
    this.up.dispose();
    this.down.dispose();
  }
}

/** One direction of the message path: reads, holds, hands to the hooks, writes. */
export class MessageDirection implements ReaderHost {
  held = 0;
  private reader: MessageReader | undefined;
  private readonly queue: Entry[] = [];
  /** A hook holds the message at the head of the queue. */
  private busy = false;
  private running = false;
  /** Control frames passed as received, waiting for their place inside the data message they came in. */
  private readonly slots: Received[] = [];
  /** Made when this direction goes into re-deflate mode. */
  private redeflater: Redeflater | undefined;
  /** After a protocol error: the rest of this direction's bytes, as they come. */
  private verbatim: Verbatim | undefined;
  private inputEnded = false;
  private outputEnded = false;
  /** wstap is closing the session: input is discarded. */
  private closing = false;
  private paused = false;
  private disposed = false;

  constructor(
    private readonly path: MessagePath,
    private readonly ends: DirectionEnds,
  ) {
    this.reader = new MessageReader(ends.side, path.opts.deflate !== undefined, this);
  }

  /** Bytes from the sender, arrived at `at`. */
  push(chunk: Buffer, at: number): void {
    if (this.closing) return;
    if (this.reader) {
      const rest = this.reader.push(chunk, at);
      if (rest !== undefined) this.fallBack(rest, at);
    } else {
      const v = this.verbatim!;
      v.wire.push(chunk);
      v.at = at;
      this.held += chunk.length;
    }
    this.kick();
  }

  /** The sender ended its side (FIN): what is held goes out, then the FIN. */
  endOfInput(): void {
    this.inputEnded = true;
    if (this.reader) {
      const wire = this.reader.takePartial();
      this.reader = undefined;
      if (wire.length) this.queue.push({ entry: 'verbatim', wire, at: performance.now(), complete: true });
    } else if (this.verbatim) this.verbatim.complete = true;
    this.kick();
  }

  /** The destination took what it was given. */
  drained(): void {
    this.flow();
  }

  /** Queues a message of wstap's own; false when nothing more can go this way (its sender ended, or the session closes). */
  inject(out: Out): boolean {
    if (this.verbatim && !this.closing) {
      throw new Error(
        `the ${this.ends.side}'s bytes are forwarded unparsed since a protocol error: nothing can be sent to the ${this.ends.side === 'client' ? 'server' : 'client'} any more`,
      );
    }
    // Once the sender has ended its side (or wstap closes the session) nothing more is sent that way.
    if (this.inputEnded || this.closing || this.disposed) return false;
    this.queue.push({ entry: 'injected', out, at: performance.now() });
    this.kick();
    return true;
  }

  /** A close frame with `code` after what is held (or, `dropQueued`, instead of it), then the end; input is discarded from now on. */
  closeWith(code: number, dropQueued: boolean, reason?: string): void {
    if (this.closing) return;
    this.stopReading();
    if (dropQueued) {
      this.flushSlots();
      this.queue.length = 0;
    }
    this.queue.push({ entry: 'injected', out: toOut({ kind: 'close', code, ...(reason ? { reason } : {}) }), at: performance.now() });
    this.kick();
  }

  /**
   * Shutdown at a boundary: what the direction holds goes out, then the close frame; a message a
   * hook still holds (a delay, a breakpoint) is not waited for: it and what queued behind it are
   * dropped, and the hook's answer, when it comes, writes nothing.
   */
  goAway(code: number, reason: string): void {
    const held = this.busy;
    this.busy = false;
    this.closeWith(code, held, reason);
  }

  /** No frame of wstap's own can go out here: what is held goes out, then a FIN. */
  endOutput(): void {
    if (this.closing) return;
    this.stopReading();
    this.kick();
  }

  /** Input is discarded from now on; what the direction holds still goes out. */
  private stopReading(): void {
    this.closing = true;
    this.reader?.dispose();
    this.reader = undefined;
    if (this.verbatim) this.verbatim.complete = true;
  }

  /**
   * Whether a frame of wstap's own could follow what this direction wrote and holds: no message is
   * going out in pieces (a message too large to hold, still being read) and no bytes pass as they
   * came (after a protocol error). A message still being read was not written: it is dropped.
   */
  atBoundary(): boolean {
    if (this.verbatim || this.closing || this.disposed) return false;
    return this.queue.every((e) => e.entry === 'injected' || (e.entry !== 'verbatim' && e.complete));
  }

  dispose(): void {
    this.disposed = true;
    this.queue.length = 0;
    this.reader?.dispose();
    this.reader = undefined;
    this.redeflater?.close();
    this.redeflater = undefined;
  }

  // --- ReaderHost ------------------------------------------------------------------------

  message(m: Received): void {
    this.queue.push(m);
  }

  oversize(m: Received): void {
    this.queue.push(m);
  }

  // --- the queue -------------------------------------------------------------------------

  /** Runs the queue, its writes corked into one, then decides whether to read on. */
  private kick(): void {
    const to = this.ends.to;
    to.cork();
    this.run();
    to.uncork();
    this.flow();
  }

  /** Settles the queue from its head until it is empty or its head waits (on a hook, or on input). */
  private run(): void {
    // A hook that sends into its own direction lands here while the queue is being run: the run in progress takes it.
    if (this.running) return;
    this.running = true;
    try {
      while (!this.busy && this.queue.length > 0) {
        const e = this.queue[0]!;
        if (!this.settle(e)) break;
        if (this.queue[0] === e) this.queue.shift();
      }
    } finally {
      this.running = false;
    }
    if (!this.busy && this.queue.length === 0) this.idle();
  }

  /** Writes what becomes of e; false while e waits (more input, or a hook). */
  private settle(e: Entry): boolean {
    if (e.entry === 'injected') {
      this.writeFrame(this.encode(e.out), e.at);
      return true;
    }
    if (e.entry === 'verbatim') {
      this.writeWire(e, e.at);
      return e.complete;
    }
    return e.streaming ? this.streamOut(e) : this.process(e);
  }

  private process(m: Received): boolean {
    const items = this.path.chain.run(hookMessage(this.ends.side, m.opcode, m.data, m.index, m.at));
    if (!(items instanceof Promise)) {
      this.output(m, items);
      return true;
    }
    this.busy = true;
    void items.then((settled) => this.resume(m, settled));
    return false;
  }

  /** The hooks let m's items through after a promise: write them, and go on with the queue. */
  private resume(m: Received, items: readonly Item[]): void {
    this.busy = false;
    if (this.disposed) return;
    // wstap closed the session meanwhile and dropped what this direction held: m goes nowhere.
    if (this.closing && this.queue[0] !== m) return;
    if (this.queue[0] === m) this.queue.shift();
    const to = this.ends.to;
    to.cork();
    this.output(m, items);
    this.run();
    to.uncork();
    this.flow();
  }

  /** A message too large to hold goes through as it comes, unless it is compressed and this direction re-deflates. */
  private streamOut(m: Received): boolean {
    if (!m.written) {
      if (m.compressed && this.redeflater) {
        const why = `a compressed message from the ${this.ends.side} passed ${MESSAGE_LIMIT} bytes on a session whose compression wstap re-encodes (a message was dropped or replaced): it cannot be held, so the session is closed with 1009`;
        this.path.closeSession(this, 1009, why);
        return true;
      }
      m.written = true;
    }
    this.writeWire(m, m.at);
    if (!m.complete) return false;
    this.finish(m);
    return true;
  }

  /** The end of input or wstap's close is passed on once everything before it went out. */
  private idle(): void {
    if (this.outputEnded || !(this.inputEnded || this.closing)) return;
    this.outputEnded = true;
    if (!this.ends.to.destroyed) this.ends.to.end();
  }

  /** A frame broke RFC 6455, or its compressed data was bad: what is held goes out in order, then the rest as it comes. */
  private fallBack(rest: Buffer, at: number): void {
    const v: Verbatim = { entry: 'verbatim', wire: this.reader!.takePartial(), at, complete: false };
    this.reader = undefined;
    if (rest.length) v.wire.push(rest);
    this.held += rest.length;
    this.verbatim = v;
    this.queue.push(v);
  }

  /** Reads while the destination takes bytes and what is held stays under the bound (or is waiting on input). */
  private flow(): void {
    const full = this.held > HOLD_LIMIT && !this.waitsOnInput();
    const hold = !this.closing && !this.disposed && (this.ends.to.writableNeedDrain || full);
    if (hold === this.paused) return;
    this.paused = hold;
    if (hold) this.ends.from.pause();
    else this.ends.from.resume();
  }

  private waitsOnInput(): boolean {
    const head = this.queue[0];
    return head === undefined || head.entry === 'verbatim' || (head.entry === 'message' && head.streaming);
  }

  // --- output ----------------------------------------------------------------------------

  private output(m: Received, items: readonly Item[]): void {
    const passed = items.includes(ORIGINAL);
    if (!passed && m.compressed) this.diverge();
    const within = m.within;
    if (passed && items.length === 1 && within !== undefined && !within.written) {
      // A control frame passed as received goes out at its place inside its data message.
      m.slotted = true;
      this.slots.push(m);
      return;
    }
    m.written = true;
    const control = m.opcode >= 0x8;
    // Control frames passed before this one go first.
    if (control) this.flushSlots();
    for (const item of items) {
      if (item === ORIGINAL) this.writeOriginal(m);
      else this.writeFrame(this.encode(item), m.at);
    }
    // A data message that was dropped leaves the control frames that came inside it.
    if (!control) this.flushSlots();
    this.finish(m);
    this.ends.forwarded?.(performance.now() - m.at);
  }

  /** A compressed message was dropped or replaced: with context takeover, the receiver's window no longer matches the sender's. */
  private diverge(): void {
    const deflate = this.path.opts.deflate!;
    const client = this.ends.side === 'client';
    if (this.redeflater || (client ? deflate.clientNoContextTakeover : deflate.serverNoContextTakeover)) return;
    this.redeflater = new Redeflater(client ? deflate.clientMaxWindowBits : deflate.serverMaxWindowBits);
  }

  private writeOriginal(m: Received): void {
    const r = this.redeflater;
    if (m.compressed && r) this.writeFrame(encodeFrame({ opcode: m.opcode, payload: r.compress(m.data), rsv1: true, mask: this.masks() }), m.at);
    else this.writeWire(m, m.at);
  }

  /** Writes e's raw bytes held so far, with the control frames slotted in them at their place. */
  private writeWire(e: Received | Verbatim, at: number): void {
    let slotted = false;
    for (const item of e.wire) {
      if (Buffer.isBuffer(item)) {
        this.held -= item.length;
        if (e.entry === 'message') e.held -= item.length;
        this.write(item, at);
      } else if (item.slotted) {
        slotted = true;
        this.writeSlotted(item);
      }
    }
    e.wire.length = 0;
    // Every slotted control frame belongs to the one data message not yet written: this one.
    if (slotted) this.slots.length = 0;
  }

  /** Writes the control frames waiting for their place (something else goes out before their data message). */
  private flushSlots(): void {
    for (const c of this.slots) if (c.slotted) this.writeSlotted(c);
    this.slots.length = 0;
  }

  private writeSlotted(c: Received): void {
    c.slotted = false;
    this.writeWire(c, c.at);
    this.finish(c);
  }

  /** A frame wstap made: after the control frames waiting for their place. */
  private writeFrame(frame: Buffer, at: number): void {
    this.flushSlots();
    this.write(frame, at);
  }

  private write(b: Buffer, at: number): void {
    const to = this.ends.to;
    if (this.outputEnded || to.destroyed) return;
    to.write(b);
    this.ends.observe?.(b, at);
  }

  private encode(out: Out): Buffer {
    return encodeFrame({ opcode: out.opcode, payload: out.payload, mask: this.masks() });
  }

  /** Frames toward the server are masked (RFC 6455 5.3). */
  private masks(): boolean {
    return this.ends.side === 'client';
  }

  /** m is done: what it still held is released. */
  private finish(m: Received): void {
    this.held -= m.held;
    m.held = 0;
  }
}
