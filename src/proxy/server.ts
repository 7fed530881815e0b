/**
 * The listener. Each connection's first request head is read raw: an upgrade goes to
 * wstap's own relay with the exact bytes; anything else is handed, bytes intact, to a
 * Node HTTP server in front of http-proxy.
 */
import http from 'node:http';
import net from 'node:net';
import type { Logger } from 'pino';
import { invalidHandshakeFinding } from '../inspect/registry.js';
import { headEnd, HeadParseError, hasToken, parseRequestHead, requestHeadFromRaw } from '../wire/http-head.js';
import { createHttpForwarder, type HttpProblem } from './http-forward.js';
import { parseOriginPattern } from '../wire/origin-pattern.js';
import { isHealthRequest, serveHealth } from './health.js';
import { createLogSink } from '../sinks/log-sink.js';
import { Recorder, type PayloadMode } from '../sinks/recorder.js';
import { WSTAP_VERSION } from '../version.js';
import { SessionBus, type SessionSink } from '../sinks/bus.js';
import { parseTarget, type Target } from '../wire/target.js';
import { endAndLinger, endpointOf, rejectMalformedUpgrade, relayUpgrade, type LiveSession, type RelayContext } from '../upgrade/relay.js';

/**
 * Keeps a socket in a set until it closes. Its own function: the listener's scope holds the
 * set and the socket only, where a closure in onConnection would keep that whole scope (the
 * first chunk, the head timer) alive for as long as the connection lives.
 */
function track(set: Set<net.Socket>, socket: net.Socket): void {
  set.add(socket);
  socket.once('close', () => set.delete(socket));
}

export interface ProxyOptions {
  /** The backend, e.g. "http://localhost:8000" (ws:// and wss:// are accepted too). */
  target: string;
  /** 0 picks a free port. */
  port: number;
  /** Addresses to listen on. Default: 127.0.0.1 and ::1 (browsers try ::1 first for "localhost"). */
  hosts?: string[];
  allowOrigins?: string[];
  normalizeOrigin?: boolean;
  /** Connect + answer time allowed to the backend for an upgrade, ms. Default 10000. */
  upstreamTimeoutMs?: number;
  /** Largest request or response head, bytes. Default 16384 (Node's default). */
  maxHeaderSize?: number;
  /** Time a client has to send its request head, ms. Default 30000. */
  headTimeoutMs?: number;
  /** Accept any certificate from an https/wss target. */
  insecure?: boolean;
  /** Largest decoded message kept per message (the rest is counted). Default 1 MiB. */
  maxMessageBytes?: number;
  /** JSON path that pairs a client message with its answer ("id", "$.meta.requestId"); detected when unset. */
  correlate?: string;
  /** Log filters for message lines (debug level). */
  hideControl?: boolean;
  match?: RegExp;
  /** Record sessions to a JSON Lines file (see docs/recording-format.md). */
  record?: { file: string; payloads?: PayloadMode; maxBytes?: number };
  /** Session ids are PREFIX-1, PREFIX-2, ... Default "ws". */
  sessionIdPrefix?: string;
  logger: Logger;
  sinks?: SessionSink[];
}

export interface ProxyServer {
  target: Target;
  /** Where the proxy listens, e.g. [{address: '127.0.0.1', port: 8001}]. */
  addresses: { address: string; port: number }[];
  port: number;
  /** http://127.0.0.1:PORT (the first address). */
  url: string;
  /** Open client sockets (any state) and live WebSocket sessions (pending upgrades and tunnels). */
  stats(): { clientSockets: number; liveSessions: number };
  /** Stops accepting, gives open sessions up to graceMs, then closes them; flushes the sinks. */
  close(graceMs?: number): Promise<void>;
}

export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export const DEFAULT_HOSTS = ['127.0.0.1', '::1'];
const DEFAULT_HEAD_TIMEOUT = 30_000;
const DEFAULT_MAX_MESSAGE = 1024 * 1024;

function listen(server: net.Server, port: number, host: string): Promise<net.AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      resolve(server.address() as net.AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port, host, exclusive: true });
  });
}

