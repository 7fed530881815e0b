/**
 * The WebSocket upgrade path, on raw sockets (http-proxy's ws path is not faithful:
 * see DESIGN.md). The client's request head goes to the backend byte for byte; the
 * backend's answer comes back byte for byte; only a valid 101 opens a tunnel, and no
 * client byte reaches the backend before it (no smuggling).
 */
import type net from 'node:net';
import { headEnd, headerValue, headerValues, parseResponseHead, withoutLines, type RequestHead } from '../wire/http-head.js';
import { readHandshake } from './handshake.js';
import { inspectAnswer, inspectHandshake, type InspectContext } from '../inspect/registry.js';
import type { Finding } from '../session/finding.js';
import type { SessionBus } from '../sinks/bus.js';
import type { Endpoint, Session, UpstreamAnswer } from '../session/session.js';
import type { ResponseHead } from '../wire/http-head.js';
import type { Target } from '../wire/target.js';
import { tunnel, type ChunkObserver } from '../tunnel/tunnel.js';
import { FrameTap, negotiatedDeflate } from '../tap/frame-tap.js';
import type { Side } from '../session/message.js';
import { connectUpstream, failureOf, UpstreamTimeout, upstreamFinding } from './upstream.js';

export interface RelayConfig {
  target: Target;
  /** Frame decoding, when some sink wants frames. */
  tap: { maxMessageBytes: number; correlate?: string };
  inspect: Omit<InspectContext, 'now'>;
  upstreamTimeoutMs: number;
  maxHeaderSize: number;
  insecure: boolean;
}

/** What the relay needs from the server around it. */
export interface RelayContext {
  config: RelayConfig;
  bus: SessionBus;
  nextSessionId(): string;
  /** Live tunnels and pending upgrades, for shutdown. */
  live: Set<LiveSession>;
  /** Session ends waiting for their frame tap to settle; shutdown waits for them. */
  pendingEnds: Set<Promise<void>>;
  /** The frame tap of a session failed (a bug in wstap): report it; forwarding goes on. */
  onTapFailure(session: Session, error: unknown): void;
}

export interface LiveSession {
  session: Session;
  abort(reason: string): void;
}

/** Client bytes that may wait for the 101 before wstap stops reading. */
const EARLY_DATA_LIMIT = 1024 * 1024;
/** How much of a rejection body is kept for the log. */
const BODY_EXCERPT = 1024;

/** The data of a chunked body (as much of it as the excerpt holds); chunk extensions and trailers are dropped. */
export function dechunk(raw: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < raw.length) {
    const eol = raw.indexOf('\r\n', pos);
    if (eol < 0) break;
    const size = parseInt(raw.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size === 0) break;
    const start = eol + 2;
    out.push(raw.subarray(start, Math.min(raw.length, start + size)));
    pos = start + size + 2;
  }
  return Buffer.concat(out);
}

/** How long a refused client may keep its side open after wstap ended its own. */
const LINGER_MS = 2000;
const ignore = (): void => {};

/**
 * Ends a connection that will not become a tunnel: writes the last bytes, keeps reading
 * (and dropping) until the client closes too, and destroys it if it does not within LINGER_MS.
 * Closing at once with unread bytes would send a reset that can destroy the answer.
 */
