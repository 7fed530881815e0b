/**
 * Test helpers: real servers and clients on 127.0.0.1, ephemeral ports.
 * Nothing here mocks the network.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import pino from 'pino';
import { startProxy, type ProxyOptions, type ProxyServer } from '../../src/proxy/server.js';
import type { SessionSink } from '../../src/sinks/bus.js';
import { createLogSink } from '../../src/sinks/log-sink.js';
import { Recorder, type PayloadMode } from '../../src/sinks/recorder.js';
import type { Session, SessionEnd } from '../../src/session/session.js';
import { encodeFrame } from '../../src/wire/ws-frame.js';
import { defer } from './cleanup.js';
import { until, withTimeout } from './wait.js';

export { sleep } from './wait.js';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const acceptFor = (key: string): string =>
  createHash('sha1')
    .update(key + GUID)
    .digest('base64');
export const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A proxy started in-process, with every session event and log line captured. */
export interface TestProxy {
  proxy: ProxyServer;
  port: number;
  url: string;
  wsUrl(path?: string): string;
  handshakes: Session[];
  ends: { session: Session; end: SessionEnd }[];
  /** Every log line as parsed JSON. */
  logs: Record<string, unknown>[];
  /** Resolves with the next handshake event not yet taken by this function (or the nth, counting from 1). */
  nextHandshake(n?: number): Promise<Session>;
  nextEnd(n?: number): Promise<{ session: Session; end: SessionEnd }>;
  close(): Promise<void>;
}

/** The nth item of a list that grows (counting from 1), once it is there. */
function nth<T>(list: T[], n: number, what: string, timeoutMs = 5000): Promise<T> {
  return until(() => (list.length >= n ? list[n - 1] : undefined), `${what} #${n}`, { timeoutMs, seen: () => `${list.length} so far` });
}

/** A test proxy's options: the proxy's, plus the sinks the CLI would compose (the log's filters, a recording). */
export type TestProxyOptions = Partial<Omit<ProxyOptions, 'logger'>> & {
  target: string;
  hideControl?: boolean;
  match?: RegExp;
  record?: { file: string; payloads?: PayloadMode; maxBytes?: number };
};

export async function startTestProxy(opts: TestProxyOptions): Promise<TestProxy> {
  const logs: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const logger = pino({ level: 'debug', base: undefined }, stream);
  const handshakes: Session[] = [];
  const ends: { session: Session; end: SessionEnd }[] = [];
  const capture: SessionSink = {
    name: 'test-capture',
    handshake: (s) => void handshakes.push(s),
    end: (session, end) => void ends.push({ session, end }),
  };
  let hsCursor = 0;
  let endCursor = 0;
  const { hideControl, match, record, sinks: extra, ...proxyOpts } = opts;
  const sinks: SessionSink[] = [];
  if (record) sinks.push(new Recorder({ ...record, target: opts.target, version: 'test', logger }));
  sinks.push(createLogSink(logger, { hideControl: hideControl ?? false, ...(match ? { match } : {}) }), capture, ...(extra ?? []));
  const proxy = await startProxy({ port: 0, hosts: ['127.0.0.1'], ...proxyOpts, logger, sinks });
  return {
    proxy,
    port: proxy.port,
    url: proxy.url,
    wsUrl: (path = '/ws') => `ws://127.0.0.1:${proxy.port}${path}`,
    handshakes,
    ends,
    logs,
    nextHandshake: (n = ++hsCursor) => nth(handshakes, n, 'handshake'),
    nextEnd: (n = ++endCursor) => nth(ends, n, 'session end'),
    close: () => proxy.close(200),
  };
}

/**
 * startTestProxy, closed after the test. The close is bounded: proxy.close() waits for every
 * client connection to go, and a test that failed on a leak may leave one behind.
 */
export async function openTestProxy(opts: TestProxyOptions): Promise<TestProxy> {
  const tp = await startTestProxy(opts);
  defer(() => withTimeout(tp.close(), 1500, 'proxy.close()'));
  return tp;
}

