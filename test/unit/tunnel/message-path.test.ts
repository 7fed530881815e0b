/**
 * The message path of the tunnel, driven directly: tunnel() between two real TCP connections on
 * 127.0.0.1 (a raw client ↔ the proxy's client-side socket, the proxy's server-side socket ↔ a
 * raw backend), message hooks given as handlers. Every byte each peer receives is compared.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { HookMessage, MessageHandler } from '../../../src/tunnel/hooks.js';
import { tunnel, type Tunnel, type TunnelEnd } from '../../../src/tunnel/tunnel.js';
import type { DeflateParams } from '../../../src/wire/extensions.js';
import { encodeFrame } from '../../../src/wire/ws-frame.js';
import { frame, rawClient, sleep, startRawBackend, type RawConnection } from '../../support/helpers.js';
import { until, withTimeout } from '../../support/wait.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  /** The peers: what they received, their sockets. */
  client: RawConnection;
  server: RawConnection;
  /** The proxy's sockets. */
  proxyClient: net.Socket;
  proxyServer: net.Socket;
  tun: Tunnel;
  failures: unknown[];
  ended: Promise<TunnelEnd>;
  /** What the observers saw, per sender. */
  observed: { client: Buffer[]; server: Buffer[] };
}

const DEFLATE: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };

async function open(handlers: MessageHandler[], opts: { deflate?: DeflateParams; messages?: boolean } = {}): Promise<Rig> {
  const listener = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => listener.close(() => r())));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = await rawClient((listener.address() as net.AddressInfo).port);
  cleanups.push(() => client.socket.destroy());
  client.socket.setNoDelay(true);
  const proxyClient = await accepted;
  cleanups.push(() => proxyClient.destroy());
  const backend = await startRawBackend();
  cleanups.push(() => backend.close());
  const proxyServer = net.connect({ host: '127.0.0.1', port: backend.port, allowHalfOpen: true });
  cleanups.push(() => proxyServer.destroy());
  await new Promise<void>((r) => proxyServer.once('connect', () => r()));
  await until(() => backend.connections.length > 0, 'a connection at the backend');
  const server = backend.connections[0]!;
  server.socket.setNoDelay(true);
  const failures: unknown[] = [];
  let onEnd!: (end: TunnelEnd) => void;
  const ended = new Promise<TunnelEnd>((r) => (onEnd = r));
  const observed = { client: [] as Buffer[], server: [] as Buffer[] };
  const tun = tunnel(proxyClient, proxyServer, {
    onClientChunk: (c) => void observed.client.push(Buffer.from(c)),
    onServerChunk: (c) => void observed.server.push(Buffer.from(c)),
    ...(opts.messages === false ? {} : { messages: { handlers, deflate: opts.deflate, onHookFailure: (err: unknown) => void failures.push(err) } }),
    onEnd,
  });
  return { client, server, proxyClient, proxyServer, tun, failures, ended, observed };
}

/**
 * Writes bytes in pieces of the given sizes (the rest at once), each once the proxy's socket that
 * reads them (`readBy`) has read the one before: they arrive as separate reads.
 */
async function writeInPieces(socket: net.Socket, readBy: net.Socket, bytes: Buffer, sizes: number[]): Promise<void> {
  const base = readBy.bytesRead;
  let pos = 0;
  for (const n of sizes) {
    socket.write(bytes.subarray(pos, pos + n));
    pos += n;
    await until(() => readBy.bytesRead >= base + pos, `the proxy to read ${pos} bytes`, { seen: () => `${readBy.bytesRead - base} bytes read` });
  }
  if (pos < bytes.length) socket.write(bytes.subarray(pos));
}

const atLeast = (n: number) => (b: Buffer) => b.length >= n;

interface Parsed {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** The complete frames in a byte stream, unmasked. */
function parseFrames(buf: Buffer): Parsed[] {
  const out: Parsed[] = [];
  let pos = 0;
  while (pos + 2 <= buf.length) {
    const b0 = buf[pos]!;
    const b1 = buf[pos + 1]!;
    let len = b1 & 0x7f;
    let off = pos + 2;
    if (len === 126) {
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      len = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? buf.subarray(off, off + 4) : undefined;
    if (masked) off += 4;
    if (off + len > buf.length) break;
    const payload = Buffer.from(buf.subarray(off, off + len));
    if (key) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
    out.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, masked, payload });
    pos = off + len;
  }
  return out;
}

