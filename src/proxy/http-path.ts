/**
 * Everything that is not a WebSocket upgrade on its first request: a Node HTTP server that
 * wstap feeds sockets itself (it never listens), in front of http-proxy, with wstap's own
 * routes under /__wstap/. An upgrade that comes later on such a keep-alive connection is
 * rebuilt from Node's raw headers and relayed; a pipelined one waits for the responses
 * ahead of it.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from 'pino';
import { rejectMalformedUpgrade, relayUpgrade, type RelayContext } from '../upgrade/relay.js';
import { endAndLinger, plainResponse } from '../upgrade/responses.js';
import { redactTarget } from '../secrets/redact.js';
import { hasToken, requestHeadFromRaw, type RequestHead } from '../wire/http-head.js';
import type { HttpForwarder } from './http-forward.js';
import { exchangeOf, httpNote, isPolling, logExchange, type WebSocketPaths } from './http-log.js';
import type { PollingTracker } from './polling.js';
import { HEALTH_PATH } from './health.js';
import { METRICS_PATH } from './metrics-route.js';
import { hostAllowed, isControlRequest, refuseHost, serveRoute, type Route } from './routes.js';
import { peerOf } from '../wire/host-port.js';

export interface HttpPathContext {
  relay: RelayContext;
  forwarder: HttpForwarder;
  routes: readonly Route[];
  log: Logger;
  maxHeaderSize: number;
  /** A request head must be complete this long after its first byte, and a request body may be idle this long: else 408. */
  headTimeoutMs: number;
  /** Paths that carried upgrades: a later GET on one is worth a line. */
  wsPaths: WebSocketPaths;
  /** Names besides IP addresses and localhost that wstap's own routes answer to (see routes.ts hostAllowed). */
  controlHosts: ReadonlySet<string>;
  /** Each forwarded request's status, once its response is over (the metrics). */
  onHttpStatus?: (status: number) => void;
  /** Socket.IO's long-polling requests, decoded. */
  polling?: PollingTracker;
}

/** Responses still being written on a connection: a pipelined upgrade waits for them. */
interface InFlight {
  count: number;
  waiting?: () => void;
}

/** Runs `go` once the responses in flight on the socket are written (at once when there are none). */
function afterResponses(inFlight: WeakMap<net.Socket, InFlight>, socket: net.Socket, go: () => void): void {
  const f = inFlight.get(socket);
  if (f && f.count > 0) f.waiting = go;
  else go();
}

