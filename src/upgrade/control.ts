/**
 * What wstap can do to one open session from outside its flow of messages: send a message to a
 * side, close it with a code, cut it, and report each such action. The hooks (fault rules) and
 * the API (injection, close) use the same control.
 *
 * On the message path wstap writes whole messages itself, so it knows its frame boundaries. On
 * the byte-faithful paths a frame of wstap's own can go only where the frame tap saw the
 * stream toward that side end at a frame boundary: wstap waits (a little) for one. Without a
 * tap (nothing decodes) it cannot know, and says so.
 */
import type net from 'node:net';
import type { AlteredCounts, SessionAction } from '../session/action.js';
import type { Side } from '../session/message.js';
import type { Session } from '../session/session.js';
import type { OutMessage, SessionControl } from '../tunnel/hooks.js';
import type { Tunnel } from '../tunnel/tunnel.js';
import { closePayload, encodeFrame } from '../wire/ws-frame.js';

/** How long a send or close on a byte-faithful path waits for the stream to reach a frame boundary. */
const BOUNDARY_WAIT_MS = 2000;
const LINGER_MS = 1000;

export class ControlError extends Error {}

interface Boundaries {
  /** Whether what was forwarded from `side` ended at a frame boundary, or (messages) also outside a fragmented message. */
  atBoundary(side: Side, between?: 'frames' | 'messages'): boolean;
}

/**
 * One per tunnel, idle ones included: small, and what only hooks or the API use (the queue,
 * the closers) is made when first needed.
 */
export class TunnelControl implements SessionControl {
  private tun: Tunnel | undefined;
  private onPath = false;
  private queued: ((t: Tunnel) => void)[] | undefined;
  private closers: (() => void)[] | undefined;
  private readonly opened = performance.now();
  private closed = false;
  altered: AlteredCounts | undefined;
  /** Set when wstap itself ended the session (a close with a code, or a cut): its end says so. */
  ending: { code: number; reason: string; cut?: true } | undefined;

  constructor(
    private readonly client: net.Socket,
    private readonly server: net.Socket,
    private readonly tap: Boundaries | undefined,
    private readonly reporter: { action(session: Session, a: SessionAction): void },
    private readonly session: Session,
  ) {}

  /** The tunnel exists now; `messagePath`: the session is on the message path. */
  attach(tun: Tunnel, messagePath: boolean): void {
    this.tun = tun;
    this.onPath = messagePath;
    const queued = this.queued;
    this.queued = undefined;
    for (const q of queued ?? []) q(tun);
  }

  /** Both connections closed. */
  ended(): void {
    if (this.closed) return;
    this.closed = true;
    const closers = this.closers;
    this.closers = undefined;
    for (const fn of closers ?? []) {
      try {
        fn();
      } catch {
        // a hook's cleanup failing is its own business
      }
    }
  }

