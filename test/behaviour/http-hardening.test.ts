/**
 * The HTTP path under hostile and careless clients (issue 12, classes 2, 4, 5 and 6): every
 * request head is timed, not only a connection's first (408 and a line); a request body that
 * stops coming is a 408; a request the client gives up on closes its backend request (499,
 * counted); a 101 to a request that did not ask to upgrade gets the client a 502 that says so;
 * HTTP/1.0 with Transfer-Encoding is a 400; a malformed request pipelined behind a valid one is
 * answered in order; CONNECT is a 405. Real sockets on 127.0.0.1: raw clients, http backends.
 */
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defer, runDeferred } from '../support/cleanup.js';
import { openRawBackend, openRawClient, openTestProxy, readEnded, socketClosed, type RawConnection, type TestProxy } from '../support/helpers.js';
import { sleep, until, withTimeout } from '../support/wait.js';

afterEach(runDeferred);

const HEAD_MS = 300;

/** An http backend on 127.0.0.1 that answers every request with its path (after delayMs), closed after the test. */
async function httpBackend(delayMs = 0): Promise<{ url: string; requests: string[]; open: () => number }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    // Answers once the whole request is in, like most handlers.
    req.once('end', () => setTimeout(() => res.end(`you asked for ${req.url}`), delayMs));
    req.resume();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  defer(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, requests, open: () => sockets.size };
}

const proxyFor = (target: string): Promise<TestProxy> => openTestProxy({ target, headTimeoutMs: HEAD_MS });

/** The HTTP responses in the bytes a raw client received: status codes in order. */
const statuses = (c: RawConnection): number[] =>
  [
    ...c
      .received()
      .toString('latin1')
      .matchAll(/HTTP\/1\.1 (\d{3}) /g),
  ].map((m) => Number(m[1]));

/** Writes one byte every `everyMs` until the socket closes (a slowloris head). */
function dribble(c: RawConnection, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (c.socket.destroyed || i >= text.length) return clearInterval(timer);
    c.socket.write(text[i++]!);
  }, everyMs);
  defer(() => clearInterval(timer));
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

describe('every request head is timed', () => {
  it('a keep-alive connection whose second head comes a byte at a time gets a 408 and a line, then closes', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const c = await openRawClient(tp.port);
    c.socket.write('GET /first HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((b) => b.includes('you asked for /first'));
    const started = Date.now();
    dribble(c, 'GET /second HTTP/1.1\r\nHost: x\r\nX-Slow: yes\r\n\r\n', 100);
    await readEnded(c.socket);
    const tookMs = Date.now() - started;
    expect(statuses(c)).toEqual([200, 408]);
    expect(c.received().toString()).toContain(`the request head was not complete within ${HEAD_MS} ms`);
    expect(backend.requests).toEqual(['GET /first']);
    // Bounded by the head timeout and the check's period (a quarter of it), not by the dribble.
    expect(tookMs).toBeLessThan(HEAD_MS * 10);
    const line = await until(() => tp.logs.find((l) => l['event'] === 'client-error' && l['status'] === 408), 'the 408 line');
    expect(String(line['msg'])).toMatch(/request head from 127\.0\.0\.1:\d+ not complete within 300 ms → 408/);
  });

  it('a first head that never completes gets a 408 too; a connection that sends nothing is closed without a word', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const partial = await openRawClient(tp.port);
    partial.socket.write('GET /ws HTTP/1.1\r\nHost: x\r\n');
    const silent = await openRawClient(tp.port);
    await Promise.all([readEnded(partial.socket), readEnded(silent.socket)]);
    expect(statuses(partial)).toEqual([408]);
    expect(silent.received().length).toBe(0);
    expect(backend.requests).toEqual([]);
  });

  it('a request body that stops coming is a 408 (the backend saw the request start), then the connection closes', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const c = await openRawClient(tp.port);
    c.socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
    await readEnded(c.socket);
    expect(statuses(c)).toEqual([408]);
    expect(c.received().toString()).toContain('the request body stopped coming');
    const line = await until(() => tp.logs.find((l) => l['error'] === 'BODY_TIMEOUT'), 'the body-timeout line');
    expect(String(line['msg'])).toMatch(/POST \/upload from .*: no request body bytes for 300 ms → 408/);
  });

  it('a slow but steady body is not cut: the timer is about idleness, not the length of the upload', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const c = await openRawClient(tp.port);
    c.socket.write('POST /steady HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n');
    dribble(c, '0123456789ab', 100); // 1.2 s in all, never 300 ms idle
    await c.waitFor((b) => b.includes('you asked for /steady'), 5000);
    expect(statuses(c)).toEqual([200]);
  });

  it('fifty slowloris connections release their sockets: stats and the open file descriptors return to where they were', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const before = openFds();
    const clients: RawConnection[] = [];
    for (let i = 0; i < 50; i++) {
      const c = await openRawClient(tp.port);
      c.socket.write(`GET /k${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      clients.push(c);
    }
    await Promise.all(clients.map((c) => c.waitFor((b) => b.includes('you asked for'))));
    for (const c of clients) dribble(c, 'GET /again HTTP/1.1\r\nHost: x\r\n\r\n', 150);
    const during = openFds();
    await Promise.all(clients.map((c) => readEnded(c.socket)));
    await until(() => tp.proxy.stats().clientSockets === 0, 'the proxy to let go of every client socket', { seen: () => tp.proxy.stats() });
    await until(() => backend.open() === 0 || undefined, 'the backend sockets to close (keep-alive)', { timeoutMs: 10_000, seen: backend.open });
    expect(clients.every((c) => statuses(c).join() === '200,408')).toBe(true);
    // The attacker's own ends are its business: close them, then count what is left.
    for (const c of clients) c.socket.destroy();
    await withTimeout(Promise.all(clients.map((c) => socketClosed(c.socket))), 5000, 'every client socket to close');
    const after = openFds();
    // Both ends of each client connection (and the backend's) were open during; none is left.
    expect(during - before).toBeGreaterThanOrEqual(100);
    expect(after - before).toBeLessThanOrEqual(2);
  });
});

describe('a request the client gives up on', () => {
  it('closes its backend request (50 of them: 50 backend sockets closed), is logged as 499 and counted', async () => {
    const backend = await httpBackend(60_000); // never answers within the test
    const tp = await proxyFor(backend.url);
    for (let i = 0; i < 50; i++) {
      const c = await openRawClient(tp.port);
      c.socket.write(`GET /slow${i} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await until(() => backend.requests.length > i, `the backend to get request ${i + 1}`);
      c.socket.destroy();
    }
    await until(() => tp.proxy.stats().httpAbandoned === 50, 'fifty abandoned requests counted', { seen: () => tp.proxy.stats() });
    await until(() => backend.open() === 0 || undefined, 'every backend socket to close', { seen: backend.open });
    const lines = tp.logs.filter((l) => l['event'] === 'http-abandoned');
    expect(lines).toHaveLength(50);
    expect(lines[0]).toMatchObject({ method: 'GET', path: '/slow0', status: 499, midResponse: false });
    expect(String(lines[0]!['msg'])).toMatch(
      /GET \/slow0: the client went away before the backend answered after \d+ ms \(499\); the backend request was closed/,
    );
  });

  it('a request that completed is not counted', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const c = await openRawClient(tp.port);
    c.socket.write('GET /quick HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.waitFor((b) => b.includes('you asked for /quick'));
    c.socket.destroy();
    // An abandoned request would be counted when the proxy sees its client go: wait for that ...
    await until(() => tp.proxy.stats().clientSockets === 0, 'the proxy to see the client go', { seen: () => tp.proxy.stats() });
    // ... and a real-time margin beyond it, for a count that would come late (a negative).
    await sleep(100);
    expect(tp.proxy.stats().httpAbandoned).toBe(0);
  });
});