const texts = (frames: Parsed[]): string[] => frames.map((f) => f.payload.toString());

/** A client frame (masked with a random key). */
const cf = (opcode: number, payload: Buffer | string, fin = true, rsv1 = false): Buffer => encodeFrame({ opcode, payload, fin, rsv1, mask: true });
/** A server frame. */
const sf = (opcode: number, payload: Buffer | string, fin = true, rsv1 = false): Buffer => frame(opcode, payload, { fin, rsv1 });

/** A permessage-deflate sender's compressor (context takeover unless `fresh`): each message sync-flushed, the trailer stripped. */
function compressor(fresh = false): (data: string | Buffer) => Promise<Buffer> {
  let z = zlib.createDeflateRaw();
  return (data) =>
    new Promise((resolve) => {
      if (fresh) z = zlib.createDeflateRaw();
      const parts: Buffer[] = [];
      const onData = (d: Buffer): void => void parts.push(d);
      z.on('data', onData);
      z.write(data);
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        z.off('data', onData);
        const all = Buffer.concat(parts);
        resolve(all.subarray(0, all.length - 4));
      });
    });
}

/** A permessage-deflate receiver with context takeover. */
function decompressor(): (payload: Buffer) => Promise<string> {
  const z = zlib.createInflateRaw();
  return (payload) =>
    new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      const onData = (d: Buffer): void => void parts.push(d);
      z.on('data', onData);
      z.once('error', reject);
      z.write(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]));
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        z.off('data', onData);
        resolve(Buffer.concat(parts).toString());
      });
    });
}

const token = (i: number): string => createHash('sha256').update(String(i)).digest('hex').slice(0, 32);
/** A message that repeats the token of the one before it: its compression refers back to that message, which a receiver must have seen. */
const chatty = (i: number): string =>
  JSON.stringify({ type: 'update', seq: i, token: token(i), previous: token(i - 1), note: 'the same words again and again' });

// ---------------------------------------------------------------------------------------------

describe('message path: faithful when everything passes', () => {
  it('gives byte-identical output both ways: fragments, interleaved control frames, split headers, 16- and 64-bit lengths', async () => {
    const seen: HookMessage[] = [];
    const handlers: MessageHandler[] = [
      (m) => void seen.push(m),
      () => ({ action: 'pass' }),
      (m) => (m.index % 2 === 0 ? Promise.resolve(undefined) : undefined),
    ];
    const rig = await open(handlers);
    const big = Buffer.alloc(70_000, 'x');
    const fromClient = Buffer.concat([
      cf(1, 'hello'),
      cf(2, Buffer.from([1, 2, 3]), false),
      cf(9, 'p1'),
      cf(0, Buffer.from([4, 5]), false),
      cf(10, ''),
      cf(0, Buffer.from([6]), true),
      cf(1, big),
      cf(8, Buffer.from([0x03, 0xe8])),
    ]);
    const fromServer = Buffer.concat([
      sf(1, 'welcome'),
      sf(1, 'frag-', false),
      sf(9, ''),
      sf(0, 'mented', true),
      sf(2, Buffer.alloc(300, 7)),
      sf(8, Buffer.from([0x03, 0xe8, 0x6f, 0x6b])),
    ]);
    await writeInPieces(rig.client.socket, rig.proxyClient, fromClient, [1, 1, 3, 2, 5, 4, 1, 1, 1, 9]);
    await writeInPieces(rig.server.socket, rig.proxyServer, fromServer, [1, 8, 2]);
    expect((await rig.server.waitFor(atLeast(fromClient.length))).equals(fromClient)).toBe(true);
    expect((await rig.client.waitFor(atLeast(fromServer.length))).equals(fromServer)).toBe(true);
    const client = seen.filter((m) => m.from === 'client');
    expect(client.map((m) => m.kind)).toEqual(['text', 'ping', 'pong', 'binary', 'text', 'close']);
    expect(client.map((m) => m.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(client[3]!.data).toEqual(Buffer.from([1, 2, 3, 4, 5, 6]));
    expect(client[4]!.data.equals(big)).toBe(true);
    expect(client[5]!.closeCode).toBe(1000);
    const server = seen.filter((m) => m.from === 'server');
    expect(server.map((m) => m.kind)).toEqual(['text', 'ping', 'text', 'binary', 'close']);
    expect(server[2]!.data.toString()).toBe('frag-mented');
    expect(server[4]!.closeReason).toBe('ok');
    expect(rig.failures).toEqual([]);
    // Observers saw what was written.
    expect(Buffer.concat(rig.observed.client).equals(fromClient)).toBe(true);
    expect(Buffer.concat(rig.observed.server).equals(fromServer)).toBe(true);
  });

  it('keeps compressed messages (context takeover) byte-identical and hands them to the hooks inflated', async () => {
    const seen: string[] = [];
    const rig = await open([(m) => void seen.push(`${m.from}:${m.data.toString()}`)], { deflate: DEFLATE });
    const compress = compressor();
    const fromClient: Buffer[] = [];
    for (let i = 0; i < 5; i++) fromClient.push(cf(1, await compress(chatty(i)), true, true));
    // A compressed message in two fragments, and an uncompressed one between compressed ones.
    const two = await compress(chatty(5));
    fromClient.push(cf(1, two.subarray(0, 10), false, true), cf(9, 'mid'), cf(0, two.subarray(10), true), cf(1, 'plain'));
    const all = Buffer.concat(fromClient);
    rig.client.socket.write(all);
    expect((await rig.server.waitFor(atLeast(all.length))).equals(all)).toBe(true);
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => `client:${chatty(i)}`).concat(['client:mid', `client:${chatty(5)}`, 'client:plain']));
  });
});

