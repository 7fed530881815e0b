/**
 * The tunnel after a validated 101: raw bytes both ways, unchanged, with
 * backpressure and half-close. A reset on one side becomes a reset on the other.
 * Observers get each chunk after it was handed to the other socket; they must not
 * keep or modify it (copy it first).
 *
 * A session that a message hook took goes on the message path instead (message-path.ts):
 * the same sockets, listeners and end semantics, but each direction's bytes go through its
 * message reader and the hooks, and observers see what was written. The plain and observed
 * paths do not know about it.
 *
 * A tunnel lives as long as its connection, and an idle proxy holds thousands: its
 * listeners are module-level functions that find their state on the socket (no closures
 * or contexts per tunnel), and the per-chunk path allocates nothing but one number when
 * the forwarding time is measured (see docs/performance.md).
 */
import type net from 'node:net';
import type { Side } from '../session/message.js';
import type { SessionEnd, TunnelSide } from '../session/session.js';
import type { OutMessage } from './hooks.js';
import { MessagePath, type MessageDirection, type MessagePathOptions } from './message-path.js';
import { paceScavenges } from '../wire/scavenge-pacing.js';

/** Sees a forwarded chunk and the time it arrived (performance.now()). */
export type ChunkObserver = (chunk: Buffer, at: number) => void;

/** How the TCP connections of a tunnel ended. */
export type TunnelEnd = Omit<SessionEnd, 'ws' | 'findings'>;

export interface TunnelOptions {
  onClientChunk?: ChunkObserver;
  onServerChunk?: ChunkObserver;
  /** Time from a chunk's arrival to its hand-off to the kernel, ms (only measured with observers). */
  onForwarded?: (ms: number) => void;
  /** Put the session on the message path: whole messages through these hooks. */
  messages?: MessagePathOptions;
  onEnd: (end: TunnelEnd) => void;
}

/** Which sides got wstap's close frame when it ended a session on the message path; resolves when both sockets closed. */
export interface GoneAway {
  toServer: boolean;
  toClient: boolean;
  closed: Promise<void>;
}

export interface Tunnel {
  /** Ends the tunnel from the proxy's side (shutdown): both sockets are destroyed. */
  destroy(reason: string): void;
  /**
   * Ends the tunnel from the proxy's side with its own last bytes to each side (a close frame at
   * a frame boundary): both sides stop being read, get their bytes and a FIN, and are destroyed
   * after lingerMs if they have not closed. Resolves when both sockets are closed.
   */
  endWith(last: { toClient?: Buffer; toServer?: Buffer }, reason: string, lingerMs: number): Promise<void>;
  /**
   * On the message path: ends the tunnel from the proxy's side with a close frame (code, reason)
   * to each side whose direction is at a message boundary, behind what it holds, then a FIN; both
   * sockets are destroyed after lingerMs if they have not closed. Undefined on the other paths.
   */
  goAway(code: number, reason: string, lingerMs: number): GoneAway | undefined;
  /** Sends a message to one side (message path only); false when nothing more can go that way (the session is ending). */
  send(to: Side, m: OutMessage): boolean;
  /**
   * On the message path: a close frame (code, reason) to the side(s) named, behind what their
   * direction holds, as if the other side had sent it; then a FIN to both, and both sockets are
   * destroyed after lingerMs. False on the other paths.
   */
  closeTo(to: { client: boolean; server: boolean }, code: number, reason: string, lingerMs: number): boolean;
  /** Resets both connections at once (no close frame): what a crashed peer or a dead network looks like. */
  cut(reason: string): void;
}

/** The direction a socket reads for; set on both sockets of a tunnel. */
const kDirection = Symbol('wstap.tunnel.direction');
type TunnelSocket = net.Socket & { [kDirection]?: Direction };

/** One direction: bytes read from `from` are written to `to`. */
class Direction {
  bytes = 0;
  /**
   * Arrival times of the chunks written and not yet reported (NaN: reported at once).
   * Write callbacks come in write order, so each one settles the oldest entry. Both are
   * made with the first chunk.
   */
  waiting: number[] | undefined;
  onWritten: ((err?: Error | null) => void) | undefined;
  /** This direction on the message path. */
  messages: MessageDirection | undefined;