describe('a 101 to a request that did not ask to upgrade', () => {
  for (const [what, extra] of [
    ['a plain GET', ''],
    ['Upgrade: h2c without Connection: Upgrade', 'Upgrade: h2c\r\n'],
  ] as const) {
    it(`${what}: the client gets a 502 that says why, and an http-error line`, async () => {
      const backend = await openRawBackend((conn) => {
        void conn
          .waitFor((b) => b.includes('\r\n\r\n'))
          .then(() => conn.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'));
      });
      const tp = await proxyFor(backend.url);
      const c = await openRawClient(tp.port);
      c.socket.write(`GET /page HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
      await c.waitFor((b) => b.includes('\r\n\r\n') && b.includes('upgrade'), 5000);
      expect(statuses(c)).toEqual([502]);
      expect(c.received().toString()).toContain('the backend answered 101 Switching Protocols to a request that did not ask to upgrade');
      const line = await until(() => tp.logs.find((l) => l['event'] === 'http-error'), 'the http-error line');
      expect(line).toMatchObject({ method: 'GET', path: '/page', error: 'UNREQUESTED_UPGRADE' });
    });
  }
});

describe('framing the proxy must not guess at', () => {
  it('HTTP/1.0 with Transfer-Encoding: 400, nothing reaches the backend, the connection closes', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const c = await openRawClient(tp.port);
    c.socket.write('POST /x HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    await readEnded(c.socket);
    expect(c.received().toString()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(c.received().toString()).toContain('RFC 9112 6.1');
    expect(backend.requests).toEqual([]);
  });

  it('a malformed request pipelined behind a valid one is answered after it: the 200 first, then the 400', async () => {
    const backend = await httpBackend(150);
    const tp = await proxyFor(backend.url);
    const c = await openRawClient(tp.port);
    c.socket.write('GET /valid HTTP/1.1\r\nHost: x\r\n\r\nNOT A REQUEST\r\n\r\n');
    await readEnded(c.socket);
    expect(statuses(c)).toEqual([200, 400]);
    expect(c.received().toString().indexOf('you asked for /valid')).toBeLessThan(c.received().toString().indexOf('400 Bad Request'));
    expect(backend.requests).toEqual(['GET /valid']);
  });

  it('CONNECT gets a 405 with Allow, not a silent close', async () => {
    const backend = await httpBackend();
    const tp = await proxyFor(backend.url);
    const c = await openRawClient(tp.port);
    c.socket.write('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    await readEnded(c.socket);
    expect(c.received().toString()).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(c.received().toString()).toMatch(/\r\nAllow: GET, /);
    expect(backend.requests).toEqual([]);
  });
});
