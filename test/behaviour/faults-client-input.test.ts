/**
 * Faults, client input: "bad input gets a clear error and a log line, never a crash and
 * never lost data". Malformed ordinary HTTP and upgrade requests, oversize heads, TLS on the
 * plain port, half a head. After every fault the proxy still relays a normal WebSocket
 * session and leaks no socket (stats() drains to 0/0).
 *
 * Real sockets on 127.0.0.1, ephemeral ports, no mocks. No timing assertions: waits are
 * bounded polls with generous limits.
 */
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { defer, runDeferred } from '../support/cleanup.js';
import { WARN, codes, connectRaw, exchange, expectDrained, expectHealthy, logsWith, proxyFor, startBackend } from '../support/faults.js';
import { KEY, upgradeHead } from '../support/helpers.js';
import { sleep, until, withTimeout } from '../support/wait.js';

afterEach(runDeferred);

// ---------------------------------------------------------------------------------------------
// 1. Malformed ordinary HTTP
// ---------------------------------------------------------------------------------------------

describe('faults: client input', () => {
  it.each([
    ['a header line without a colon', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'],
    ['garbage bytes', '\x00\x01hello\r\n\r\n'],
  ])('1. malformed ordinary HTTP (%s) gets a 400 and a client-error log line', async (_name, bytes) => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, Buffer.from(bytes, 'latin1'));
    expect(res.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(res.body).toMatch(/malformed HTTP request/);
    await until(() => logsWith(tp, 'client-error').length > 0, 'a client-error log line');
    const line = logsWith(tp, 'client-error')[0]!;
    expect(line['level']).toBe(WARN);
    expect(String(line['msg'])).toMatch(/malformed HTTP request/);
    expect(backend.tcpConnections).toHaveLength(0);
    await expectHealthy(tp);
  });

  // -------------------------------------------------------------------------------------------
  // 2. Malformed upgrade requests
  // -------------------------------------------------------------------------------------------

  const up = (lines: string[], eol = '\r\n'): string => [...lines, '', ''].join(eol);
  const base = ['Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${KEY}`, 'Sec-WebSocket-Version: 13'];
  it.each([
    ['obs-fold line', up(['GET /ws HTTP/1.1', ...base, 'X-Folded: a', ' b']), /obsolete line folding/],
    ['bare LF line endings', up(['GET /ws HTTP/1.1', ...base], '\n'), /bare LF/],
    ['a space before the colon of a header name', up(['GET /ws HTTP/1.1', ...base, 'X-Test : 1']), /invalid header name/],
    [
      'a missing Sec-WebSocket-Key',
      up(['GET /ws HTTP/1.1', ...base.filter((l) => !l.startsWith('Sec-WebSocket-Key'))]),
      /Sec-WebSocket-Key is missing/,
    ],
    [
      'Sec-WebSocket-Version 8',
      up(['GET /ws HTTP/1.1', ...base.filter((l) => !l.startsWith('Sec-WebSocket-Version')), 'Sec-WebSocket-Version: 8']),
      /Sec-WebSocket-Version is 8/,
    ],
    ['the POST method', up(['POST /ws HTTP/1.1', ...base]), /method is POST/],
    ['HTTP/1.0', up(['GET /ws HTTP/1.0', ...base]), /HTTP\/1\.0/],
  ])('2. a malformed upgrade (%s) gets a 400 naming the problem, outcome invalid, no backend connection', async (_name, head, problem) => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, Buffer.from(head, 'latin1'));
    expect(res.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(res.head).toMatch(/\r\nX-Wstap: rejected-invalid-upgrade/);
    expect(res.body).toMatch(problem);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('invalid');
    expect(codes(s)).toContain('handshake-invalid');
    expect(s.findings.find((f) => f.code === 'handshake-invalid')!.message).toMatch(problem);
    // The handshake is logged too.
    expect(logsWith(tp, 'handshake').some((l) => l['outcome'] === 'invalid')).toBe(true);
    expect(backend.tcpConnections).toHaveLength(0);
    await expectHealthy(tp);
  });

  // -------------------------------------------------------------------------------------------
  // 3. Oversize request heads
  // -------------------------------------------------------------------------------------------

  const big = 'x'.repeat(20 * 1024);

  it('3a. an upgrade head that grows past 16 KiB before its end gets a 431 and a log line', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Big: ${big}`);
    expect(res.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(res.body).toMatch(/^wstap: the request head is larger than 16384 bytes/);
    await until(() => logsWith(tp, 'client-error').length > 0, 'a client-error log line');
    expect(logsWith(tp, 'client-error')[0]!['level']).toBe(WARN);
    expect(backend.tcpConnections).toHaveLength(0);
    await expectHealthy(tp);
  });

  it('3b. an ordinary request with a complete head over 16 KiB gets a 431 and a log line', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${big}\r\n\r\n`);
    expect(res.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(res.body).toMatch(/^wstap: the request head is larger than 16384 bytes/);
    await until(() => logsWith(tp, 'client-error').length > 0, 'a client-error log line');
    expect(logsWith(tp, 'client-error')[0]!['level']).toBe(WARN);
    expect(backend.tcpConnections).toHaveLength(0);
    await expectHealthy(tp);
  });

  it('3c. an ordinary request head that grows past 16 KiB before its end gets a 431', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${big}`);
    expect(res.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(res.body).toMatch(/^wstap: the request head is larger than 16384 bytes/);
    await until(() => logsWith(tp, 'client-error').length > 0, 'a client-error log line');
    await expectHealthy(tp);
  });

  // Guards the size limit on a complete head: an upgrade head over maxHeaderSize that arrives
  // whole in one read gets the 431 as well, and is never parsed and relayed to the backend.
  it('3d. an upgrade with a complete head over 16 KiB (one write) gets a 431, never reaches the backend', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, upgradeHead('/echo', [`X-Big: ${big}`]));
    expect(res.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    // wstap's own 431, not the backend's (Node's HTTP server answers 431 too once the head reached it).
    expect(res.body).toMatch(/^wstap: the request head is larger than 16384 bytes/);
    expect(backend.tcpConnections.length, 'connections the oversize head opened to the backend').toBe(0);
    await until(() => logsWith(tp, 'client-error').length > 0, 'a client-error log line');
    await expectHealthy(tp);
  });

  // -------------------------------------------------------------------------------------------
  // 4. TLS on the plain port
  // -------------------------------------------------------------------------------------------

  it('4. a TLS ClientHello on the plain port is closed with a warn log line that mentions TLS', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const socket = tls.connect({ host: '127.0.0.1', port: tp.port, rejectUnauthorized: false, servername: 'localhost' });
    defer(() => socket.destroy());
    const outcome = await withTimeout(
      new Promise<string>((resolve) => {
        socket.once('secureConnect', () => resolve('secureConnect'));
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
        socket.once('close', () => resolve('close'));
      }),
      5000,
      'the TLS client to be dropped',
    );
    expect(outcome).not.toBe('secureConnect');
    await until(() => tp.logs.some((l) => l['event'] === 'client-error' && l['level'] === WARN), 'a warn client-error line');
    const line = tp.logs.find((l) => l['event'] === 'client-error' && l['level'] === WARN)!;
    expect(String(line['msg'])).toMatch(/TLS/);
    expect(backend.tcpConnections).toHaveLength(0);
    await expectHealthy(tp);
  });

  // -------------------------------------------------------------------------------------------
  // 5. Half a head, then a reset
  // -------------------------------------------------------------------------------------------

  it('5. a client that sends half a head and resets leaves nothing behind', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    for (const partial of ['GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr', 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n', 'G']) {
      const socket = await connectRaw(tp.port);
      socket.write(partial);
      await until(() => tp.proxy.stats().clientSockets === 1, 'the proxy to hold the client');
      // Let the bytes arrive before the reset: a real-time yield, kept because bytes then a reset is
      // what this test is about, and the proxy's read of a partial head shows nowhere to wait on.
      await sleep(20);
      socket.resetAndDestroy();
      await expectDrained(tp);
    }
    expect(backend.tcpConnections).toHaveLength(0);
    await expectHealthy(tp);
  });

  // Guards the end of a client that closes (FIN) before its head is complete (as 13a-fin does
  // for a thousand): the proxy lets go of the socket at once, not after headTimeoutMs.
  it('5b. a client that sends half a head and closes (FIN) leaves nothing behind', async () => {
    const backend = await startBackend();
    const tp = await proxyFor(backend.url);
    const socket = await connectRaw(tp.port);
    socket.write('GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr');
    await until(() => tp.proxy.stats().clientSockets === 1, 'the proxy to hold the client');
    socket.end();
    await withTimeout(new Promise<void>((r) => socket.once('close', () => r())), 2000, 'the proxy to close the connection');
    await expectDrained(tp, 2000);
    await expectHealthy(tp);
  });
});