function plain(status: number, reason: string, body: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export async function startProxy(options: ProxyOptions): Promise<ProxyServer> {
  const target = parseTarget(options.target);
  const log = options.logger;
  const maxHeaderSize = options.maxHeaderSize ?? 16384;
  const headTimeoutMs = options.headTimeoutMs ?? DEFAULT_HEAD_TIMEOUT;
  const insecure = options.insecure ?? false;
  const recorder = options.record
    ? new Recorder({ ...options.record, target: target.url, version: WSTAP_VERSION, logger: log })
    : undefined;
  const bus = new SessionBus([...(recorder ? [recorder] : []), createLogSink(log, { hideControl: options.hideControl ?? false, ...(options.match ? { match: options.match } : {}) }), ...(options.sinks ?? [])], (sink, err) =>
    log.error({ event: 'sink-failed', sink, err: String(err) }, `the ${sink} output failed and is switched off: ${String(err)}`),
  );
  let sessionCounter = 0;
  const live = new Set<LiveSession>();
  const ctx: RelayContext = {
    config: {
      target,
      inspect: {
        allowOrigins: (options.allowOrigins ?? []).map(parseOriginPattern),
        normalizeOrigin: options.normalizeOrigin ?? false,
      },
      upstreamTimeoutMs: options.upstreamTimeoutMs ?? 10_000,
      tap: { maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE, ...(options.correlate ? { correlate: options.correlate } : {}) },
      maxHeaderSize,
      insecure,
    },
    bus,
    onTapFailure: (session, err) =>
      log.error({ event: 'tap-failed', session: session.id, err: String(err) }, `${session.id}: frame decoding failed and is off for this session (${String(err)}); forwarding goes on`),
    nextSessionId: () => `${options.sessionIdPrefix ?? 'ws'}-${++sessionCounter}`,
    live,
    pendingEnds: new Set(),
  };

  const forwarder = createHttpForwarder(target, { insecure, connectTimeoutMs: options.upstreamTimeoutMs ?? 10_000 }, (p: HttpProblem) => {
    if (!p.finding) {
      log.debug({ event: 'http-client-gone', ...p }, `${p.method} ${p.path}: the client went away (${p.error})`);
      return;
    }
    log.error(
      { event: 'http-error', method: p.method, path: p.path, client: p.client, error: p.error, finding: p.finding, midResponse: p.midResponse },
      `${p.method} ${p.path} → ${p.midResponse ? 'cut off mid-response' : '502'}: ${p.finding.code}`,
    );
  });

  const httpServer = http.createServer({ maxHeaderSize });
  // Responses still being written per connection: a pipelined upgrade waits for them.
  const inFlight = new WeakMap<net.Socket, { count: number; waiting?: () => void }>();
  httpServer.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
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
    if (isHealthRequest(req)) void serveHealth(target, res);
    else forwarder.handle(req, res);
  });
  httpServer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    // Only reached for an upgrade on a keep-alive connection that already carried HTTP requests.
    socket.pause();
    const f = inFlight.get(socket);
    if (f && f.count > 0) f.waiting = () => onKeepAliveUpgrade(req, socket, head);
    else onKeepAliveUpgrade(req, socket, head);
  });
  function onKeepAliveUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const headers = req.rawHeaders;
    let request;
    try {
      request = requestHeadFromRaw(req.method ?? 'GET', req.url ?? '/', req.httpVersion, headers);
    } catch (err) {
      rejectMalformedUpgrade(ctx, socket, undefined, (err as Error).message, invalidHandshakeFinding([(err as Error).message]));
      return;
    }
    if (!hasToken(request.headers, 'upgrade', 'websocket')) {
      endAndLinger(socket, plain(501, 'Not Implemented', `wstap relays WebSocket upgrades only, not "${req.headers.upgrade}".\n`));
      return;
    }
    relayUpgrade(ctx, socket, request, head, 'rebuilt');
  }
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    if (err.code === 'ECONNRESET' || !socket.writable) {
      log.debug({ event: 'client-error', client: peer, error: err.code }, `client ${peer} went away (${err.code})`);
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    log.warn(
      { event: 'client-error', client: peer, error: err.code, reason: (err as { reason?: string }).reason },
      `malformed HTTP request from ${peer}: ${(err as { reason?: string }).reason ?? err.message} → ${tooLarge ? 431 : 400}`,
    );
    setTimeout(() => socket.destroy(), 2000).unref();
    socket.end(
      tooLarge
        ? plain(431, 'Request Header Fields Too Large', `wstap: the request head is larger than ${maxHeaderSize} bytes\n`)
        : plain(400, 'Bad Request', `wstap: malformed HTTP request (${(err as { reason?: string }).reason ?? err.code})\n`),
    );
  });

  const sockets = new Set<net.Socket>();

  function onConnection(socket: net.Socket): void {
    track(sockets, socket);
    const peer = endpointOf(socket);
    let buf: Buffer | undefined;
    const timer = setTimeout(() => {
      log.debug({ event: 'client-error', client: `${peer.address}:${peer.port}` }, 'no request head in time: connection closed');
      socket.destroy();
    }, headTimeoutMs);
    const onError = (err: NodeJS.ErrnoException): void => {
      clearTimeout(timer);
      log.debug({ event: 'client-error', client: `${peer.address}:${peer.port}`, error: err.code }, `client went away before its request (${err.code})`);
    };
    const onClose = (): void => clearTimeout(timer);
    // The listener allows half-open sockets: a client that ends before its head is done is closed here.
    const onEnd = (): void => {
      clearTimeout(timer);
      log.debug({ event: 'client-error', client: `${peer.address}:${peer.port}` }, 'the client closed before sending a whole request head');
      socket.destroy();
    };
    const stop = (): void => {
      clearTimeout(timer);
      socket.pause();
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onEnd);
    };
    const tooLarge = (): void => {
      log.warn(
        { event: 'client-error', client: `${peer.address}:${peer.port}`, error: 'HEADER_TOO_LARGE' },
        `request head from ${peer.address}:${peer.port} is larger than ${maxHeaderSize} bytes → 431`,
      );
      endAndLinger(socket, plain(431, 'Request Header Fields Too Large', `wstap: the request head is larger than ${maxHeaderSize} bytes\n`));
    };
    const onData = (chunk: Buffer): void => {
      buf = buf ? Buffer.concat([buf, chunk]) : chunk;
      if (buf[0] === 0x16) {
        stop();
        log.warn(
          { event: 'client-error', client: `${peer.address}:${peer.port}`, error: 'TLS_ON_PLAIN_PORT' },
          `client ${peer.address}:${peer.port} started a TLS handshake: wstap listens for plain ws:// and http://`,
        );
        socket.destroy();
        return;
      }
      let end = headEnd(buf);
      const bareLf = end < 0 ? buf.indexOf('\n\n') : -1;
      if (end < 0 && bareLf < 0) {
        if (buf.length > maxHeaderSize) {
          stop();
          tooLarge();
        }
        return;
      }
      stop();
      if (end < 0) end = bareLf + 2;
      if (end > maxHeaderSize) {
        tooLarge();
        return;
      }
      const headText = buf.subarray(0, end).toString('latin1');
      if (!/(^|\n)upgrade[ \t]*:/i.test(headText)) {
        // Ordinary HTTP: Node's parser and http-proxy take it from the first byte.
        socket.unshift(buf);
        httpServer.emit('connection', socket);
        socket.resume();
        return;
      }
      let request;
      try {
        if (bareLf >= 0) throw new HeadParseError('bare LF line endings (lines must end with CRLF)');
        request = parseRequestHead(buf.subarray(0, end));
      } catch (err) {
        const reason = (err as Error).message;
        rejectMalformedUpgrade(ctx, socket, undefined, reason, invalidHandshakeFinding([reason]));
        return;
      }
      if (!hasToken(request.headers, 'upgrade', 'websocket')) {
        socket.unshift(buf);
        httpServer.emit('connection', socket);
        socket.resume();
        return;
      }
      relayUpgrade(ctx, socket, request, buf.subarray(end), 'wire');
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('end', onEnd);
  }

  const hosts = options.hosts?.length ? options.hosts : DEFAULT_HOSTS;
  const usingDefaultHosts = !options.hosts?.length;
  const servers: net.Server[] = [];
  const addresses: { address: string; port: number }[] = [];
  let port = options.port;
  for (const host of hosts) {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection);
    try {
      const addr = await listen(server, port, host);
      port = addr.port;
      servers.push(server);
      addresses.push({ address: addr.address, port: addr.port });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const optional = usingDefaultHosts && host === '::1' && (e.code === 'EADDRNOTAVAIL' || e.code === 'EAFNOSUPPORT');
      if (optional) {
        log.debug({ event: 'listen-skipped', host, error: e.code }, `IPv6 loopback unavailable (${e.code}): listening on IPv4 only`);
        continue;
      }
      for (const s of servers) s.close();
      if (e.code === 'EADDRINUSE') {
        throw new ListenError(`port ${port} on ${host} is already in use (another wstap, or the backend itself?): choose another with --port`, e.code);
      }
      if (e.code === 'EACCES') throw new ListenError(`no permission to listen on port ${port} on ${host}: use a port above 1023`, e.code);
      if (e.code === 'EADDRNOTAVAIL') throw new ListenError(`cannot listen on ${host}: no such address on this machine`, e.code);
      throw new ListenError(`cannot listen on ${host}:${port}: ${e.message}`, e.code ?? 'ELISTEN');
    }
  }
  if (servers.length === 0) throw new ListenError('no address to listen on', 'ELISTEN');
  for (const s of servers) s.on('error', (err) => log.error({ event: 'listener-error', err: String(err) }, `listener error: ${String(err)}`));
  const first = addresses[0]!;
  const urlHost = first.address.includes(':') ? `[${first.address}]` : first.address;

  let closing: Promise<void> | undefined;
  async function close(graceMs = 5000): Promise<void> {
    closing ??= (async () => {
      // net.Server#close stops accepting at once; its callback waits for every connection.
      const stopped = Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      httpServer.closeIdleConnections();
      const deadline = Date.now() + graceMs;
      while (live.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      for (const l of [...live]) l.abort('proxy shutdown');
      httpServer.closeAllConnections();
      for (const s of sockets) s.destroy();
      forwarder.close();
      await stopped;
      // Let the aborted sessions report (their sockets' close events) before the sinks flush.
      const by = Date.now() + 1000;
      while (live.size > 0 && Date.now() < by) await new Promise((r) => setTimeout(r, 5));
      await Promise.all([...ctx.pendingEnds]);
      await bus.flush();
    })();
    return closing;
  }

  const stats = (): { clientSockets: number; liveSessions: number } => ({ clientSockets: sockets.size, liveSessions: live.size });
  return { target, addresses, port, url: `http://${urlHost}:${port}`, stats, close };
}