describe('message path: verdicts', () => {
  it('drops, replaces (text and binary) and adds, masking what goes to the server and not what goes to the client', async () => {
    const handler: MessageHandler = (m) => {
      const text = m.data.toString();
      if (text === 'drop') return { action: 'drop' };
      if (text === 'swap')
        return {
          action: 'replace',
          with: [
            { kind: 'text', data: 'swapped' },
            { kind: 'binary', data: Buffer.from([1, 2, 3]) },
          ],
        };
      if (text === 'more') return { action: 'pass', add: [{ kind: 'ping', data: Buffer.from('x') }] };
      if (m.kind === 'binary') return { action: 'replace', with: [{ kind: 'binary', data: Buffer.from([9, 9]) }] };
      if (text === 'server says hi') return { action: 'replace', with: [{ kind: 'text', data: Buffer.from('edited') }] };
      return undefined;
    };
    const rig = await open([handler]);
    const keep = cf(1, 'keep');
    const more = cf(1, 'more');
    rig.client.socket.write(Buffer.concat([keep, cf(1, 'drop'), cf(1, 'swap'), more, cf(2, Buffer.from([0]))]));
    rig.server.socket.write(Buffer.concat([sf(1, 'server says hi'), sf(1, 'as is')]));
    const got = await rig.server.waitFor((b) => parseFrames(b).length >= 6);
    const frames = parseFrames(got);
    expect(texts(frames)).toEqual(['keep', 'swapped', '\u0001\u0002\u0003', 'more', 'x', '\u0009\u0009']);
    expect(frames.map((f) => f.opcode)).toEqual([1, 1, 2, 1, 9, 2]);
    expect(frames.every((f) => f.masked && f.fin && !f.rsv1)).toBe(true);
    // Passed messages are their original bytes.
    expect(got.subarray(0, keep.length).equals(keep)).toBe(true);
    const swappedLen =
      encodeFrame({ opcode: 1, payload: 'swapped', mask: true }).length +
      encodeFrame({ opcode: 2, payload: Buffer.from([1, 2, 3]), mask: true }).length;
    expect(got.subarray(keep.length + swappedLen, keep.length + swappedLen + more.length).equals(more)).toBe(true);
    const down = parseFrames(await rig.client.waitFor((b) => parseFrames(b).length >= 2));
    expect(texts(down)).toEqual(['edited', 'as is']);
    expect(down.some((f) => f.masked)).toBe(false);
  });

  it('control frames inside a fragmented message: a replaced one goes out first, passed ones keep their place, or survive a dropped message', async () => {
    const rig = await open([
      (m) => {
        if (m.kind === 'ping') return { action: 'replace', with: [{ kind: 'ping', data: Buffer.from('X') }] };
        if (m.kind === 'text' && m.data.toString() === 'dropped') return { action: 'drop' };
        return undefined;
      },
    ]);
    const pong = cf(10, 'B');
    const [frag1, frag2] = [cf(1, 'kep', false), cf(0, 't', true)];
    rig.client.socket.write(Buffer.concat([frag1, cf(9, 'A'), pong, frag2, cf(1, 'dropp', false), cf(10, 'C'), cf(0, 'ed', true)]));
    const got = await rig.server.waitFor((b) => parseFrames(b).length >= 5);
    const frames = parseFrames(got);
    expect(texts(frames)).toEqual(['X', 'kep', 'B', 't', 'C']);
    // The passed frames are the original bytes, in their original order.
    const x = encodeFrame({ opcode: 9, payload: 'X', mask: true }).length;
    expect(got.subarray(x, x + frag1.length + pong.length + frag2.length).equals(Buffer.concat([frag1, pong, frag2]))).toBe(true);
  });

  it('chains handlers: each sees what the one before let through', async () => {
    const second: string[] = [];
    const rig = await open([
      (m) =>
        m.data.toString() === 'a'
          ? {
              action: 'replace',
              with: [
                { kind: 'text', data: 'x' },
                { kind: 'text', data: 'y' },
              ],
            }
          : undefined,
      (m) => {
        second.push(m.data.toString());
        return m.data.toString() === 'x' ? { action: 'drop' } : { action: 'pass', add: [{ kind: 'text', data: `${m.data.toString()}+` }] };
      },
    ]);
    rig.client.socket.write(Buffer.concat([cf(1, 'a'), cf(1, 'b')]));
    const frames = parseFrames(await rig.server.waitFor((b) => parseFrames(b).length >= 4));
    expect(second).toEqual(['x', 'y', 'b']);
    expect(texts(frames)).toEqual(['y', 'y+', 'b', 'b+']);
  });

  it('send() injects into either direction, behind what that direction holds', async () => {
    let release!: () => void;
    const held = new Promise<undefined>((r) => (release = () => r(undefined)));
    let holding!: () => void;
    const isHeld = new Promise<void>((r) => (holding = r));
    const rig = await open([
      (m) => {
        if (m.data.toString() !== 'slow') return undefined;
        holding();
        return held;
      },
    ]);
    rig.client.socket.write(cf(1, 'slow'));
    await withTimeout(isHeld, 5000, "the hook to hold 'slow'");
    rig.tun.send('server', { kind: 'text', data: 'injected' });
    rig.tun.send('client', { kind: 'close', code: 4000, reason: 'bye' });
    const down = parseFrames(await rig.client.waitFor((b) => parseFrames(b).length >= 1));
    expect(down[0]).toMatchObject({ opcode: 8, masked: false, fin: true });
    expect(down[0]!.payload.readUInt16BE(0)).toBe(4000);
    expect(down[0]!.payload.toString('utf8', 2)).toBe('bye');
    // A real-time wait for a negative: the injected message does not overtake the held one.
    await sleep(30);
    expect(rig.server.received().length).toBe(0);
    release();
    const up = parseFrames(await rig.server.waitFor((b) => parseFrames(b).length >= 2));
    expect(texts(up)).toEqual(['slow', 'injected']);
    expect(up[1]).toMatchObject({ opcode: 1, masked: true, fin: true, rsv1: false });
    expect(() => rig.tun.send('server', { kind: 'ping', data: Buffer.alloc(126) })).toThrow(/125 bytes/);
  });

  it('send() throws on a tunnel that is not on the message path', async () => {
    const rig = await open([], { messages: false });
    expect(() => rig.tun.send('server', { kind: 'text', data: 'x' })).toThrow(/not on the message path/);
  });
});

