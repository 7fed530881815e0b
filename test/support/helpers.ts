/**
 * Test helpers: real servers and clients on 127.0.0.1, ephemeral ports.
 * Nothing here mocks the network.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { startProxy, type ProxyOptions, type ProxyServer } from '../../src/proxy/server.js';
import type { SessionSink } from '../../src/sinks/bus.js';
import { createLogSink } from '../../src/sinks/log-sink.js';
import { Recorder, type PayloadMode } from '../../src/sinks/recorder.js';
import type { Session, SessionEnd } from '../../src/session/session.js';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
export const acceptFor = (key: string): string => createHash('sha1').update(key + GUID).digest('base64');
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

function waitFor<T>(list: T[], n: number, what: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (list.length >= n) return resolve(list[n - 1]!);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what} #${n} (have ${list.length})`));
      setTimeout(tick, 5);
    };
    tick();
  });
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
    nextHandshake: (n = ++hsCursor) => waitFor(handshakes, n, 'handshake'),
    nextEnd: (n = ++endCursor) => waitFor(ends, n, 'session end'),
    close: () => proxy.close(200),
  };
}

/** A port on 127.0.0.1 where nothing listens. */
export async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
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
      return new Promise((resolve, reject) => {
        const started = Date.now();
        const tick = (): void => {
          const all = received();
          if (pred(all)) return resolve(all);
          if (Date.now() - started > timeoutMs) return reject(new Error(`timed out; received ${all.length} bytes: ${JSON.stringify(all.toString('latin1').slice(0, 200))}`));
          setTimeout(tick, 5);
        };
        tick();
      });
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
    nextConnection: () => waitFor(connections, connections.length + 1, 'backend connection'),
    close: () =>
      new Promise<void>((r) => {
        for (const c of connections) c.socket.destroy();
        server.close(() => r());
      }),
  };
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

export const hasHead = (b: Buffer): boolean => b.includes('\r\n\r\n');

/** A client upgrade request head with the given extra header lines (verbatim). */
export function upgradeHead(path: string, extra: string[] = [], key = KEY): string {
  return [`GET ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13', ...extra, '', ''].join('\r\n');
}

export function switchingHead(key = KEY, extra: string[] = []): string {
  return ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptFor(key)}`, ...extra, '', ''].join('\r\n');
}

/** One WebSocket frame. Client frames are masked (mask given or random). */
export function frame(opcode: number, payload: Buffer | string, opts: { fin?: boolean; mask?: boolean; rsv1?: boolean } = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = opts.fin ?? true;
  const masked = opts.mask ?? false;
  const len = data.length;
  const header: number[] = [(fin ? 0x80 : 0) | (opts.rsv1 ? 0x40 : 0) | opcode];
  const maskBit = masked ? 0x80 : 0;
  if (len < 126) header.push(maskBit | len);
  else if (len < 65536) header.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    header.push(maskBit | 127, 0, 0, 0, 0);
    header.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!masked) return Buffer.concat([Buffer.from(header), data]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ key[i % 4]!;
  return Buffer.concat([Buffer.from(header), key, out]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A JWT-shaped test token (unsigned: the signature is an obvious placeholder). */
export function fakeJwt(expSecondsFromNow: number): string {
  const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: 'test', exp: now + expSecondsFromNow })}.fake-signature`;
}
