/**
 * A backend that behaves like the one in the troubleshooting guide: an Origin
 * allowlist, a refusal of duplicate Origin lines (as Python's websockets does),
 * close 1008 without credentials unless the development auth bypass is on, and a
 * JSON echo. Configured like such a backend, by environment: CORS_ORIGINS (the allowed
 * Origins, comma-separated), ALLOW_DEV_AUTH_BYPASS, WEBSOCKET_AUTH_BYPASS, ENVIRONMENT.
 * Used by `wstap demo` (`--backend-only` runs it alone, as the compose example's backend)
 * and by the tests.
 */
import http from 'node:http';
import type net from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeJwt } from '../secrets/credentials.js';

export interface DemoBackendOptions {
  port?: number;
  host?: string;
  /** Origins accepted on /ws. Default: CORS_ORIGINS from env (comma-separated), else http://localhost:3000 and http://127.0.0.1:3000. */
  allowedOrigins?: string[];
  /** The guide's variables: ALLOW_DEV_AUTH_BYPASS, WEBSOCKET_AUTH_BYPASS, ENVIRONMENT. */
  env?: Record<string, string | undefined>;
  /** Accept permessage-deflate (default true, like uvicorn and most servers). */
  perMessageDeflate?: boolean;
}

export interface DemoBackend {
  url: string;
  port: number;
  allowedOrigins: string[];
  close(): Promise<void>;
}

export const DEMO_ALLOWED_ORIGINS = ['http://localhost:3000', 'http://127.0.0.1:3000'];

function refuse(socket: net.Socket, status: number, reason: string, body: string): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export function authBypassEnabled(env: Record<string, string | undefined>): boolean {
  return env['ALLOW_DEV_AUTH_BYPASS'] === 'true' && env['WEBSOCKET_AUTH_BYPASS'] === 'true' && env['ENVIRONMENT'] === 'development';
}

/** The bearer token of the request (Authorization header or ?token=), if any. */
function tokenOf(req: http.IncomingMessage): string | undefined {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7);
  return new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? undefined;
}

export async function startDemoBackend(opts: DemoBackendOptions = {}): Promise<DemoBackend> {
  const env = opts.env ?? process.env;
  const fromEnv = env['CORS_ORIGINS']
    ?.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  const allowed = opts.allowedOrigins ?? (fromEnv?.length ? fromEnv : DEMO_ALLOWED_ORIGINS);
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: opts.perMessageDeflate ?? true });
  const server = http.createServer((req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ status: 'ok', authBypass: authBypassEnabled(env) }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws') return refuse(socket, 404, 'Not Found', 'not found\n');
    const origins = req.headersDistinct['origin'] ?? [];
    if (origins.length > 1) return refuse(socket, 400, 'Bad Request', 'invalid Origin header: more than one Origin header found\n');
    if (origins[0] !== undefined && !allowed.includes(origins[0])) {
      return refuse(socket, 403, 'Forbidden', 'WebSocket connection denied: Origin not allowed\n');
    }
    wss.handleUpgrade(req, socket, head, (ws) => onSession(ws, req));
  });

  function onSession(ws: WebSocket, req: http.IncomingMessage): void {
    const token = tokenOf(req);
    if (!token && !authBypassEnabled(env)) {
      ws.close(1008, 'Authentication required: Use Authorization header');
      return;
    }
    const jwt = token ? decodeJwt(token, Date.now()) : undefined;
    if (jwt?.expired) {
      ws.close(1008, 'Authentication failed: token expired');
      return;
    }
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.send(data, { binary: true });
        return;
      }
      const text = data.toString();
      if (text === 'close') {
        ws.close(1000, 'bye');
        return;
      }
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // plain text is echoed as it is
      }
      ws.send(JSON.stringify({ type: 'echo', data: parsed, server_ts: Date.now() }));
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    allowedOrigins: allowed,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JWT-shaped demo token (unsigned: the signature is a placeholder, never a secret). */
export function demoJwt(expSecondsFromNow: number): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: 'demo-user', iat: now, exp: now + expSecondsFromNow })}.demo-signature`;
}
