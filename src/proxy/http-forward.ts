/**
 * Ordinary HTTP (health checks, the API) through http-proxy. The request headers are
 * restored from rawHeaders (http-proxy copies req.headers, where Node lowercased the
 * names and joined or dropped duplicates), and the response goes back with the
 * backend's raw header lines (case, order, duplicates). A backend that cannot be reached gets
 * the client a 502 whose body names the cause.
 */
import type http from 'node:http';
import type net from 'node:net';
import zlib from 'node:zlib';
import httpProxy from 'http-proxy';
import type { Finding } from '../session/finding.js';
import { redactTarget } from '../secrets/redact.js';
import type { Target } from '../wire/target.js';
import { inspectUpstreamFailure } from '../inspect/upstream.js';
import { failureOf, UpstreamTimeout } from '../upgrade/upstream.js';
import { peerOf } from '../wire/host-port.js';

export interface HttpProblem {
  method: string;
  path: string;
  client: string;
  finding?: Finding;
  error: string;
  /** What went wrong when it is not a failure to reach the backend (then there is no finding). */
  explanation?: string;
  /** The response had started: the client got a truncated answer. */
  midResponse: boolean;
}

/** A request the client gave up on before its response was complete (nginx logs these as 499). */
export interface AbandonedRequest {
  method: string;
  path: string;
  client: string;
  /** Since the request arrived. */
  ms: number;
  /** The response had started. */
  midResponse: boolean;
}

export interface HttpForwarder {
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** Requests the client gave up on (the backend request was closed for each). */
  readonly abandoned: number;
  /** Both bodies (up to 1 MiB each; the response decompressed), for requests peekBody() chose: a polling transport's packets. */
  bodiesOf(res: http.ServerResponse): { request?: Buffer; response?: Buffer };
  close(): void;
}

/** Bytes of each body kept for the requests peekBody() chose (engine.io's maxHttpBufferSize is 1 MB). */
const BODY_KEEP = 1024 * 1024;

interface Bodies {
  request: KeptBody;
  response: KeptBody;
  /** The response's Content-Encoding (engine.io compresses polling answers of 1 KiB or more). */
  encoding?: string | undefined;
}

/** A kept response body as sent before its Content-Encoding; undefined when it cannot be (cut at BODY_KEEP, an unknown coding). */
function decoded(body: Buffer, encoding: string | undefined): Buffer | undefined {
  if (!encoding || encoding === 'identity') return body;
  const limit = { maxOutputLength: 4 * BODY_KEEP };
  try {
    if (encoding === 'gzip' || encoding === 'x-gzip') return zlib.gunzipSync(body, limit);
    if (encoding === 'deflate') return zlib.inflateSync(body, limit);
    if (encoding === 'br') return zlib.brotliDecompressSync(body, limit);
  } catch {
    // cut, or not what it says it is
  }
  return undefined;
}

/** Chunks of a body up to BODY_KEEP bytes. */
class KeptBody {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  add = (chunk: Buffer): void => {
    if (this.bytes >= BODY_KEEP) return;
    const part = chunk.length > BODY_KEEP - this.bytes ? chunk.subarray(0, BODY_KEEP - this.bytes) : chunk;
    this.chunks.push(part);
    this.bytes += part.length;
  };
  get buffer(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }
}

const HOP_BY_HOP_RESPONSE = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade']);

/**
 * The request headers as the client sent them: http-proxy copies req.headers, where Node
 * lowercased every name and joined or dropped duplicates. Each header the outgoing request
 * carries is set again under its name as sent, in the client's order, duplicates as
 * separate lines; headers http-proxy added itself (Connection: close) keep their place
 * after those.
 */
// http-proxy emits no proxyReq for a request with an Expect header (100-continue): such a
// request goes out as http-proxy builds it (lowercased names, joined duplicates) and without
// the connect limit below.
function restoreRequestHeaders(proxyReq: http.ClientRequest, req: http.IncomingMessage): void {
  const seen = new Map<string, { name: string; values: string[] }>();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    const entry = seen.get(lower);
    if (entry) entry.values.push(raw[i + 1]!);
    else seen.set(lower, { name, values: [raw[i + 1]!] });
  }
  const extra: [string, number | string | string[]][] = [];
  for (const name of proxyReq.getRawHeaderNames()) {
    if (!seen.has(name.toLowerCase())) extra.push([name, proxyReq.getHeader(name)!]);
  }
  const outgoing: [string, number | string | string[]][] = [];
  for (const [lower, { name, values }] of seen) {
    const current = proxyReq.getHeader(lower);
    if (current === undefined) continue; // not forwarded (http-proxy left it out)
    // A single value as http-proxy set it (it may have changed it); duplicates from the wire.
    // Content-Length and Transfer-Encoding duplicates are refused by Node's parser before this.
    outgoing.push([name, values.length > 1 && lower !== 'set-cookie' && lower !== 'connection' ? values : current]);
  }
  for (const name of proxyReq.getHeaderNames()) proxyReq.removeHeader(name);
  for (const [name, value] of [...outgoing, ...extra]) proxyReq.setHeader(name, value);
}

/**
 * A backend that does not accept the connection within ms fails the request (502,
 * upstream-timeout). Only the connect is limited: a long poll or an event stream may wait
 * for its answer as long as it likes.
 */
function limitConnect(proxyReq: http.ClientRequest, ms: number): void {
  // http-proxy emits proxyReq from the request's 'socket' event: the socket is there.
  const socket = proxyReq.socket as net.Socket | null;
  if (!socket?.connecting) return;
  const timer = setTimeout(() => proxyReq.destroy(new UpstreamTimeout('connect', ms)), ms);
  const clear = (): void => clearTimeout(timer);
  // For a TLS backend the connection is there once the TLS handshake is done, not at TCP connect.
  socket.once((socket as { encrypted?: boolean }).encrypted ? 'secureConnect' : 'connect', clear);
  socket.once('close', clear);
}

