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
import { hasToken, requestHeadFromRaw, type RequestHead } from '../wire/http-head.js';
import type { HttpForwarder } from './http-forward.js';
import { exchangeOf, httpNote, logExchange, type WebSocketPaths } from './http-log.js';
import { isControlRequest, serveRoute, type Route } from './routes.js';
import { peerOf } from '../wire/host-port.js';

export interface HttpPathContext {
  relay: RelayContext;
  forwarder: HttpForwarder;
  routes: readonly Route[];
  log: Logger;
  maxHeaderSize: number;
  /** Paths that carried upgrades: a later GET on one is worth a line. */
  wsPaths: WebSocketPaths;
}

/** Responses still being written on a connection: a pipelined upgrade waits for them. */
interface InFlight {
  count: number;
  waiting?: () => void;
}

export function createHttpPath(ctx: HttpPathContext): http.Server {
  const server = http.createServer({ maxHeaderSize: ctx.maxHeaderSize });
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
      serveRoute(ctx.routes, req, res);
      return;
    }
    const startedAt = performance.now();
    res.once('close', () => {
      // A request wstap could not forward has its own error line (http-error).
      if (res.getHeader('x-wstap') !== undefined || !res.headersSent) return;
      const note = httpNote(req, res.statusCode, ctx.wsPaths, ctx.forwarder.bodyExcerpt(res));
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

  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: net.Socket) => {
    const peer = peerOf(socket);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      ctx.log.debug({ event: 'client-error', client: peer, error: err.code }, `client ${peer} went away (${err.code})`);
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    ctx.log.warn(
      { event: 'client-error', client: peer, error: err.code, reason: err.reason },
      `malformed HTTP request from ${peer}: ${err.reason ?? err.message} → ${tooLarge ? 431 : 400}`,
    );
    setTimeout(() => socket.destroy(), 2000).unref();
    socket.end(
      tooLarge
        ? plainResponse(431, 'Request Header Fields Too Large', `wstap: the request head is larger than ${ctx.maxHeaderSize} bytes\n`)
        : plainResponse(400, 'Bad Request', `wstap: malformed HTTP request (${err.reason ?? err.code})\n`),
    );
  });
  return server;
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
