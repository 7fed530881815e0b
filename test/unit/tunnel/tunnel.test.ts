/**
 * tunnel() (src/tunnel/tunnel.ts) between two real TCP connections on 127.0.0.1: a raw client
 * ↔ the proxy's client-side socket, the proxy's server-side socket ↔ a raw backend. Both byte
 * paths are driven: the plain one (no observers) and the observed one (chunk observers, with
 * and without the forwarding time). Bytes pass unchanged both ways, a half-close leaves the
 * other direction open, a reset is passed on as a reset, the end is reported once, and a
 * paused reader holds the other side back without a byte lost. Nothing is mocked.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { tunnel, type Tunnel, type TunnelEnd, type TunnelOptions } from '../../../src/tunnel/tunnel.js';
import { defer, runDeferred } from '../../support/cleanup.js';
import { openRawBackend, rawClient, type RawConnection } from '../../support/helpers.js';
import { sleep, until, withTimeout } from '../../support/wait.js';

afterEach(runDeferred);

type PathName = 'plain' | 'observed' | 'observed and timed';
const PATHS: PathName[] = ['plain', 'observed', 'observed and timed'];

/** A peer of the tunnel: what it received, and how its connection ended. */
interface Peer extends RawConnection {
  /** It received a FIN (a clean end of the other side's writing). */
  sawFin: boolean;
  /** The code of the error its socket failed with (ECONNRESET for a reset). */
  error: string | undefined;
  closed: Promise<void>;
}

function peer(c: RawConnection): Peer {
  const p = Object.assign(c, { sawFin: false, error: undefined as string | undefined, closed: Promise.resolve() });
  c.socket.on('end', () => (p.sawFin = true));
  c.socket.on('error', (err: NodeJS.ErrnoException) => (p.error ??= err.code));
  p.closed = new Promise<void>((r) => (c.socket.closed ? r() : c.socket.once('close', () => r())));
  return p;
}

interface Rig {
  client: Peer;
  backend: Peer;
  /** The proxy's sockets: toward the client, toward the backend. */
  proxyClient: net.Socket;
  proxyServer: net.Socket;
  t: Tunnel;
  /** Every onEnd report. */
  ends: TunnelEnd[];
  /** What the observers saw (copies), and when, per sender. */
  observed: { client: Buffer[]; server: Buffer[]; at: { client: number[]; server: number[] } };
  forwarded: number[];
}

/** The two TCP connections, and tunnel() between the proxy's ends of them. */
async function open(path: PathName): Promise<Rig> {
  // The proxy's listening socket: half-open connections allowed, paused until tunnel() resumes it.
  const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
  defer(() => new Promise<void>((r) => listener.close(() => r())));
  const accepted = new Promise<net.Socket>((r) => listener.once('connection', r));
  const client = peer(await rawClient((listener.address() as net.AddressInfo).port));
  defer(() => client.socket.destroy());
  const proxyClient = await accepted;
  defer(() => proxyClient.destroy());

  const raw = await openRawBackend();
  const proxyServer = net.connect({ port: raw.port, host: '127.0.0.1', allowHalfOpen: true });
  defer(() => proxyServer.destroy());
  await new Promise<void>((resolve, reject) => proxyServer.once('connect', () => resolve()).once('error', reject));
  const backend = peer(await raw.connection(0));

  const ends: TunnelEnd[] = [];
  const observed: Rig['observed'] = { client: [], server: [], at: { client: [], server: [] } };
  const forwarded: number[] = [];
  const opts: TunnelOptions = { onEnd: (e) => void ends.push(e) };
  if (path !== 'plain') {
    opts.onClientChunk = (chunk, at) => {
      observed.client.push(Buffer.from(chunk));
      observed.at.client.push(at);
    };
    opts.onServerChunk = (chunk, at) => {
      observed.server.push(Buffer.from(chunk));
      observed.at.server.push(at);
    };
  }
  if (path === 'observed and timed') opts.onForwarded = (ms) => void forwarded.push(ms);
  const t = tunnel(proxyClient, proxyServer, opts);
  return { client, backend, proxyClient, proxyServer, t, ends, observed, forwarded };
}