export function endAndLinger(socket: net.Socket, last?: string | Buffer): void {
  socket.on('error', ignore);
  socket.on('data', ignore);
  socket.resume();
  if (last !== undefined) socket.end(last);
  else socket.end();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

export function endpointOf(socket: net.Socket): Endpoint {
  return { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 };
}

function plainResponse(status: number, reason: string, body: string): string {
  const b = Buffer.from(body, 'utf8');
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${b.length}\r\n` +
    `Connection: close\r\nX-Wstap: ${status === 400 ? 'rejected-invalid-upgrade' : 'upstream-error'}\r\n\r\n${body}`
  );
}

function newSession(ctx: RelayContext, client: net.Socket, request: RequestHead, headSource: 'wire' | 'rebuilt'): Session {
  const now = Date.now();
  return {
    id: ctx.nextSessionId(),
    client: endpointOf(client),
    target: ctx.config.target.url,
    startedAt: now,
    handshake: readHandshake(request, headSource, now),
    findings: [],
    originNormalized: false,
    outcome: 'pending',
  };
}

/**
 * The frame tap of a tunnel, contained: an exception inside the decoder is reported once
 * and switches decoding off for this session; forwarding never sees it.
 */
function startTap(ctx: RelayContext, session: Session, response: ResponseHead) {
  let failed = false;
  const tap = new FrameTap(negotiatedDeflate(response), {
    ...ctx.config.tap,
    maxBinaryBytes: ctx.bus.binaryBytes,
    onMessage: (m) => ctx.bus.message(session, m),
    onFinding: (f) => {
      session.findings.push(f);
      ctx.bus.finding(session, f);
    },
  });
  const fail = (err: unknown): void => {
    failed = true;
    ctx.onTapFailure(session, err);
  };
  const observer =
    (side: Side): ChunkObserver =>
    (chunk, at) => {
      if (failed) return;
      try {
        tap.push(side, chunk, at);
      } catch (err) {
        fail(err);
      }
    };
  const observers: Record<Side, ChunkObserver> = { client: observer('client'), server: observer('server') };
  return {
    observe: (side: Side): ChunkObserver => observers[side],
    forwarded: (ms: number): void => tap.proxyAdded.add(ms),
    async finish() {
      if (failed) return undefined;
      try {
        return await tap.finish();
      } catch (err) {
        fail(err);
        return undefined;
      }
    },
  };
}

/**
 * A validated 101: the answer and any held bytes go out, then the tunnel. Its own function,
 * so that what an open tunnel keeps reachable is this scope, not relayUpgrade's.
 */
function openTunnel(ctx: RelayContext, live: LiveSession, client: net.Socket, upstream: net.Socket, rest: Buffer, early: readonly Buffer[]): void {
  const { session } = live;
  const res = session.upstream!.response;
  const tap = ctx.bus.wantsFrames ? startTap(ctx, session, res) : undefined;
  const now = performance.now();
  client.write(res.raw);
  if (rest.length) client.write(rest);
  for (const c of early) upstream.write(c);
  // The handshake is reported before any frame that came with it.
  ctx.bus.handshake(session);
  if (tap && rest.length) tap.observe('server')(rest, now);
  if (tap) for (const c of early) tap.observe('client')(c, now);
  const tun = tunnel(client, upstream, {
    ...(tap ? { onClientChunk: tap.observe('client'), onServerChunk: tap.observe('server'), onForwarded: tap.forwarded } : {}),
    onEnd(end) {
      ctx.live.delete(live);
      if (!tap) {
        ctx.bus.end(session, end);
        return;
      }
      const reported = tap.finish().then((result) => {
        if (result) {
          end.ws = result.summary;
          session.findings.push(...result.findings);
        }
        ctx.bus.end(session, end);
      });
      ctx.pendingEnds.add(reported);
      void reported.finally(() => ctx.pendingEnds.delete(reported));
    },
  });
  live.abort = (reason) => tun.destroy(reason);
}

/** Answers a request that is no valid upgrade with a 400 that says why, and logs it as a session. */
export function rejectMalformedUpgrade(ctx: RelayContext, client: net.Socket, request: RequestHead | undefined, reason: string, finding: Finding): void {
  const head = request ?? { method: '?', target: '?', version: '?', headers: [], raw: Buffer.alloc(0) };
  const session = newSession(ctx, client, head, 'wire');
  session.findings.push(finding);
  session.outcome = 'invalid';
  endAndLinger(client, plainResponse(400, 'Bad Request', `wstap: not a valid WebSocket upgrade: ${reason}\n`));
  ctx.bus.handshake(session);
}

/**
 * Relays one upgrade. `early` holds any client bytes that followed the head in the same read;
 * the client socket is paused and has no 'data' listener when this is called.
 */
export function relayUpgrade(ctx: RelayContext, client: net.Socket, request: RequestHead, early: Buffer, headSource: 'wire' | 'rebuilt'): void {
  const { config } = ctx;
  const session = newSession(ctx, client, request, headSource);
  const inspectCtx: InspectContext = { ...config.inspect, now: session.startedAt };
  session.findings.push(...inspectHandshake(session.handshake, inspectCtx));

  const invalid = session.findings.find((f) => f.code === 'handshake-invalid');
  if (invalid) {
    session.outcome = 'invalid';
    endAndLinger(client, plainResponse(400, 'Bad Request', `wstap: ${invalid.message}\n${invalid.hint}\n`));
    ctx.bus.handshake(session);
    return;
  }

  let outHead = request.raw;
  if (config.inspect.normalizeOrigin && session.handshake.origins.length > 1) {
    const originLines = request.headers.filter((h) => h.name.toLowerCase() === 'origin');
    outHead = withoutLines(request.raw, originLines.slice(1));
    session.originNormalized = true;
  }

  const earlyChunks: Buffer[] = early.length ? [early] : [];
  let earlyBytes = early.length;
  let done = false;
  let sentAt = 0;
  const { socket: upstream, readyEvent } = connectUpstream(config.target, { insecure: config.insecure });
  // Until the tunnel opens; openTunnel() then replaces abort with one of its own, and nothing
  // of this function's scope (the held bytes, the response head, the listeners) stays reachable.
  const live: LiveSession = { session, abort: (reason) => fail({ code: 'ESHUTDOWN', message: reason }, 'proxy') };
  ctx.live.add(live);

  let phase: 'connect' | 'answer' = 'connect';
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    fail(failureOf(new UpstreamTimeout(phase, config.upstreamTimeoutMs)), 'upstream');
  }, config.upstreamTimeoutMs);

  function finish(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    done = true;
    // Paused first: a flowing stream without a 'data' listener would drop bytes.
    client.pause();
    upstream.pause();
    client.removeListener('data', onClientData);
    client.removeListener('end', onClientGone);
    client.removeListener('close', onClientGone);
    client.removeListener('error', onClientError);
    upstream.removeListener('data', onUpstreamData);
    upstream.removeListener('end', onUpstreamEnd);
    upstream.removeListener('error', onUpstreamError);
  }

  /** The upgrade did not complete: tell the client why (when it is still there), log, close both. */
  function fail(err: { code: string; message: string }, who: 'upstream' | 'client' | 'proxy'): void {
    if (done) return;
    finish();
    ctx.live.delete(live);
    upstream.on('error', () => {});
    upstream.destroy();
    client.on('error', () => {});
    if (who === 'client') {
      session.outcome = 'aborted';
      session.failure = err;
      client.destroy();
    } else {
      const f = who === 'proxy' ? undefined : upstreamFinding(config.target, err, phase);
      session.outcome = 'failed';
      session.failure = err;
      if (f) session.findings.push(f);
      const body = f
        ? `wstap: could not complete the WebSocket upgrade with ${config.target.url}.\n${f.message}\n${f.hint}\n`
        : `wstap: ${err.message}\n`;
      if (!client.destroyed) endAndLinger(client, plainResponse(f ? 502 : 503, f ? 'Bad Gateway' : 'Service Unavailable', body));
    }
    ctx.bus.handshake(session);
  }

  function onClientData(chunk: Buffer): void {
    // Bytes before the 101 are held, never forwarded: after a refused upgrade they would be read as HTTP.
    earlyChunks.push(chunk);
    earlyBytes += chunk.length;
    if (earlyBytes > EARLY_DATA_LIMIT) client.pause();
  }
  function onClientGone(): void {
    fail({ code: 'ECLIENTGONE', message: 'the client closed the connection before the backend answered' }, 'client');
  }
  function onClientError(err: NodeJS.ErrnoException): void {
    fail(failureOf(err), 'client');
  }

  let resHead: Buffer = Buffer.alloc(0);
  function onUpstreamData(chunk: Buffer): void {
    resHead = resHead.length ? Buffer.concat([resHead, chunk]) : chunk;
    const end = headEnd(resHead);
    if (end < 0) {
      if (resHead.length > config.maxHeaderSize) {
        fail({ code: 'EHEADTOOLARGE', message: `the backend's response head exceeds ${config.maxHeaderSize} bytes` }, 'upstream');
      }
      return;
    }
    if (end > config.maxHeaderSize) {
      fail({ code: 'EHEADTOOLARGE', message: `the backend's response head exceeds ${config.maxHeaderSize} bytes` }, 'upstream');
      return;
    }
    let answer: UpstreamAnswer;
    try {
      answer = { response: parseResponseHead(resHead.subarray(0, end)), handshakeMs: performance.now() - sentAt };
    } catch (err) {
      fail({ code: 'EBADRESPONSE', message: `the backend's answer is not valid HTTP: ${(err as Error).message}` }, 'upstream');
      return;
    }
    onAnswer(answer, resHead.subarray(end));
  }
  function onUpstreamEnd(): void {
    fail({ code: 'EUPSTREAMEND', message: 'the backend closed the connection without answering' }, 'upstream');
  }
  function onUpstreamError(err: NodeJS.ErrnoException): void {
    fail(failureOf(err), 'upstream');
  }

  function onAnswer(answer: UpstreamAnswer, rest: Buffer): void {
    const res = answer.response;
    answer.chosenProtocol = headerValue(res.headers, 'sec-websocket-protocol');
    const ext = headerValues(res.headers, 'sec-websocket-extensions');
    if (ext.length) answer.chosenExtensions = ext.join(', ');
    if (answer.chosenProtocol === undefined) delete answer.chosenProtocol;
    session.upstream = answer;
    const answerFindings = inspectAnswer(session.handshake, answer);
    session.findings.push(...answerFindings);
    finish();

    if (res.status === 101 && answerFindings.length === 0) {
      session.outcome = 'tunnel';
      openTunnel(ctx, live, client, upstream, rest, earlyChunks);
      return;
    }

    // Not a tunnel: relay the answer as it came, then close both sides.
    session.outcome = 'rejected';
    client.on('error', () => {});
    upstream.on('error', () => {});
    if (res.status === 101) {
      // An invalid 101 is relayed (the client sees what the backend said), nothing after it.
      endAndLinger(client, res.raw);
      upstream.destroy();
      ctx.live.delete(live);
      ctx.bus.handshake(session);
      return;
    }
    relayRejection(answer, rest);
  }

  /** Streams a non-101 answer's body to the client, keeps an excerpt for the log, then closes. */
  function relayRejection(answer: UpstreamAnswer, rest: Buffer): void {
    const res = answer.response;
    const length = Number(headerValue(res.headers, 'content-length') ?? NaN);
    const chunked = /chunked/i.test(headerValue(res.headers, 'transfer-encoding') ?? '');
    const excerpt: Buffer[] = [];
    let excerptLen = 0;
    let bodyBytes = 0;
    let tail = '';
    let closed = false;
    client.write(res.raw);
    const close = (): void => {
      if (closed) return;
      closed = true;
      clearTimeout(bodyTimer);
      const body = Buffer.concat(excerpt);
      answer.bodyExcerpt = (chunked ? dechunk(body) : body).toString('utf8');
      // Re-inspect: the body often names the reason ("Origin not allowed").
      session.findings = session.findings.filter((f) => f.code !== 'upgrade-rejected');
      session.findings.push(...inspectAnswer(session.handshake, answer));
      endAndLinger(client);
      upstream.destroy();
      ctx.live.delete(live);
      ctx.bus.handshake(session);
    };
    const onBody = (chunk: Buffer): void => {
      bodyBytes += chunk.length;
      client.write(chunk);
      if (excerptLen < BODY_EXCERPT) {
        excerpt.push(chunk.subarray(0, BODY_EXCERPT - excerptLen));
        excerptLen += Math.min(chunk.length, BODY_EXCERPT - excerptLen);
      }
      tail = (tail + chunk.subarray(-5).toString('latin1')).slice(-5);
      if ((!chunked && Number.isFinite(length) && bodyBytes >= length) || (chunked && tail === '0\r\n\r\n')) close();
    };
    const bodyTimer = setTimeout(close, config.upstreamTimeoutMs);
    upstream.on('data', onBody);
    upstream.on('end', close);
    upstream.on('close', close);
    client.on('close', close);
    upstream.resume();
    if (rest.length) onBody(rest);
    else if (!chunked && (length === 0 || res.status === 304 || res.status === 204)) close();
  }

  client.setTimeout(0);
  client.on('data', onClientData);
  client.on('end', onClientGone);
  client.on('close', onClientGone);
  client.on('error', onClientError);
  client.resume();
  upstream.on('data', onUpstreamData);
  upstream.on('end', onUpstreamEnd);
  upstream.on('error', onUpstreamError);
  upstream.once(readyEvent, () => {
    if (done) return;
    phase = 'answer';
    sentAt = performance.now();
    upstream.setNoDelay(true);
    upstream.write(outHead);
  });
}
