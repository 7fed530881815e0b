/**
 * Plain HTTP made visible: one line per forwarded request (debug), and at info the ones that
 * matter to a WebSocket: a refusal on a WebSocket path, a failing Socket.IO/engine.io polling
 * request (a client refused during polling looks healthy otherwise), a Socket.IO CONNECT_ERROR
 * inside a polling answer, and a page GET on a path that carries WebSockets.
 */
import type http from 'node:http';
import type { Logger } from 'pino';
import { redactTarget } from '../secrets/redact.js';
import { peerOf } from '../wire/host-port.js';

/** Paths that carried WebSocket upgrades in this process (bounded), to recognise a GET on one. */
export class WebSocketPaths {
  private readonly paths = new Set<string>();
  add(target: string): void {
    if (this.paths.size < 256) this.paths.add(pathOnly(target));
  }
  has(target: string): boolean {
    return this.paths.has(pathOnly(target));
  }
}

const pathOnly = (target: string): string => target.split('?')[0]!;

/** A Socket.IO / engine.io long-polling request. */
export function isPolling(url: string): boolean {
  return /(^|\/)(socket\.io|engine\.io)\//.test(pathOnly(url)) && /[?&]transport=polling\b/.test(url);
}

const WS_LIKE = /(^|\/)(ws|wss|websocket|websockets|socket|socket\.io|engine\.io|graphql|cable|hub|realtime)(\/|$)/i;

export interface HttpExchange {
  method: string;
  path: string;
  status: number;
  ms: number;
  client: string;
}

/** Why this exchange matters to a WebSocket, when it does (a polling request's note comes from the polling tracker). */
export function httpNote(req: http.IncomingMessage, status: number, wsPaths: WebSocketPaths): string | undefined {
  const url = req.url ?? '/';
  if (req.method === 'GET' && status < 400 && wsPaths.has(url) && !req.headers.upgrade) {
    return `a GET without Upgrade on ${pathOnly(url)}, a WebSocket path: a browser opened the WebSocket URL as a page, or a proxy in between dropped the Upgrade header`;
  }
  if (status >= 400 && (WS_LIKE.test(pathOnly(url)) || wsPaths.has(url))) return `the backend refused a request on a WebSocket path with ${status}`;
  return undefined;
}

/** Logs the exchange once the response is over: debug, or info with a note when it matters. */
export function logExchange(log: Logger, e: HttpExchange, note: string | undefined): void {
  const line = `${e.method} ${e.path} → ${e.status} (${e.ms} ms)`;
  if (note) log.info({ event: 'http', ...e, note }, `${line}: ${note}`);
  else if (log.isLevelEnabled('debug')) log.debug({ event: 'http', ...e }, line);
}

export function exchangeOf(req: http.IncomingMessage, res: http.ServerResponse, startedAt: number): HttpExchange {
  return {
    method: req.method ?? '?',
    path: redactTarget(req.url ?? '/'),
    status: res.statusCode,
    ms: Math.round((performance.now() - startedAt) * 100) / 100,
    client: peerOf(req.socket),
  };
}