export function createHttpPath(ctx: HttpPathContext): http.Server {
  const server = http.createServer({
    maxHeaderSize: ctx.maxHeaderSize,
    // Every head is timed: Node's own check, which closes a head not complete in time with a
    // clientError (ERR_HTTP_REQUEST_TIMEOUT, answered 408 below). The whole request is not
    // limited (an upload may be long); its body is timed by idleness instead (see 'request').
    headersTimeout: ctx.headTimeoutMs,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(ctx.headTimeoutMs / 4))),
  });
  // Node starts that check when a server listens; this one never listens (wstap feeds it the
  // sockets whose first request is not an upgrade), so it is started as listen() would.
  server.emit('listening');
  const inFlight = new WeakMap<net.Socket, InFlight>();

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const socket = req.socket as net.Socket;
    const f = inFlight.get(socket) ?? { count: 0 };
    f.count++;
    inFlight.set(socket, f);
    res.once('close', () => {
      if (--f.count === 0 && f.waiting) {
        const go = f.waiting;
        delete f.waiting;
        go();
      }
    });
    if (isControlRequest(req.url ?? '/')) {
      // The health check and the metrics are for orchestrators and scrapers, which may use any name
      // (a compose service name); they hold no session's data. Everything else is wstap's own data.
      const url = req.url ?? '';
      const anyHost = url.startsWith(HEALTH_PATH) || url.startsWith(METRICS_PATH);
      if (!anyHost && !hostAllowed(req.headers.host, ctx.controlHosts)) {
        ctx.log.warn(
          { event: 'control-refused', host: req.headers.host, path: req.url },
          `${req.method} ${req.url} with Host "${req.headers.host}" → 421 (not this proxy's name)`,
        );
        refuseHost(req, res);
        return;
      }
      serveRoute(ctx.routes, req, res);
      return;
    }
    if (refuseFraming(ctx, req, res)) return;
    timeBody(ctx, req, res);
    const startedAt = performance.now();
    res.once('close', () => {
      if (res.headersSent) ctx.onHttpStatus?.(res.statusCode);
      // A request wstap could not forward has its own error line (http-error).
      if (res.getHeader('x-wstap') !== undefined || !res.headersSent) return;
      const note =
        ctx.polling && isPolling(req.url ?? '/') ? pollingNote(ctx.polling, req, res, ctx.forwarder) : httpNote(req, res.statusCode, ctx.wsPaths);
      if (note === undefined && !ctx.log.isLevelEnabled('debug')) return;
      logExchange(ctx.log, exchangeOf(req, res, startedAt), note);
    });
    ctx.forwarder.handle(req, res);
  });

  // Only reached for an upgrade on a keep-alive connection that already carried HTTP requests.
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.pause();
    const f = inFlight.get(socket);
    ctx.wsPaths.add(req.url ?? '/');
    if (f && f.count > 0) f.waiting = () => keepAliveUpgrade(ctx.relay, req, socket, head);
    else keepAliveUpgrade(ctx.relay, req, socket, head);
  });

  // A CONNECT (a forward-proxy tunnel) is not something wstap does: Node would close the connection without a word.
  server.on('connect', (_req: http.IncomingMessage, socket: net.Socket) => {
    const peer = peerOf(socket);
    ctx.log.warn(
      { event: 'client-error', client: peer, error: 'CONNECT' },
      `CONNECT from ${peer} → 405: wstap is a reverse proxy, not a forward proxy`,
    );
    afterResponses(inFlight, socket, () =>
      endAndLinger(
        socket,
        plainResponse(
          405,
          'Method Not Allowed',
          `wstap: CONNECT is not supported: wstap is a reverse proxy in front of one backend\n`,
          'method-not-allowed',
          {
            Allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
          },
        ),
      ),
    );
  });

  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: net.Socket) => {
    const peer = peerOf(socket);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      ctx.log.debug({ event: 'client-error', client: peer, error: err.code }, `client ${peer} went away (${err.code})`);
      socket.destroy();
      return;
    }
    const answer = clientErrorAnswer(ctx, err);
    ctx.log.warn(
      { event: 'client-error', client: peer, error: err.code, reason: err.reason, status: answer.status },
      `${answer.line(peer)} → ${answer.status}`,
    );
    // In order: a response still being written on this connection goes out first, so the client
    // never reads this answer as the one to a request the backend did execute.
    afterResponses(inFlight, socket, () => {
      setTimeout(() => socket.destroy(), 2000).unref();
      socket.end(answer.bytes);
    });
  });
  return server;
}

/** wstap's own answer to a request Node's parser refused or timed out. */
function clientErrorAnswer(
  ctx: HttpPathContext,
  err: NodeJS.ErrnoException & { reason?: string },
): { status: number; bytes: string; line(peer: string): string } {
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    const body = `wstap: the request head was not complete within ${ctx.headTimeoutMs} ms\n`;
    return {
      status: 408,
      bytes: plainResponse(408, 'Request Timeout', body),
      line: (peer) => `request head from ${peer} not complete within ${ctx.headTimeoutMs} ms`,
    };
  }
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    const body = `wstap: the request head is larger than ${ctx.maxHeaderSize} bytes\n`;
    return {
      status: 431,
      bytes: plainResponse(431, 'Request Header Fields Too Large', body),
      line: (peer) => `request head from ${peer} is larger than ${ctx.maxHeaderSize} bytes`,
    };
  }
  const why = err.reason ?? err.code ?? err.message;
  return {
    status: 400,
    bytes: plainResponse(400, 'Bad Request', `wstap: malformed HTTP request (${why})\n`),
    line: (peer) => `malformed HTTP request from ${peer}: ${err.reason ?? err.message}`,
  };
}

