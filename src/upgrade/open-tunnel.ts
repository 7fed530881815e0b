/**
 * A validated 101 becomes a tunnel: the answer and any held client bytes go out, the frame
 * tap is started when a sink wants frames, the session goes on the message path when a
 * hook takes it, and the session's end is reported once the tap has settled.
 */
import type net from 'node:net';
import type { Finding } from '../session/finding.js';
import type { Side } from '../session/message.js';
import type { Session, SessionEnd } from '../session/session.js';
import { FrameTap, type TapResult } from '../tap/frame-tap.js';
import { phaseOf } from '../session/finding.js';
import type { CloseSummary } from '../session/summary.js';
import { closeCodeMeaning, closePayload, encodeFrame } from '../wire/ws-frame.js';
import type { MessageHandler, MessageHook, SessionControl } from '../tunnel/hooks.js';
import { TunnelControl } from './control.js';
import { tunnel, type ChunkObserver, type Tunnel, type TunnelEnd } from '../tunnel/tunnel.js';
import { negotiatedDeflate } from '../wire/extensions.js';
import type { LiveSession, RelayContext } from './context.js';
import { protocolOf } from './protocol.js';

/** The frame tap of one tunnel, contained: a failure inside it is reported once and switches decoding off; forwarding never sees it. */
class ContainedTap {
  private failed = false;
  private readonly tap: FrameTap;
  readonly client: ChunkObserver;
  readonly server: ChunkObserver;

  constructor(
    private readonly ctx: RelayContext,
    private readonly session: Session,
    deflate: boolean,
  ) {
    const { bus } = ctx;
    const { protocols: _protocols, ...tap } = ctx.config.tap;
    const app = session.app ?? (protocolOf(ctx, session) === 'none' ? 'none' : undefined);
    this.tap = new FrameTap({
      deflate,
      ...tap,
      ...(app ? { app } : {}),
      maxBinaryBytes: bus.binaryBytes,
      onMessage: (m) => bus.message(session, m),
      onFinding: (f) => bus.finding(session, f),
    });
    this.client = (chunk, at) => this.push('client', chunk, at);
    this.server = (chunk, at) => this.push('server', chunk, at);
  }

  private push(side: Side, chunk: Buffer, at: number): void {
    if (this.failed) return;
    try {
      this.tap.push(side, chunk, at);
    } catch (err) {
      this.fail(err);
    }
  }

  readonly forwarded = (ms: number): void => this.tap.proxyAdded.add(ms);

  /** Whether what was forwarded from `side` ended at a frame boundary (false once decoding failed). */
  atBoundary(side: Side, between: 'frames' | 'messages' = 'frames'): boolean {
    return !this.failed && this.tap.atBoundary(side, between);
  }

  private fail(err: unknown): void {
    this.failed = true;
    this.tap.abandon();
    this.ctx.onTapFailure(this.session, err);
  }