describe('message path: holding', () => {
  it('a delay keeps the order within its direction while the other direction flows', async () => {
    // The delay is a verdict the test gives once the other direction has been seen to flow (to the
    // tunnel, a pending verdict is a pending verdict, whatever resolves it): no race with a timer.
    let holding!: () => void;
    const isHeld = new Promise<void>((r) => (holding = r));
    let release!: () => void;
    const delayed = new Promise<undefined>((r) => (release = () => r(undefined)));
    const rig = await open([
      (m) => {
        if (m.from !== 'client' || m.index !== 0) return undefined;
        holding();
        return delayed;
      },
    ]);
    const m1 = cf(1, 'first');
    const m2 = cf(1, 'second');
    rig.client.socket.write(m1);
    await withTimeout(isHeld, 5000, 'the hook to hold the first client message');
    rig.client.socket.write(m2);
    const s1 = sf(1, 'from the server');
    rig.server.socket.write(s1);
    expect((await rig.client.waitFor(atLeast(s1.length))).equals(s1)).toBe(true);
    await until(() => rig.proxyClient.bytesRead >= m1.length + m2.length, 'the proxy to read the second client message while the first is held', {
      seen: () => `${rig.proxyClient.bytesRead} bytes read`,
    });
    expect(rig.server.received().length).toBe(0);
    release();
    expect((await rig.server.waitFor(atLeast(m1.length + m2.length))).equals(Buffer.concat([m1, m2]))).toBe(true);
  });

  it('a hook that throws is reported once, its messages pass, and it is not called again', async () => {
    let calls = 0;
    let rejections = 0;
    const rig = await open([
      () => {
        calls++;
        throw new Error('boom');
      },
      () => {
        rejections++;
        return Promise.reject(new Error('async boom'));
      },
    ]);
    const bytes = Buffer.concat([cf(1, 'a'), cf(1, 'b'), cf(1, 'c')]);
    rig.client.socket.write(bytes);
    rig.server.socket.write(sf(1, 'd'));
    expect((await rig.server.waitFor(atLeast(bytes.length))).equals(bytes)).toBe(true);
    await rig.client.waitFor(atLeast(3));
    expect(calls).toBe(1);
    expect(rejections).toBe(1);
    expect(rig.failures.map((e) => (e as Error).message)).toEqual(['boom', 'async boom']);
  });

  it('an end after a delayed message: the message goes first, then the FIN; the other direction still flows', async () => {
    // A slow hook (real time on purpose): every client message is delayed by 150 ms.
    const rig = await open([(m) => (m.from === 'client' ? sleep(150).then(() => undefined) : undefined)]);
    const m1 = cf(1, 'late');
    rig.client.socket.write(m1);
    rig.client.socket.end();
    const receivedAtEnd = new Promise<Buffer>((r) => rig.server.socket.once('end', () => r(rig.server.received())));
    expect((await receivedAtEnd).equals(m1)).toBe(true);
    // Half-close: the server can still answer.
    const answer = sf(1, 'still here');
    rig.server.socket.write(answer);
    expect((await rig.client.waitFor(atLeast(answer.length))).equals(answer)).toBe(true);
    rig.server.socket.end();
    const end = await rig.ended;
    expect(end).toMatchObject({ endedBy: 'client', how: 'fin', bytes: { clientToServer: m1.length, serverToClient: answer.length } });
  });

  it('passes a reset on as a reset', async () => {
    const rig = await open([() => undefined]);
    const serverError = new Promise<string | undefined>((r) => {
      rig.server.socket.once('error', (err: NodeJS.ErrnoException) => r(err.code));
      rig.server.socket.once('close', () => r(undefined));
    });
    rig.client.socket.write(cf(1, 'before the reset'));
    await rig.server.waitFor(atLeast(1));
    rig.client.socket.resetAndDestroy();
    expect(await serverError).toBe('ECONNRESET');
    expect(await rig.ended).toMatchObject({ endedBy: 'client', how: 'reset' });
  });

  it('a slow reader loses no bytes: the source is paused until the destination drains', async () => {
    const rig = await open([() => undefined]);
    rig.server.socket.pause();
    const frames: Buffer[] = [];
    for (let i = 0; i < 160; i++) frames.push(cf(2, Buffer.alloc(64 * 1024, i)));
    const all = Buffer.concat(frames);
    rig.client.socket.write(all);
    await until(() => rig.proxyClient.isPaused(), 'the source to be paused', {
      seen: () => ({ buffered: rig.proxyServer.writableLength, clientLeft: rig.client.socket.writableLength }),
    });
    rig.server.socket.resume();
    expect((await rig.server.waitFor(atLeast(all.length), 15_000)).equals(all)).toBe(true);
  });

  it('stops reading while a hook holds more than the hold limit, and loses nothing', async () => {
    let release!: () => void;
    const held = new Promise<undefined>((r) => (release = () => r(undefined)));
    const rig = await open([(m) => (m.index === 0 ? held : undefined)]);
    const frames: Buffer[] = [cf(1, 'hold')];
    for (let i = 0; i < 24; i++) frames.push(cf(2, Buffer.alloc(1024 * 1024, i)));
    const all = Buffer.concat(frames);
    rig.client.socket.write(all);
    await until(() => rig.proxyClient.isPaused(), 'the source to be paused');
    release();
    expect((await rig.server.waitFor(atLeast(all.length), 15_000)).equals(all)).toBe(true);
  });
});