/** The request line's parts as logged (the query redacted). */
function describe(req: http.IncomingMessage): { method: string; path: string; client: string } {
  return { method: req.method ?? '?', path: redactTarget(req.url ?? '/'), client: peerOf(req.socket) };
}

export interface HttpForwarderEvents {
  problem(p: HttpProblem): void;
  abandoned(a: AbandonedRequest): void;
}

export function createHttpForwarder(
  target: Target,
  opts: { insecure: boolean; connectTimeoutMs: number; peekBody?: (req: http.IncomingMessage) => boolean },
  events: HttpForwarderEvents,
): HttpForwarder {
  const report = events.problem;
  const kept = new WeakMap<http.ServerResponse, Bodies>();
  /** Each forwarded request's backend request, to close when the client goes first. */
  const upstreamOf = new WeakMap<http.IncomingMessage, http.ClientRequest>();
  let abandoned = 0;
  const proxy = httpProxy.createProxyServer({
    target: target.url,
    changeOrigin: false,
    xfwd: false,
    ws: false,
    secure: !opts.insecure,
    selfHandleResponse: true,
    prependPath: false,
    proxyTimeout: 0,
  });

  proxy.on('proxyReq', (proxyReq, req, res) => {
    restoreRequestHeaders(proxyReq, req);
    limitConnect(proxyReq, opts.connectTimeoutMs);
    if (opts.peekBody?.(req)) {
      // http-proxy pipes the request into proxyReq right after this event: a second reader sees the same chunks.
      const bodies: Bodies = { request: new KeptBody(), response: new KeptBody() };
      kept.set(res, bodies);
      req.on('data', bodies.request.add);
    }
    upstreamOf.set(req, proxyReq);
    // Without a listener Node drops a 101 to a request that did not ask to upgrade: no answer, no error.
    proxyReq.on('upgrade', (proxyRes: http.IncomingMessage, socket: net.Socket) => unrequestedUpgrade(req, res, proxyRes, socket));
  });

  function unrequestedUpgrade(req: http.IncomingMessage, res: http.ServerResponse, proxyRes: http.IncomingMessage, socket: net.Socket): void {
    socket.destroy();
    const asked = req.headers.upgrade ? `"Upgrade: ${req.headers.upgrade}" without "Connection: Upgrade"` : 'no Upgrade header';
    const explanation =
      `the backend answered ${proxyRes.statusCode} ${proxyRes.statusMessage ?? ''} to a request that did not ask to upgrade (${asked}): ` +
      'an HTTP client cannot take that answer. A WebSocket request needs both "Connection: Upgrade" and "Upgrade: websocket" (a proxy in between may drop them).';
    report({ ...describe(req), error: 'UNREQUESTED_UPGRADE', explanation, midResponse: false });
    if (res.headersSent || res.destroyed) return void res.destroy();
    res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Wstap': 'unrequested-upgrade', Connection: 'close' });
    res.end(`wstap: ${explanation}\n`);
  }

  /** The client went before its response was complete: the backend request is closed, said and counted. */
  function watchClient(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = performance.now();
    res.once('close', () => {
      if (res.writableFinished) return;
      const upstream = upstreamOf.get(req);
      if (!upstream || upstream.destroyed) return;
      upstream.destroy();
      abandoned++;
      events.abandoned({ ...describe(req), ms: Math.round(performance.now() - started), midResponse: res.headersSent });
    });
  }

  proxy.on('proxyRes', (proxyRes, _req, res) => {
    const raw: string[] = [];
    const rh = proxyRes.rawHeaders;
    // Framing headers are Node's to set for the client connection; everything else goes back as the backend sent it.
    for (let i = 0; i + 1 < rh.length; i += 2) {
      if (HOP_BY_HOP_RESPONSE.has(rh[i]!.toLowerCase())) continue;
      raw.push(rh[i]!, rh[i + 1]!);
    }
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, raw);
    const bodies = kept.get(res);
    if (bodies) {
      bodies.encoding = proxyRes.headers['content-encoding']?.toLowerCase();
      proxyRes.on('data', bodies.response.add);
    }
    proxyRes.pipe(res);
    proxyRes.on('error', () => res.destroy());
    proxyRes.on('aborted', () => res.destroy());
  });

  proxy.on('error', () => {
    // Errors are handled per request in handle(); this listener keeps http-proxy from throwing.
  });

  return {
    handle(req, res) {
      watchClient(req, res);
      proxy.web(req, res, {}, (err: Error) => {
        const failure = failureOf(err);
        // req.destroyed is true as soon as a bodyless request has been read: it says nothing about the client.
        const clientGone = res.destroyed || res.writableEnded || !(req.socket?.writable ?? false);
        const problem: HttpProblem = { ...describe(req), error: `${failure.code}: ${failure.message}`, midResponse: res.headersSent };
        if (!clientGone) {
          const f = inspectUpstreamFailure(target, failure);
          problem.finding = f;
          if (!res.headersSent) {
            const body = `wstap: could not reach the backend at ${target.url} for ${req.method} ${problem.path}.\n${f.message}\n${f.hint}\n`;
            res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Wstap': 'upstream-error', Connection: 'close' });
            res.end(body);
          } else {
            res.destroy();
          }
        }
        report(problem);
      });
    },
    get abandoned() {
      return abandoned;
    },
    bodiesOf: (res) => {
      const b = kept.get(res);
      if (!b) return {};
      const response = decoded(b.response.buffer, b.encoding);
      return { request: b.request.buffer, ...(response ? { response } : {}) };
    },
    close() {
      proxy.close();
    },
  };
}