  /** The sockets, for wstap's own sampling of its write queues (nothing is written through this). */
  get sockets(): { client: net.Socket; server: net.Socket } {
    return { client: this.client, server: this.server };
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  elapsed(): number {
    return performance.now() - this.opened;
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else (this.closers ??= []).push(fn);
  }

  report(action: SessionAction): void {
    const counts = (this.altered ??= {});
    counts[action.kind] = (counts[action.kind] ?? 0) + 1;
    this.reporter.action(this.session, action);
  }

  send(to: Side, m: OutMessage): void {
    this.whenAttached((t) => {
      if (this.onPath) {
        try {
          t.send(to, m);
        } catch {
          // A hook's send into a direction forwarded unparsed: nothing goes out, the session goes on.
        }
      } else
        void this.atBoundary(to, m.kind === 'text' || m.kind === 'binary')
          .then(() => this.write(to, frameOf(m, to === 'server')))
          // A hook's send on a session wstap cannot write into: nothing goes out, and the session goes on.
          .catch(() => {});
    });
  }

  /** send(), resolving once the message is written (or refused: not at a boundary in time, no tap, the session is gone). */
  sendNow(to: Side, m: OutMessage): Promise<void> {
    if (this.closed) return Promise.reject(new ControlError('the session is closed'));
    if (!this.tun) return Promise.reject(new ControlError('the session is not open yet'));
    if (this.onPath) {
      try {
        if (!this.tun.send(to, m)) return Promise.reject(new ControlError(`the session is ending: nothing more goes to the ${to}`));
      } catch (err) {
        // The direction is forwarded unparsed since a protocol error: no frame of wstap's own can go there.
        return Promise.reject(new ControlError((err as Error).message));
      }
      return Promise.resolve();
    }
    return this.atBoundary(to, m.kind === 'text' || m.kind === 'binary').then(() => this.write(to, frameOf(m, to === 'server')));
  }

  close(to: Side | 'both', code: number, reason: string): void {
    void this.closeNow(to, code, reason).catch(() => this.cut(`wstap could not close the session with ${code}: cut instead`));
  }

  closeNow(to: Side | 'both', code: number, reason: string): Promise<void> {
    if (this.closed) return Promise.reject(new ControlError('the session is closed'));
    const sides = { client: to !== 'server', server: to !== 'client' };
    const why = `wstap closed the session with ${code}${reason ? ` "${reason}"` : ''}`;
    return new Promise<void>((resolve, reject) =>
      this.whenAttached((t) => {
        if (this.onPath) {
          this.ending ??= { code, reason };
          t.closeTo(sides, code, reason, LINGER_MS);
          resolve();
          return;
        }
        const waits = (['client', 'server'] as const).filter((s) => sides[s]).map((s) => this.atBoundary(s).then(() => s));
        Promise.all(waits).then((ready) => {
          const payload = closePayload(code, reason);
          const last: { toClient?: Buffer; toServer?: Buffer } = {};
          if (ready.includes('client')) last.toClient = encodeFrame({ opcode: 0x8, payload });
          if (ready.includes('server')) last.toServer = encodeFrame({ opcode: 0x8, payload, mask: true });
          this.ending ??= { code, reason };
          void t.endWith(last, why, LINGER_MS);
          resolve();
        }, reject);
      }),
    );
  }

  cut(reason: string): void {
    this.ending = { code: 1006, reason, cut: true };
    this.whenAttached((t) => t.cut(reason));
  }

  private whenAttached(fn: (t: Tunnel) => void): void {
    if (this.closed) return;
    if (this.tun) fn(this.tun);
    else (this.queued ??= []).push(fn);
  }

  /**
   * Resolves when the stream toward `to` is at a frame boundary (at once, or within
   * BOUNDARY_WAIT_MS); with `message`, also outside a fragmented data message (a data frame of
   * wstap's own between two fragments would break the receiver's message).
   */
  private atBoundary(to: Side, message = false): Promise<void> {
    const tap = this.tap;
    if (!tap)
      return Promise.reject(
        new ControlError('wstap does not decode this session (nothing reads its frames), so it cannot tell where a frame of its own may go'),
      );
    const from: Side = to === 'client' ? 'server' : 'client';
    const between = message ? 'messages' : 'frames';
    if (tap.atBoundary(from, between)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const timer = setInterval(() => {
        if (this.closed) {
          clearInterval(timer);
          reject(new ControlError('the session closed'));
        } else if (tap.atBoundary(from, between)) {
          clearInterval(timer);
          resolve();
        } else if (performance.now() - started > BOUNDARY_WAIT_MS) {
          clearInterval(timer);
          reject(new ControlError(`the stream to the ${to} was not at a frame boundary for ${BOUNDARY_WAIT_MS} ms (or it stopped decoding)`));
        }
      }, 2);
    });
  }

  private write(to: Side, frame: Buffer): void {
    const s = to === 'client' ? this.client : this.server;
    if (this.closed || s.destroyed || s.writableEnded) throw new ControlError('the session is closed');
    s.write(frame);
  }
}

const OPCODE = { text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

/** One frame with FIN, uncompressed (valid under permessage-deflate), masked toward the server. */
function frameOf(m: OutMessage, mask: boolean): Buffer {
  const payload =
    m.kind === 'close' ? closePayload(m.code, m.reason) : typeof m.data === 'string' ? Buffer.from(m.data, 'utf8') : (m.data ?? Buffer.alloc(0));
  return encodeFrame({ opcode: OPCODE[m.kind], payload, mask });
}