/** Whether a connection to 127.0.0.1:port is refused (nothing listens there). */
function refuses(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** The first port of `ports` that refuses a connection. */
async function firstRefusing(ports: number[], what: string): Promise<number> {
  for (const port of ports) if (await refuses(port)) return port;
  throw new Error(`no port of ${Math.min(...ports)}–${Math.max(...ports)} on 127.0.0.1 refuses connections: cannot pick ${what}`);
}

/**
 * "Nothing listens here" targets are privileged ports (below 1024), checked to refuse before
 * use. No listen(0) can be handed one (the kernel hands out ports from its ephemeral range,
 * 32768–60999 here), and the peers that choose their own port (test/support/peers/ports.ts)
 * choose from 20000–60000; a port found by listening on port 0 and closing again could be
 * handed to a parallel test's listen(0) meanwhile. The privileged range is split in two:
 *
 * - 1–511, refusedPort(): never bound by any test, so the port stays refused for as long as the
 *   test uses it (the ECONNREFUSED that `upstream-refused` and the "cannot reach" messages need);
 * - 512–1023, refusedPortToBind(): for a test that later starts its own backend on the port
 *   ("the backend comes up on that port"), which needs root (CI runs as root). Such a backend is
 *   never on a port another test's refusedPort() gave out; a random start in the range makes it
 *   unlikely that two runs of the same test, in vitest processes side by side, pick the same port.
 */
const RANGE_NEVER_BOUND = Array.from({ length: 511 }, (_, i) => 1 + i);
const RANGE_TO_BIND = Array.from({ length: 512 }, (_, i) => 512 + i);

/** A port on 127.0.0.1 where nothing listens, and where nothing will while the test runs (1–511, see above). */
export function refusedPort(): Promise<number> {
  return firstRefusing(RANGE_NEVER_BOUND, 'a "nothing listens here" target');
}

/**
 * A port on 127.0.0.1 where nothing listens yet, for a test that starts its own backend on it
 * later (512–1023, see above; binding it needs root).
 */
export function refusedPortToBind(): Promise<number> {
  const start = Math.floor(Math.random() * RANGE_TO_BIND.length);
  return firstRefusing([...RANGE_TO_BIND.slice(start), ...RANGE_TO_BIND.slice(0, start)], 'a port for a backend that comes up later');
}

/**
 * A raw TCP backend: records every byte it receives per connection and lets the test
 * script its answers.
 */
export interface RawBackend {
  port: number;
  url: string;
  connections: RawConnection[];
  nextConnection(): Promise<RawConnection>;
  /** The connection number i (counting from 0), whenever it arrives. */
  connection(i: number, timeoutMs?: number): Promise<RawConnection>;
  close(): Promise<void>;
}

export interface RawConnection {
  socket: net.Socket;
  /** Every byte received so far. */
  received(): Buffer;
  /** Resolves when at least n bytes (or a full head, with 'head') have arrived. */
  waitFor(pred: (all: Buffer) => boolean, timeoutMs?: number): Promise<Buffer>;
  ended: Promise<void>;
}

function rawConnection(socket: net.Socket): RawConnection {
  const chunks: Buffer[] = [];
  let endResolve!: () => void;
  const ended = new Promise<void>((r) => (endResolve = r));
  socket.on('data', (d) => chunks.push(d));
  socket.on('error', () => {});
  socket.on('close', () => endResolve());
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    socket,
    received,
    ended,
    waitFor(pred, timeoutMs = 5000) {
      return until(
        () => {
          const all = received();
          return pred(all) ? all : undefined;
        },
        'the bytes received to match',
        { timeoutMs, seen: received },
      );
    },
  };
}

export async function startRawBackend(onConnection?: (c: RawConnection) => void): Promise<RawBackend> {
  const connections: RawConnection[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const c = rawConnection(socket);
    connections.push(c);
    onConnection?.(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections,
    nextConnection: () => nth(connections, connections.length + 1, 'backend connection'),
    connection: (i, timeoutMs = 5000) => nth(connections, i + 1, 'backend connection', timeoutMs),
    close: () =>
      new Promise<void>((r) => {
        for (const c of connections) c.socket.destroy();
        server.close(() => r());
      }),
  };
}

/** startRawBackend, closed after the test. */
export async function openRawBackend(onConnection?: (c: RawConnection) => void): Promise<RawBackend> {
  const b = await startRawBackend(onConnection);
  defer(() => b.close());
  return b;
}

/**
 * A test proxy in front of a backend that is already running. After the test the backend is
 * closed first (its sockets destroyed), then the proxy, which so finds no tunnel left open.
 */
export async function proxyInFront<B extends { url: string; close(): Promise<void> }>(
  backend: B,
  opts: Omit<TestProxyOptions, 'target'> = {},
): Promise<{ backend: B; tp: TestProxy }> {
  const tp = await openTestProxy({ target: backend.url, ...opts });
  defer(() => backend.close());
  return { backend, tp };
}

/** A raw TCP client: connect, write bytes, collect everything that comes back. */
export async function rawClient(port: number): Promise<RawConnection> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return rawConnection(socket);
}

/** rawClient, destroyed after the test. */
export async function openRawClient(port: number): Promise<RawConnection> {
  const c = await rawClient(port);
  defer(() => c.socket.destroy());
  return c;
}

/** Resolves when the socket's readable side has ended (FIN received). */
export function readEnded(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.readableEnded ? resolve() : socket.once('end', () => resolve())));
}

/** Resolves when the socket is closed. */
export function socketClosed(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
}

export const hasHead = (b: Buffer): boolean => b.includes('\r\n\r\n');

/** A client upgrade request head with the given extra header lines (verbatim). */
export function upgradeHead(path: string, extra: string[] = [], key = KEY): string {
  return [
    `GET ${path} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${key}`,
    'Sec-WebSocket-Version: 13',
    ...extra,
    '',
    '',
  ].join('\r\n');
}

export function switchingHead(key = KEY, extra: string[] = []): string {
  return [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${acceptFor(key)}`,
    ...extra,
    '',
    '',
  ].join('\r\n');
}

/** The masking key of the client frames frame() makes: fixed, so that a test's bytes are the same on every run. */
const TEST_MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** One WebSocket frame (src/wire/ws-frame.ts encodes it). Client frames are masked with a fixed key. */
export function frame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: boolean; rsv1?: boolean } = {}): Buffer {
  return encodeFrame({ opcode, payload, fin: opts.fin ?? true, rsv1: opts.rsv1 ?? false, mask: opts.mask ? TEST_MASK : false });
}

/** A message compressed as permessage-deflate does it: raw deflate, sync flush, the 4-byte trailer removed. */
export function pmd(data: Buffer | string): Buffer {
  const out = deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
}

/** A JWT-shaped test token (unsigned: the signature is an obvious placeholder). */
export function fakeJwt(expSecondsFromNow: number): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: 'test', exp: now + expSecondsFromNow })}.fake-signature`;
}
