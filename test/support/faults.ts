/**
 * Shared setup of the fault tests (test/behaviour/faults-*.test.ts): a scripted HTTP +
 * WebSocket backend, raw clients that read one HTTP answer, and the check made after every
 * fault: a normal session still works and stats() drains to 0/0. Everything opened here is
 * closed after the test (cleanup.ts). Real sockets on 127.0.0.1, no mocks.
 */
import http from 'node:http';
import net from 'node:net';
import { expect } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { Session } from '../../src/session/session.js';
import { defer } from './cleanup.js';
import { openTestProxy, type TestProxy } from './helpers.js';
import { until, withTimeout } from './wait.js';

/** A test proxy in front of target, closed after the test (bounded: see openTestProxy). */
export function proxyFor(target: string, opts: { upstreamTimeoutMs?: number } = {}): Promise<TestProxy> {
  return openTestProxy({ target, ...opts });
}

/** One upgrade the scripted backend received (Node parsed the head; `data` is everything after it). */
export interface BackendUpgrade {
  path: string;
  req: http.IncomingMessage;
  socket: net.Socket;
  key: string;
  data: Buffer[];
  byteCount: number;
  /** The socket's error code, if it failed (ECONNRESET when the proxy passed on a reset). */
  error?: string;
  /** The proxy ended (FIN), reset or closed this connection. */
  isClosed: boolean;
  closed: Promise<void>;
}

export type Script = (u: BackendUpgrade) => void;

export interface Backend {
  url: string;
  port: number;
  /** Every TCP connection accepted (upgrades and plain requests). */
  tcpConnections: net.Socket[];
  upgrades: BackendUpgrade[];
  /** Resolves with the first upgrade on `path` (counting from the start). */
  upgradeOn(path: string, timeoutMs?: number): Promise<BackendUpgrade>;
  openSockets(): number;
  close(): Promise<void>;
}

/**
 * A real HTTP server with a ws echo endpoint on every path, except paths that have a
 * script: those get the raw socket, and the script decides what the backend does.
 */