/** The one end report, once both sockets are closed; a few turns later it is still the only one. */
async function theEnd(rig: Rig): Promise<TunnelEnd> {
  const end = await until(() => rig.ends[0], 'the tunnel to report its end', {
    seen: () => ({ proxyClient: rig.proxyClient.destroyed, proxyServer: rig.proxyServer.destroyed }),
  });
  // A real-time wait for a negative: no second report comes.
  await sleep(20);
  expect(rig.ends).toHaveLength(1);
  expect(end.durationMs).toBeGreaterThanOrEqual(0);
  return end;
}

/** Writes `chunks` from one peer, one write each, letting the event loop turn now and then. */
async function writeAll(p: Peer, chunks: Buffer[]): Promise<void> {
  for (const [i, c] of chunks.entries()) {
    p.socket.write(c);
    if (i % 20 === 0) await new Promise((r) => setImmediate(r));
  }
}

const chunksOf = (n: number, seed: number): Buffer[] => Array.from({ length: n }, (_, i) => randomBytes(1 + ((i * seed) % 4000)));

describe.each(PATHS)('tunnel(), the %s path', (path) => {
  it('passes bytes both ways unchanged, in many writes at once from both sides', async () => {
    const rig = await open(path);
    const up = [...chunksOf(300, 37), randomBytes(2 * 1024 * 1024)];
    const down = [...chunksOf(300, 53), randomBytes(2 * 1024 * 1024)];
    await Promise.all([writeAll(rig.client, up), writeAll(rig.backend, down)]);
    const upAll = Buffer.concat(up);
    const downAll = Buffer.concat(down);
    expect((await rig.backend.waitFor((b) => b.length >= upAll.length, 10_000)).equals(upAll)).toBe(true);
    expect((await rig.client.waitFor((b) => b.length >= downAll.length, 10_000)).equals(downAll)).toBe(true);

    rig.client.socket.end();
    rig.backend.socket.end();
    const end = await theEnd(rig);
    expect(end.bytes).toEqual({ clientToServer: upAll.length, serverToClient: downAll.length });
    expect(end.how).toBe('fin');
    expect(end.error).toBeUndefined();

    if (path === 'plain') {
      expect(rig.observed.client).toEqual([]);
      expect(rig.forwarded).toEqual([]);
    } else {
      // The observers saw every chunk, in order, and when each arrived.
      expect(Buffer.concat(rig.observed.client).equals(upAll)).toBe(true);
      expect(Buffer.concat(rig.observed.server).equals(downAll)).toBe(true);
      for (const side of ['client', 'server'] as const) {
        const at = rig.observed.at[side];
        expect(at.every((x) => Number.isFinite(x))).toBe(true);
        expect([...at].sort((a, b) => a - b)).toEqual(at);
      }
      if (path === 'observed and timed') {
        expect(rig.forwarded.length).toBeGreaterThan(0);
        expect(rig.forwarded.every((ms) => Number.isFinite(ms) && ms >= 0)).toBe(true);
      } else expect(rig.forwarded).toEqual([]);
    }
  });

  it('half-close: the client ends, the backend sees the FIN and still answers until it ends too', async () => {
    const rig = await open(path);
    const last = randomBytes(5000);
    rig.client.socket.end(last);
    await until(() => rig.backend.sawFin, 'the FIN at the backend', { seen: () => rig.backend.received().length });
    expect(rig.backend.received().equals(last)).toBe(true);
    expect(rig.backend.error).toBeUndefined();

    // The other direction keeps flowing.
    const reply = [randomBytes(70_000), Buffer.from('still here')];
    await writeAll(rig.backend, reply);
    const replyAll = Buffer.concat(reply);
    expect((await rig.client.waitFor((b) => b.length >= replyAll.length)).equals(replyAll)).toBe(true);
    expect(rig.client.sawFin).toBe(false);
    expect(rig.ends).toEqual([]);

    rig.backend.socket.end();
    await until(() => rig.client.sawFin, 'the FIN at the client');
    await Promise.all([rig.client.closed, rig.backend.closed]);
    const end = await theEnd(rig);
    expect(end).toMatchObject({ endedBy: 'client', how: 'fin', bytes: { clientToServer: last.length, serverToClient: replyAll.length } });
    expect(end.error).toBeUndefined();
    expect(rig.client.error).toBeUndefined();
  });

  it('half-close the other way: the backend ends first, the client can still send', async () => {
    const rig = await open(path);
    rig.backend.socket.end(Buffer.from('bye from the backend'));
    await until(() => rig.client.sawFin, 'the FIN at the client');
    expect(rig.client.received().toString()).toBe('bye from the backend');
    rig.client.socket.end(Buffer.from('bye from the client'));
    await until(() => rig.backend.sawFin, 'the FIN at the backend');
    expect(rig.backend.received().toString()).toBe('bye from the client');
    const end = await theEnd(rig);
    expect(end).toMatchObject({ endedBy: 'server', how: 'fin', bytes: { clientToServer: 19, serverToClient: 20 } });
  });

  it('a reset from the client becomes a reset at the backend (ECONNRESET, no clean FIN)', async () => {
    const rig = await open(path);
    rig.client.socket.write('before the reset');
    await rig.backend.waitFor((b) => b.length >= 16);
    rig.client.socket.resetAndDestroy();
    await withTimeout(rig.backend.closed, 5000, 'the backend connection to close');
    expect(rig.backend.error).toBe('ECONNRESET');
    expect(rig.backend.sawFin).toBe(false);
    const end = await theEnd(rig);
    expect(end).toMatchObject({ endedBy: 'client', how: 'reset', bytes: { clientToServer: 16, serverToClient: 0 } });
    expect(end.error).toMatch(/ECONNRESET/);
  });

  it('a reset from the backend becomes a reset at the client (ECONNRESET, no clean FIN)', async () => {
    const rig = await open(path);
    rig.backend.socket.write('before the reset');
    await rig.client.waitFor((b) => b.length >= 16);
    rig.backend.socket.resetAndDestroy();
    await withTimeout(rig.client.closed, 5000, 'the client connection to close');
    expect(rig.client.error).toBe('ECONNRESET');
    expect(rig.client.sawFin).toBe(false);
    const end = await theEnd(rig);
    expect(end).toMatchObject({ endedBy: 'server', how: 'reset', bytes: { clientToServer: 0, serverToClient: 16 } });
    expect(end.error).toMatch(/ECONNRESET/);
  });

  it("destroy('reason') ends both connections and reports how: shutdown, by the proxy, once", async () => {
    const rig = await open(path);
    rig.client.socket.write('hello');
    await rig.backend.waitFor((b) => b.length >= 5);
    rig.t.destroy('wstap is shutting down');
    // Both peers see their connection end (they allow half-open connections, so they stay open for writing).
    const gone = (p: Peer): boolean => p.sawFin || p.error !== undefined;
    await until(() => gone(rig.client) && gone(rig.backend), 'both peers to see the end of their connection', {
      seen: () => ({ client: [rig.client.sawFin, rig.client.error], backend: [rig.backend.sawFin, rig.backend.error] }),
    });
    expect(rig.proxyClient.destroyed && rig.proxyServer.destroyed).toBe(true);
    const end = await theEnd(rig);
    expect(end).toMatchObject({
      endedBy: 'proxy',
      how: 'shutdown',
      error: 'wstap is shutting down',
      bytes: { clientToServer: 5, serverToClient: 0 },
    });
    // A second destroy changes nothing.
    rig.t.destroy('again');
    // A real-time wait for a negative: no second report comes.
    await sleep(20);
    expect(rig.ends).toHaveLength(1);
  });

  it('backpressure: a backend that does not read holds the client back; once it reads, nothing is lost', async () => {
    const rig = await open(path);
    rig.backend.socket.pause();
    const payload = randomBytes(32 * 1024 * 1024);
    rig.client.socket.write(payload);
    // The tunnel stops reading from the client once the backend's side is full ...
    await until(() => rig.proxyClient.isPaused(), 'the tunnel to stop reading from the client', {
      seen: () => ({ buffered: rig.proxyServer.writableLength, clientLeft: rig.client.socket.writableLength }),
    });
    // ... and stays stopped: it keeps no more than a chunk or two, the rest waits at the client (a
    // real-time wait for a negative).
    await sleep(200);
    expect(rig.proxyClient.isPaused()).toBe(true);
    expect(rig.proxyServer.writableLength).toBeLessThan(1024 * 1024);
    expect(rig.client.socket.writableLength).toBeGreaterThan(0);
    expect(rig.backend.received().length).toBe(0);

    rig.backend.socket.resume();
    const got = await rig.backend.waitFor((b) => b.length >= payload.length, 15_000);
    expect(got.length).toBe(payload.length);
    expect(got.equals(payload)).toBe(true);
    rig.client.socket.end();
    rig.backend.socket.end();
    expect((await theEnd(rig)).bytes).toEqual({ clientToServer: payload.length, serverToClient: 0 });
  });
});