describe('message path: protocol errors', () => {
  it('flushes what it holds in order, then forwards the rest verbatim', async () => {
    const seen: string[] = [];
    const rig = await open([
      (m) => {
        seen.push(m.data.toString());
        // A slow hook (real time on purpose): the first message is still held when the protocol error comes.
        return m.index === 0 ? sleep(100).then(() => undefined) : undefined;
      },
    ]);
    // The first fragment of a message, then a frame with RSV2 set (no extension defines it), then anything.
    const bytes = Buffer.concat([cf(1, 'ok'), cf(1, 'part', false), Buffer.from([0xa1, 0x80, 1, 2, 3, 4]), Buffer.from('garbage after it')]);
    await writeInPieces(rig.client.socket, rig.proxyClient, bytes, [3, 11, 4]);
    rig.client.socket.write(Buffer.from(' and more'));
    const expected = Buffer.concat([bytes, Buffer.from(' and more')]);
    expect((await rig.server.waitFor(atLeast(expected.length))).equals(expected)).toBe(true);
    expect(seen).toEqual(['ok']);
    expect(() => rig.tun.send('server', { kind: 'text', data: 'x' })).toThrow(/protocol error/);
  });

  it('falls back on bad compressed data too', async () => {
    const rig = await open([() => undefined], { deflate: DEFLATE });
    const compress = compressor();
    const good = cf(1, await compress('fine'), true, true);
    const bad = cf(1, Buffer.from([0xff, 0xff, 0xff, 0xff]), true, true);
    const after = cf(1, 'after');
    const bytes = Buffer.concat([good, bad, after]);
    rig.client.socket.write(bytes);
    expect((await rig.server.waitFor(atLeast(bytes.length))).equals(bytes)).toBe(true);
  });
});