export async function startBackend(scripts: Record<string, Script> = {}, port = 0): Promise<Backend> {
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
  });
  const tcpConnections: net.Socket[] = [];
  const upgrades: BackendUpgrade[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
  });
  server.on('connection', (s: net.Socket) => {
    tcpConnections.push(s);
    s.on('error', () => {});
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const script = scripts[path];
    socket.on('error', () => {});
    if (!script) {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      return;
    }
    let closedResolve!: () => void;
    const u: BackendUpgrade = {
      path,
      req,
      socket,
      key: String(req.headers['sec-websocket-key'] ?? ''),
      data: head.length ? [head] : [],
      byteCount: head.length,
      isClosed: false,
      closed: new Promise<void>((r) => (closedResolve = r)),
    };
    socket.on('data', (d: Buffer) => {
      u.data.push(d);
      u.byteCount += d.length;
    });
    const gone = (): void => {
      u.isClosed = true;
      closedResolve();
    };
    socket.on('error', (err: NodeJS.ErrnoException) => {
      u.error ??= err.code;
      gone();
    });
    // Node's HTTP server sockets allow half-open connections: answer the proxy's FIN like a real server.
    socket.on('end', () => {
      gone();
      socket.end();
    });
    socket.on('close', gone);
    upgrades.push(u);
    script(u);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as net.AddressInfo).port;
  const b: Backend = {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    tcpConnections,
    upgrades,
    async upgradeOn(path, timeoutMs = 5000) {
      return until(() => upgrades.find((u) => u.path === path), `a backend upgrade on ${path}`, {
        timeoutMs,
        seen: () => upgrades.map((u) => u.path),
      });
    },
    openSockets: () => tcpConnections.filter((s) => !s.destroyed).length,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        for (const s of tcpConnections) s.destroy();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  defer(() => b.close());
  return b;
}

/** Connects a raw client to the proxy; destroyed after the test. */
export async function connectRaw(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  socket.on('error', () => {});
  defer(() => socket.destroy());
  await withTimeout(new Promise<void>((r) => socket.once('connect', () => r())), 5000, 'connect');
  return socket;
}

export interface RawResponse {
  status: number;
  statusLine: string;
  head: string;
  body: string;
  /** The connection ended (FIN, reset or close) before or right after the answer. */
  ended: boolean;
}

/**
 * Reads one HTTP response from a raw socket: the head, then the body by Content-Length
 * (or up to the end of the connection when there is none).
 */
export function readResponse(socket: net.Socket, timeoutMs = 5000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let ended = false;
    const parse = (): RawResponse | undefined => {
      const all = Buffer.concat(chunks);
      const i = all.indexOf('\r\n\r\n');
      if (i < 0) return undefined;
      const head = all.subarray(0, i).toString('latin1');
      const body = all.subarray(i + 4);
      const statusLine = head.split('\r\n')[0]!;
      const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
      const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? NaN);
      const complete = status === 101 || (cl ? body.length >= Number(cl[1]) : ended);
      if (!complete) return undefined;
      return { status, statusLine, head, body: body.toString('utf8'), ended };
    };
    const done = (): void => {
      const r = parse();
      if (r) finish(() => resolve(r));
    };
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`),
          ),
        ),
      timeoutMs,
    );
    const onData = (d: Buffer): void => {
      chunks.push(d);
      done();
    };
    const onEnd = (): void => {
      ended = true;
      const r = parse();
      if (r) finish(() => resolve(r));
      else
        finish(() =>
          reject(
            new Error(`connection ended without a complete response; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`),
          ),
        );
    };
    function finish(f: () => void): void {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      f();
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
  });
}

/** Sends `bytes` on a fresh connection, reads the answer, then closes the connection like a real client. */
export async function exchange(port: number, bytes: string | Buffer): Promise<RawResponse> {
  const socket = await connectRaw(port);
  socket.write(bytes);
  try {
    return await readResponse(socket);
  } finally {
    socket.destroy();
  }
}

/** A ws client round trip through the proxy to the backend's echo endpoint, closed cleanly. */
export async function roundTrip(tp: TestProxy, path = '/echo'): Promise<void> {
  const ws = new WebSocket(tp.wsUrl(path));
  try {
    const text = `ping-${Math.random()}`;
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.on('open', () => ws.send(text));
        ws.on('message', (d) => (d.toString() === text ? resolve() : reject(new Error(`echo mismatch: ${d.toString()}`))));
        ws.on('error', reject);
        ws.on('unexpected-response', (req, res) => {
          req.destroy();
          reject(new Error(`round trip: HTTP ${res.statusCode}`));
        });
      }),
      5000,
      'a ws round trip through the proxy',
    );
    await withTimeout(
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close(1000, 'done');
      }),
      5000,
      'the round trip to close',
    );
  } finally {
    ws.terminate();
  }
}

/** stats() reports no client socket and no live session (polled: closes are asynchronous). */
export async function expectDrained(tp: TestProxy, timeoutMs = 5000): Promise<void> {
  try {
    await until(
      () => {
        const s = tp.proxy.stats();
        return s.clientSockets === 0 && s.liveSessions === 0;
      },
      'stats() to drain',
      timeoutMs,
    );
  } catch {
    // Fail with the numbers, not just a timeout.
    expect(tp.proxy.stats(), 'proxy leaked sockets or sessions').toEqual({ clientSockets: 0, liveSessions: 0 });
  }
}

/** The standard after every fault: a normal session still works, and nothing is left open. */
export async function expectHealthy(tp: TestProxy): Promise<void> {
  await roundTrip(tp);
  await expectDrained(tp);
}

/** An ordinary GET through the proxy: its status and body, within limitMs. */
export function httpGet(port: number, path: string, limitMs: number): Promise<{ status: number; body: string }> {
  return withTimeout(
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (r) => {
        let body = '';
        r.setEncoding('utf8');
        r.on('data', (d: string) => (body += d));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      defer(() => req.destroy());
      req.on('error', reject);
    }),
    limitMs,
    'the HTTP answer',
  );
}

export const logsWith = (tp: TestProxy, event: string): Record<string, unknown>[] => tp.logs.filter((l) => l['event'] === event);
export const codes = (s: Session): string[] => s.findings.map((f) => f.code);
export const WARN = 40;