  constructor(
    readonly tunnel: TunnelState,
    readonly side: 'client' | 'server',
    readonly from: net.Socket,
    readonly to: net.Socket,
    readonly observe: ChunkObserver | undefined,
    readonly forwarded: ((ms: number) => void) | undefined,
  ) {}

  startTiming(forwarded: (ms: number) => void): number[] {
    const waiting: number[] = [];
    this.waiting = waiting;
    this.onWritten = (err) => {
      const at = waiting.shift();
      if (!err && at !== undefined && !Number.isNaN(at)) forwarded(performance.now() - at);
    };
    return waiting;
  }
}

class TunnelState implements Tunnel {
  readonly up: Direction;
  readonly down: Direction;
  readonly messages: MessagePath | undefined;
  private readonly started = performance.now();
  private first: { side: TunnelSide; how: TunnelEnd['how']; error?: string } | undefined;
  private closed = 0;
  private reported = false;

  constructor(
    readonly client: net.Socket,
    readonly server: net.Socket,
    private readonly onEnd: (end: TunnelEnd) => void,
    opts: TunnelOptions,
  ) {
    this.up = new Direction(this, 'client', client, server, opts.onClientChunk, opts.onForwarded);
    this.down = new Direction(this, 'server', server, client, opts.onServerChunk, opts.onForwarded);
    this.messages = opts.messages && MessagePath.open(opts.messages, this.up, this.down);
    if (this.messages) {
      this.up.messages = this.messages.up;
      this.down.messages = this.messages.down;
    }
  }

  note(side: TunnelSide, how: TunnelEnd['how'], error?: string): void {
    if (this.first) return;
    this.first = { side, how };
    if (error !== undefined) this.first.error = error;
  }

  socketClosed(): void {
    if (++this.closed < 2 || this.reported) return;
    this.reported = true;
    this.messages?.dispose();
    const first = this.first;
    this.onEnd({
      endedBy: first?.side ?? 'proxy',
      how: first?.how ?? 'error',
      durationMs: performance.now() - this.started,
      bytes: { clientToServer: this.up.bytes, serverToClient: this.down.bytes },
      ...(first?.error !== undefined ? { error: first.error } : {}),
    });
  }

  destroy(reason: string): void {
    this.note('proxy', 'shutdown', reason);
    this.client.destroy();
    this.server.destroy();
  }

  endWith(last: { toClient?: Buffer; toServer?: Buffer }, reason: string, lingerMs: number): Promise<void> {
    this.note('proxy', 'shutdown', reason);
    const { client, server } = this;
    // Nothing more is forwarded: what the peers still send (their answering close frames) is read and dropped.
    for (const s of [client, server]) {
      s.removeAllListeners('data');
      s.on('data', discard);
    }
    const both = this.lingerThenDestroy(lingerMs);
    for (const [s, bytes] of [
      [client, last.toClient],
      [server, last.toServer],
    ] as const) {
      if (s.destroyed || s.writableEnded) continue;
      if (bytes) s.end(bytes);
      else s.end();
      s.resume();
    }
    return both;
  }

  goAway(code: number, reason: string, lingerMs: number): GoneAway | undefined {
    if (!this.messages) return undefined;
    this.note('proxy', 'shutdown', reason);
    const closed = this.lingerThenDestroy(lingerMs);
    return { ...this.messages.goAway(code, reason), closed };
  }

  /** Resolves when both sockets are closed; destroys them if they are still open after lingerMs. */
  private lingerThenDestroy(lingerMs: number): Promise<void> {
    const { client, server } = this;
    const closed = (s: net.Socket): Promise<void> => new Promise((r) => (s.closed ? r() : s.once('close', () => r())));
    const both = Promise.all([closed(client), closed(server)]).then(() => undefined);
    const timer = setTimeout(() => {
      client.destroy();
      server.destroy();
    }, lingerMs);
    void both.then(() => clearTimeout(timer));
    return both;
  }

  closeTo(to: { client: boolean; server: boolean }, code: number, reason: string, lingerMs: number): boolean {
    if (!this.messages) return false;
    this.note('proxy', 'fin', `wstap closed the session with ${code}`);
    void this.lingerThenDestroy(lingerMs);
    this.messages.goAway(code, reason, to);
    return true;
  }

  cut(reason: string): void {
    this.note('proxy', 'reset', reason);
    for (const s of [this.client, this.server]) {
      if (s.destroyed) continue;
      if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
    }
  }