  async finish(): Promise<TapResult | undefined> {
    if (this.failed) return undefined;
    try {
      return await this.tap.finish();
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }
}

/** The hooks that take this session, chained: each sees what the ones before it let through. */
function handlerFor(hooks: readonly MessageHook[], session: Session, control: SessionControl): MessageHandler[] {
  const out: MessageHandler[] = [];
  for (const h of hooks) {
    const handler = h.forSession(session, control);
    if (handler) out.push(handler);
  }
  return out;
}

function reportEnd(ctx: RelayContext, session: Session, end: TunnelEnd, tap: ContainedTap | undefined, control: TunnelControl): void {
  if (!tap) {
    ctx.bus.end(session, { ...end, findings: [] });
    return;
  }
  const reported = tap.finish().then((result) => {
    const findings: Finding[] = result?.findings ?? [];
    const full: SessionEnd = result ? { ...end, ws: result.summary, findings } : { ...end, findings };
    ctx.bus.end(session, endedByWstap(full, control.ending));
  });
  ctx.pendingEnds.add(reported);
  void reported.finally(() => ctx.pendingEnds.delete(reported));
}

/**
 * Writes the 101 (and what the backend sent with it) to the client and the held bytes to the
 * backend, then tunnels. The handshake is reported before any frame that came with it.
 */
export function openTunnel(
  ctx: RelayContext,
  live: LiveSession,
  client: net.Socket,
  upstream: net.Socket,
  rest: Buffer,
  early: readonly Buffer[],
): void {
  const { session } = live;
  const res = session.upstream!.response;
  const deflate = negotiatedDeflate(res.headers);
  const tap = ctx.bus.wantsFrames ? new ContainedTap(ctx, session, deflate !== undefined) : undefined;
  // The hooks are chosen before anything is forwarded: on the message path, the bytes that came
  // with the 101 and the client's early bytes are messages like the others.
  // What the hooks and the API can do to the session; what they ask before the tunnel exists waits for it.
  const control = new TunnelControl(client, upstream, tap, ctx.bus, session);
  live.control = control;
  const handlers = ctx.hooks.length ? handlerFor(ctx.hooks, session, control) : [];
  client.write(res.raw);
  ctx.bus.handshake(session);
  const counted = handlers.length ? handBack(client, upstream, rest, early) : forwardNow(client, upstream, rest, early, tap);
  const tun = tunnel(client, upstream, {
    ...(tap ? { onClientChunk: tap.client, onServerChunk: tap.server, onForwarded: tap.forwarded } : {}),
    ...(handlers.length ? { messages: { handlers, deflate, onHookFailure: (err: unknown) => ctx.onHookFailure(session, err) } } : {}),
    onEnd(end) {
      ctx.live.delete(live);
      control.ended();
      const bytes = {
        clientToServer: end.bytes.clientToServer + counted.clientToServer,
        serverToClient: end.bytes.serverToClient + counted.serverToClient,
      };
      reportEnd(ctx, session, { ...end, bytes, ...(control.altered ? { altered: control.altered } : {}) }, tap, control);
    },
  });
  control.attach(tun, handlers.length > 0);
  live.abort = (reason) => goingAway(tun, handlers.length ? undefined : tap, reason, control);
}

const GOING_AWAY = 'wstap is shutting down';

/**
 * wstap ends a session itself (shutdown, grace over): a close frame with 1001 Going Away to each
 * side whose stream the tap saw end at a frame boundary (a frame of wstap's own may go there),
 * then a FIN. The message path writes whole messages, so it knows its boundaries itself; on the
 * plain path (nothing decodes), where wstap does not know the boundary, the connections are cut.
 */
function goingAway(tun: Tunnel, tap: ContainedTap | undefined, reason: string, control: TunnelControl): void | Promise<void> {
  // Its end is wstap's, as for a close from a rule or the API (unless one of those came first).
  const ended = (frames: boolean): void => {
    control.ending ??= frames ? { code: 1001, reason: GOING_AWAY } : { code: 1006, reason: 'wstap cut the connection at shutdown' };
  };
  // The message path knows its own boundaries: it writes whole messages.
  const gone = tap ? undefined : tun.goAway(1001, GOING_AWAY, 1000);
  if (gone) {
    ended(gone.toClient || gone.toServer);
    return gone.closed;
  }
  const toClient = tap?.atBoundary('server') ? encodeFrame({ opcode: 0x8, payload: closePayload(1001, GOING_AWAY) }) : undefined;
  const toServer = tap?.atBoundary('client') ? encodeFrame({ opcode: 0x8, payload: closePayload(1001, GOING_AWAY), mask: true }) : undefined;
  ended(toClient !== undefined || toServer !== undefined);
  if (!toClient && !toServer) return tun.destroy(reason);
  return tun.endWith({ ...(toClient ? { toClient } : {}), ...(toServer ? { toServer } : {}) }, reason, 1000);
}

/**
 * A session wstap closed (its shutdown, a fault rule, the API) or cut is wstap's close: the tap
 * saw a close frame that wstap wrote as if one side had sent it (or the other side's answer to
 * it), or none at all, and no close finding may blame either side for it.
 */
function endedByWstap(end: SessionEnd, ending: TunnelControl['ending']): SessionEnd {
  if (!ending || !end.ws) return end;
  const code = ending.cut ? 1006 : ending.code;
  const close: CloseSummary = {
    initiator: 'wstap',
    code,
    reason: ending.cut ? 'wstap reset both connections' : ending.reason,
    meaning: closeCodeMeaning(code),
    clean: false,
  };
  return { ...end, ws: { ...end.ws, close }, findings: end.findings.filter((f) => phaseOf(f) !== 'close') };
}

/**
 * The byte-faithful paths: what the backend sent with its 101 goes to the client and the held
 * client bytes to the backend at once (the tap sees them), counted here since the tunnel never reads them.
 */
function forwardNow(
  client: net.Socket,
  upstream: net.Socket,
  rest: Buffer,
  early: readonly Buffer[],
  tap: ContainedTap | undefined,
): { clientToServer: number; serverToClient: number } {
  const now = performance.now();
  if (rest.length) client.write(rest);
  let earlyBytes = 0;
  for (const c of early) {
    upstream.write(c);
    earlyBytes += c.length;
  }
  if (tap && rest.length) tap.server(rest, now);
  if (tap) for (const c of early) tap.client(c, now);
  return { clientToServer: earlyBytes, serverToClient: rest.length };
}

/** The message path: those bytes go back into their sockets, and the tunnel reads (and counts) them first. */
function handBack(
  client: net.Socket,
  upstream: net.Socket,
  rest: Buffer,
  early: readonly Buffer[],
): { clientToServer: number; serverToClient: number } {
  if (rest.length) upstream.unshift(rest);
  if (early.length) client.unshift(early.length === 1 ? early[0]! : Buffer.concat(early));
  return { clientToServer: 0, serverToClient: 0 };
}