describe('message path: permessage-deflate', () => {
  it('with context takeover, a dropped compressed message switches the direction to re-deflate: the receiver decodes every later message', async () => {
    const rig = await open([(m) => (m.data.toString() === chatty(2) ? { action: 'drop' } : undefined)], { deflate: DEFLATE });
    const compress = compressor();
    const sent: Buffer[] = [];
    for (let i = 0; i < 6; i++) sent.push(cf(1, await compress(chatty(i)), true, true));
    sent.push(cf(1, 'uncompressed'));
    sent.push(cf(1, await compress(chatty(6)), true, true));
    rig.client.socket.write(Buffer.concat(sent));
    const frames = parseFrames(await rig.server.waitFor((b) => parseFrames(b).length >= 7));
    const inflate = decompressor();
    const decoded: string[] = [];
    for (const f of frames) decoded.push(f.rsv1 ? await inflate(f.payload) : f.payload.toString());
    expect(decoded).toEqual([chatty(0), chatty(1), chatty(3), chatty(4), chatty(5), 'uncompressed', chatty(6)]);
    // Before the drop: the original bytes; after it: re-deflated (masked, RSV1) except the uncompressed one.
    const got = rig.server.received();
    expect(got.subarray(0, sent[0]!.length + sent[1]!.length).equals(Buffer.concat([sent[0]!, sent[1]!]))).toBe(true);
    expect(frames.slice(2).every((f) => f.masked && f.fin)).toBe(true);
    expect(frames[5]!.rsv1).toBe(false);
    expect(got.includes(sent[6]!)).toBe(true);
    expect(got.includes(sent[3]!)).toBe(false);
  });

  it('with context takeover, a replaced compressed server message switches that direction only', async () => {
    const rig = await open(
      [(m) => (m.from === 'server' && m.index === 1 ? { action: 'replace', with: [{ kind: 'text', data: 'edited' }] } : undefined)],
      { deflate: DEFLATE },
    );
    const server = compressor();
    const client = compressor();
    const down: Buffer[] = [];
    for (let i = 0; i < 4; i++) down.push(sf(1, await server(chatty(i)), true, true));
    const up: Buffer[] = [];
    for (let i = 0; i < 4; i++) up.push(cf(1, await client(chatty(i)), true, true));
    rig.server.socket.write(Buffer.concat(down));
    rig.client.socket.write(Buffer.concat(up));
    const frames = parseFrames(await rig.client.waitFor((b) => parseFrames(b).length >= 4));
    const inflate = decompressor();
    const decoded: string[] = [];
    for (const f of frames) decoded.push(f.rsv1 ? await inflate(f.payload) : f.payload.toString());
    expect(decoded).toEqual([chatty(0), 'edited', chatty(2), chatty(3)]);
    expect(frames.some((f) => f.masked)).toBe(false);
    const upAll = Buffer.concat(up);
    expect((await rig.server.waitFor(atLeast(upAll.length))).equals(upAll)).toBe(true);
  });

  it('with no context takeover for the sender, originals stay byte-identical after a drop', async () => {
    const rig = await open([(m) => (m.index === 1 ? { action: 'drop' } : undefined)], { deflate: { ...DEFLATE, serverNoContextTakeover: true } });
    const server = compressor(true);
    const down: Buffer[] = [];
    for (let i = 0; i < 4; i++) down.push(sf(1, await server(chatty(i)), true, true));
    rig.server.socket.write(Buffer.concat(down));
    const expected = Buffer.concat([down[0]!, down[2]!, down[3]!]);
    expect((await rig.client.waitFor(atLeast(expected.length))).equals(expected)).toBe(true);
  });
});