  send(to: Side, m: OutMessage): boolean {
    if (!this.messages) throw new Error('this session is not on the message path: only sessions a message hook took at the handshake can be sent to');
    return this.messages.send(to, m);
  }
}

const discard = (): void => {};

// --- listeners: `this` is the socket, its direction is the one it reads for ---------------

function onDataObserved(this: TunnelSocket, chunk: Buffer): void {
  const d = this[kDirection]!;
  const at = performance.now();
  d.bytes += chunk.length;
  paceScavenges(chunk.length);
  const forwarded = d.forwarded;
  let ok: boolean;
  if (forwarded !== undefined) {
    const waiting = d.waiting ?? d.startTiming(forwarded);
    waiting.push(at);
    ok = d.to.write(chunk, d.onWritten);
    // Nothing left in the stream's buffer: the kernel has the bytes now.
    if (d.to.writableLength === 0) {
      forwarded(performance.now() - at);
      waiting[waiting.length - 1] = NaN;
    }
  } else ok = d.to.write(chunk);
  if (!ok) this.pause();
  d.observe!(chunk, at);
}

/** The plain path: no timestamps. */
function onDataPlain(this: TunnelSocket, chunk: Buffer): void {
  const d = this[kDirection]!;
  d.bytes += chunk.length;
  paceScavenges(chunk.length);
  if (!d.to.write(chunk)) this.pause();
}

/** The message path: the direction's reader takes the bytes (it writes, and pauses this socket, itself). */
function onDataMessages(this: TunnelSocket, chunk: Buffer): void {
  const d = this[kDirection]!;
  d.bytes += chunk.length;
  paceScavenges(chunk.length);
  d.messages!.push(chunk, performance.now());
}

/** This socket can take more: the other one, which writes into it, may read again. */
function onDrain(this: TunnelSocket): void {
  this[kDirection]!.to.resume();
}

/** The same on the message path: the direction that writes into this socket decides. */
function onDrainMessages(this: TunnelSocket): void {
  const t = this[kDirection]!.tunnel;
  (this === t.client ? t.down : t.up).messages!.drained();
}

function onEndOfInput(this: TunnelSocket): void {
  const d = this[kDirection]!;
  d.tunnel.note(d.side, 'fin');
  // On the message path the end follows what the direction still holds.
  if (d.messages) d.messages.endOfInput();
  else if (!d.to.destroyed) d.to.end();
}

function onSocketError(this: TunnelSocket, err: NodeJS.ErrnoException): void {
  const d = this[kDirection]!;
  const other = d.to;
  const reset = err.code === 'ECONNRESET';
  d.tunnel.note(d.side, reset ? 'reset' : 'error', `${err.code ?? ''} ${err.message}`.trim());
  // Pass a reset on; any other failure ends the other side as abruptly.
  if (!other.destroyed) {
    if (reset && typeof other.resetAndDestroy === 'function') other.resetAndDestroy();
    else other.destroy();
  }
}

function onSocketClose(this: TunnelSocket): void {
  const d = this[kDirection]!;
  const other = d.to;
  d.tunnel.note(d.side, 'fin');
  if (!other.destroyed && other.writableEnded === false && this.readableEnded === false) other.destroy();
  d.tunnel.socketClosed();
}

function attach(d: Direction): void {
  const s = d.from as TunnelSocket;
  s[kDirection] = d;
  s.on('end', onEndOfInput);
  s.on('error', onSocketError);
  s.on('close', onSocketClose);
}

function pump(d: Direction): void {
  if (d.messages) {
    d.from.on('data', onDataMessages);
    d.to.on('drain', onDrainMessages);
    return;
  }
  d.from.on('data', d.observe ? onDataObserved : onDataPlain);
  d.to.on('drain', onDrain);
}

export function tunnel(client: net.Socket, server: net.Socket, opts: TunnelOptions): Tunnel {
  const t = new TunnelState(client, server, opts.onEnd, opts);
  attach(t.up);
  attach(t.down);
  client.setNoDelay(true);
  server.setNoDelay(true);
  pump(t.up);
  pump(t.down);
  // Both sockets may hold bytes that arrived while the handshake was being checked.
  client.resume();
  server.resume();
  return t;
}
