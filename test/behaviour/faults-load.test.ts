/**
 * Faults under load and at shutdown: a thousand connections dropped at once (reset or FIN),
 * 200 concurrent sessions, and proxy.close() with clients still connected. The proxy keeps
 * running, closes what it must, and stats() drains to 0/0.
 *
 * Real sockets on 127.0.0.1, ephemeral ports, no mocks. No timing assertions: waits are
 * bounded polls with generous limits.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { defer, runDeferred } from '../support/cleanup.js';
import { connectRaw, expectDrained, expectHealthy, proxyFor, startBackend } from '../support/faults.js';
import { upgradeHead } from '../support/helpers.js';
import { until, withTimeout } from '../support/wait.js';

afterEach(runDeferred);

// ---------------------------------------------------------------------------------------------
// 13. Many connections
// ---------------------------------------------------------------------------------------------

describe('faults: load', () => {
  /**
   * Opens 1000 connections (in batches, all kept open), half with a partial upgrade head and a
   * quarter with a complete upgrade that the backend holds, then drops them all with `drop`.
   */
  async function thousandDropped(drop: (s: net.Socket) => void, drainMs: number): Promise<void> {
    const backend = await startBackend({ '/hold': () => {} });
    const tp = await proxyFor(backend.url);
    const N = 1000;
    const sockets: net.Socket[] = [];
    defer(() => {
      for (const s of sockets) s.destroy();
    });
    // In batches of 100: a burst of 1000 SYNs could overflow the listen backlog and wait for SYN retries.
    for (let i = 0; i < N; i += 100) {
      const batch: Promise<void>[] = [];
      for (let j = i; j < i + 100; j++) {
        const s = net.connect({ port: tp.port, host: '127.0.0.1' });
        s.on('error', () => {});
        sockets.push(s);
        batch.push(
          new Promise<void>((resolve, reject) => {
            s.once('connect', () => {
              if (j % 2 === 0) s.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConn');
              else if (j % 4 === 1) s.write(upgradeHead('/hold'));
              resolve();
            });
            s.once('error', reject);
          }),
        );
      }
      await withTimeout(Promise.all(batch), 10_000, `connections ${i}..${i + 99}`);
    }
    await until(() => tp.proxy.stats().clientSockets === N, `${N} client sockets at the proxy`, 10_000);
    await until(() => backend.upgrades.length === N / 4, `${N / 4} held upgrades at the backend`, 10_000);
    expect(tp.proxy.stats().liveSessions).toBe(N / 4);
    for (const s of sockets) drop(s);
    await expectDrained(tp, drainMs);
    await until(() => backend.upgrades.every((u) => u.isClosed), 'every held backend connection to be closed', 10_000);
    await until(() => tp.handshakes.length === N / 4, 'a handshake event for every held upgrade');
    expect(tp.handshakes.every((h) => h.outcome === 'aborted')).toBe(true);
    await expectHealthy(tp);
  }

  it('13a. a thousand connections opened and reset at once: proxy keeps running, stats drain', async () => {
    await thousandDropped((s) => s.resetAndDestroy(), 5000);
  }, 30_000);

  // Guards the end of clients that close (FIN) with no or a partial head: the listening sockets
  // allow half-open connections, so the proxy must act on the FIN itself; otherwise the 750
  // sockets without a complete head would stay in stats().clientSockets until headTimeoutMs (30 s).
  it('13a-fin. a thousand connections opened and closed (FIN) at once: stats drain within a few seconds', async () => {
    await thousandDropped((s) => s.destroy(), 3000);
  }, 30_000);

  it('13b. 200 concurrent WebSocket sessions open and close; stats drain', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const N = 200;
    const clients: WebSocket[] = [];
    defer(() => {
      for (const c of clients) c.terminate();
    });
    const opened = Array.from({ length: N }, (_, i) => {
      const ws = new WebSocket(tp.wsUrl(`/echo?n=${i}`));
      clients.push(ws);
      return new Promise<void>((resolve, reject) => {
        ws.on('open', () => ws.send(`m${i}`));
        ws.on('message', (d) => (d.toString() === `m${i}` ? resolve() : reject(new Error(`client ${i} got ${d.toString()}`))));
        ws.on('error', reject);
      });
    });
    await withTimeout(Promise.all(opened), 15_000, `${N} round trips`);
    expect(tp.proxy.stats().liveSessions).toBe(N);
    const closed = clients.map((ws) => new Promise<number>((r) => ws.once('close', (code) => r(code))));
    for (const ws of clients) ws.close(1000);
    const closeCodes = await withTimeout(Promise.all(closed), 10_000, 'all clients to close');
    expect(closeCodes.every((c) => c === 1000)).toBe(true);
    await expectDrained(tp, 10_000);
    await until(() => tp.ends.length === N, `${N} session ends`);
    expect(tp.handshakes.filter((h) => h.outcome === 'tunnel')).toHaveLength(N);
    await expectHealthy(tp);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------
// 15. Shutdown with clients still connected
// ---------------------------------------------------------------------------------------------

describe('faults: shutdown', () => {
  it('15. proxy.close(graceMs) with an open tunnel and an idle connection finishes and closes both', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const ws = new WebSocket(tp.wsUrl('/echo'));
    defer(() => ws.terminate());
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      5000,
      'the ws client to open',
    );
    const wsClosed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    const idle = await connectRaw(tp.port);
    const idleClosed = new Promise<void>((r) => {
      idle.once('end', () => r());
      idle.once('close', () => r());
    });
    await withTimeout(tp.proxy.close(200), 3000, 'proxy.close(200) to finish');
    await withTimeout(Promise.all([wsClosed, idleClosed]), 2000, 'the clients to be closed');
    const { end } = await tp.nextEnd(1);
    expect(end.endedBy).toBe('proxy');
    expect(end.how).toBe('shutdown');
  });
});