describe('message path: messages over the hold limit', () => {
  const HUGE = 65 * 1024 * 1024;

  it('a message over the limit streams through verbatim, unseen by the hooks, control frames in it included', async () => {
    const seen: string[] = [];
    const rig = await open([(m) => void seen.push(`${m.kind} ${m.data.length}`)]);
    const big = Buffer.alloc(HUGE, 3);
    // 'early' comes before the message passes the limit (it is hooked, and keeps its place); 'inside' after (it streams with it).
    const fragments = [
      sf(2, big.subarray(0, 1024), false),
      sf(9, 'early'),
      sf(0, big.subarray(1024, 64.5 * 2 ** 20), false),
      sf(9, 'inside'),
      sf(0, big.subarray(64.5 * 2 ** 20), true),
    ];
    const bytes = Buffer.concat([sf(1, 'before'), ...fragments, sf(1, 'after')]);
    rig.server.socket.write(bytes);
    const got = await rig.client.waitFor(atLeast(bytes.length), 15_000);
    expect(got.equals(bytes)).toBe(true);
    expect(seen).toEqual(['text 6', 'ping 5', 'text 5']);
  });

  it('a compressed message over the limit streams through on a faithful direction, and the inflater stays in step', async () => {
    const seen: string[] = [];
    const rig = await open([(m) => void seen.push(m.data.toString().slice(0, 40))], { deflate: DEFLATE });
    const compress = compressor();
    const bytes = Buffer.concat([
      sf(1, await compress(chatty(0)), true, true),
      sf(2, await compress(Buffer.alloc(HUGE)), true, true),
      sf(1, await compress(chatty(1)), true, true),
    ]);
    rig.server.socket.write(bytes);
    expect((await rig.client.waitFor(atLeast(bytes.length), 15_000)).equals(bytes)).toBe(true);
    expect(seen).toEqual([chatty(0).slice(0, 40), chatty(1).slice(0, 40)]);
  });

  it('a compressed message over the limit on a re-deflated direction closes the session with 1009 to both sides', async () => {
    const rig = await open([(m) => (m.index === 0 ? { action: 'drop' } : undefined)], { deflate: DEFLATE });
    const compress = compressor();
    rig.client.socket.write(Buffer.concat([cf(1, await compress(chatty(0)), true, true), cf(2, await compress(Buffer.alloc(HUGE)), true, true)]));
    const closeOf = (b: Buffer): number | undefined =>
      parseFrames(b)
        .find((f) => f.opcode === 8)
        ?.payload.readUInt16BE(0);
    await Promise.all([rig.client.waitFor((b) => closeOf(b) !== undefined), rig.server.waitFor((b) => closeOf(b) !== undefined)]);
    expect(closeOf(rig.client.received())).toBe(1009);
    expect(closeOf(rig.server.received())).toBe(1009);
    expect(parseFrames(rig.server.received())).toHaveLength(1);
    // Then wstap ends both connections.
    await until(() => rig.client.socket.readableEnded && rig.server.socket.readableEnded, 'both ends to see the FIN');
    expect(rig.failures.map((e) => (e as Error).message)).toEqual([expect.stringMatching(/closed with 1009/)]);
  });
});