/**
 * Requests whose framing a proxy must not guess at: HTTP/1.0 with Transfer-Encoding (RFC 9112
 * 6.1: treat the message as faulty; chunked is not an HTTP/1.0 coding) gets a 400 and the
 * connection closes, as nginx does.
 */
function refuseFraming(ctx: HttpPathContext, req: http.IncomingMessage, res: http.ServerResponse): boolean {
  if (req.httpVersion !== '1.0' || req.headers['transfer-encoding'] === undefined) return false;
  const peer = peerOf(req.socket);
  ctx.log.warn(
    { event: 'client-error', client: peer, error: 'HTTP10_TRANSFER_ENCODING', status: 400 },
    `HTTP/1.0 request with Transfer-Encoding from ${peer} → 400 (RFC 9112 6.1: its framing cannot be trusted)`,
  );
  res.shouldKeepAlive = false;
  res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Wstap': 'bad-request', Connection: 'close' });
  res.end('wstap: an HTTP/1.0 request cannot carry Transfer-Encoding (RFC 9112 6.1)\n');
  req.socket.once('finish', () => req.socket.destroy());
  return true;
}

/**
 * A request body that stops coming: no byte for headTimeoutMs is a 408 (nginx's
 * client_body_timeout), then the connection closes. The timer runs only while the body is read.
 */
function timeBody(ctx: HttpPathContext, req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.complete) return;
  req.setTimeout(ctx.headTimeoutMs, () => {
    if (req.complete) return;
    const peer = peerOf(req.socket);
    ctx.log.warn(
      { event: 'client-error', client: peer, error: 'BODY_TIMEOUT', status: 408 },
      `${req.method} ${redactTarget(req.url ?? '/')} from ${peer}: no request body bytes for ${ctx.headTimeoutMs} ms → 408`,
    );
    if (!res.headersSent) {
      res.writeHead(408, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Wstap': 'request-timeout', Connection: 'close' });
      res.end(`wstap: the request body stopped coming (no byte for ${ctx.headTimeoutMs} ms)\n`);
    }
    setTimeout(() => req.socket.destroy(), 200).unref();
  });
  req.once('end', () => {
    // The body is in: the wait for the backend's answer is not the client's to time.
    if (!res.writableFinished) req.socket.setTimeout(0);
  });
}

function keepAliveUpgrade(relay: RelayContext, req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
  let request: RequestHead;
  try {
    request = requestHeadFromRaw(req.method ?? 'GET', req.url ?? '/', req.httpVersion, req.rawHeaders);
  } catch (err) {
    rejectMalformedUpgrade(relay, socket, (err as Error).message);
    return;
  }
  if (!hasToken(request.headers, 'upgrade', 'websocket')) {
    endAndLinger(socket, plainResponse(501, 'Not Implemented', `wstap relays WebSocket upgrades only, not "${req.headers.upgrade}".\n`));
    return;
  }
  relayUpgrade(relay, socket, request, head, 'rebuilt');
}

/** A polling request's packets, decoded; the note its log line gets when it matters. */
function pollingNote(polling: PollingTracker, req: http.IncomingMessage, res: http.ServerResponse, forwarder: HttpForwarder): string | undefined {
  const url = req.url ?? '/';
  const origin = req.headers.origin;
  const who = `${peerOf(req.socket).replace(/:\d+$/, '')}${origin ? `, Origin ${origin}` : ''}, ${url.split('?')[0]} (Socket.IO long-polling)`;
  return polling.exchange({ url, method: req.method ?? 'GET', status: res.statusCode, who, ...forwarder.bodiesOf(res) });
}
