/**
 * Faults, the backend: refused, reset or closed on the upgrade, silent, hung with a full
 * accept queue, dying mid-stream, answering with a malformed or oversize head. The client
 * gets a 502 (or the end of its connection) with a finding that names the cause; the proxy
 * keeps running and leaks no socket (stats() drains to 0/0).
 *
 * Real sockets on 127.0.0.1, ephemeral ports, no mocks. No timing assertions: waits are
 * bounded polls with generous limits.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { defer, runDeferred } from '../support/cleanup.js';
import { codes, exchange, expectDrained, expectHealthy, httpGet, logsWith, proxyFor, startBackend, type BackendUpgrade } from '../support/faults.js';
import { refusedPortToBind, switchingHead, upgradeHead } from '../support/helpers.js';
import { until, withTimeout } from '../support/wait.js';

afterEach(runDeferred);

// ---------------------------------------------------------------------------------------------
// 8 - 12. Backend faults
// ---------------------------------------------------------------------------------------------

describe('faults: backend', () => {
  it('8. a refused backend: a ws client sees a 502 whose body names ECONNREFUSED and the fix', async () => {
    // Refused now; the test starts the backend on it at the end (a port no other test is given).
    const port = await refusedPortToBind();
    const tp = await proxyFor(`http://127.0.0.1:${port}`);

    // A ws client sees the 502.
    const ws = new WebSocket(tp.wsUrl('/ws'));
    defer(() => ws.terminate());
    const status = await withTimeout(
      new Promise<number>((resolve, reject) => {
        ws.on('unexpected-response', (req, res) => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
        ws.on('open', () => reject(new Error('opened')));
        ws.on('error', () => {});
      }),
      5000,
      'the ws client to get an answer',
    );
    expect(status).toBe(502);
    const s1 = await tp.nextHandshake(1);
    expect(s1.outcome).toBe('failed');
    expect(codes(s1)).toContain('upstream-refused');

    // Its body, read raw.
    const res = await exchange(tp.port, upgradeHead('/ws'));
    expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    expect(res.body).toMatch(/ECONNREFUSED/);
    expect(res.body).toMatch(/Start the backend/);
    expect(res.body).toContain(`127.0.0.1:${port}`);

    await expectDrained(tp);

    // The backend comes up on that port: the same proxy now relays.
    await startBackend({}, port);
    await expectHealthy(tp);
  });

  // Guards the 502 of an ordinary GET: Node marks a request without a body destroyed as soon
  // as it has been read (IncomingMessage autoDestroy), and that must not be taken for a client
  // that went away: the GET gets its 502 and an 'http-error' line, not a hang and a debug
  // 'http-client-gone' line.
  it('8b. a refused backend: an ordinary HTTP GET gets a 502 naming ECONNREFUSED and an http-error line', async () => {
    // Refused now; the test starts the backend on it at the end (a port no other test is given).
    const port = await refusedPortToBind();
    const tp = await proxyFor(`http://127.0.0.1:${port}`);
    const httpRes = await httpGet(tp.port, '/health', 3000);
    expect(httpRes.status).toBe(502);
    expect(httpRes.body).toMatch(/ECONNREFUSED/);
    expect(httpRes.body).toMatch(/GET \/health/);
    expect(httpRes.body).toMatch(/Start the backend/);
    await until(() => logsWith(tp, 'http-error').length > 0, 'an http-error log line');
    const line = logsWith(tp, 'http-error')[0]!;
    expect((line['finding'] as { code: string }).code).toBe('upstream-refused');
    await expectDrained(tp);
    await startBackend({}, port);
    await expectHealthy(tp);
  });

  it.each([
    ['resets the connection', (u: BackendUpgrade) => u.socket.resetAndDestroy()],
    ['closes (FIN) without answering', (u: BackendUpgrade) => u.socket.end()],
  ])('9. a backend that %s on the upgrade: 502 with upstream-reset', async (_name, script) => {
    const backend = await startBackend({ '/bad': script });
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, upgradeHead('/bad'));
    expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    expect(res.body).toMatch(/closed the connection before answering/);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('failed');
    expect(codes(s)).toContain('upstream-reset');
    await expectHealthy(tp);
  });

  it('10. a backend that never answers: 502 with upstream-timeout (answer phase); the proxy closes the backend connection', async () => {
    const backend = await startBackend({ '/silent': () => {} });
    const tp = await proxyFor(backend.url, { upstreamTimeoutMs: 300 });
    const res = await exchange(tp.port, upgradeHead('/silent'));
    expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    expect(res.body).toMatch(/sent no answer in time/);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('failed');
    expect(codes(s)).toContain('upstream-timeout');
    const f = s.findings.find((x) => x.code === 'upstream-timeout')!;
    expect(f.message).toMatch(/accepted the connection but sent no answer/);
    expect(s.failure?.code).toBe('ETIMEDOUT');
    const u = await backend.upgradeOn('/silent');
    await withTimeout(u.closed, 5000, 'the backend connection to be closed by the proxy');
    await expectHealthy(tp);
  });

  it('10b. a backend that accepts no connection (hung, its accept queue full): HTTP and WebSocket both get a 502 with upstream-timeout (connect)', async () => {
    // A real backend process whose event loop is stuck: the kernel completes a connection or
    // two into its accept queue, then lets every further SYN go unanswered.
    // It blocks in the same callback that prints its port (a write to a pipe is synchronous on
    // Linux), so once the port is read it accepts nothing more.
    const hung = spawn(process.execPath, [
      '-e',
      "require('net').createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, function () { console.log(this.address().port); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); })",
    ]);
    defer(() => hung.kill('SIGKILL'));
    const port = Number(
      await withTimeout(new Promise<string>((r) => hung.stdout.once('data', (d: Buffer) => r(d.toString().trim()))), 5000, 'the hung backend'),
    );
    const fillers: net.Socket[] = [];
    let connected = 0;
    for (let i = 0; i < 4; i++) {
      const f = net.connect(port, '127.0.0.1', () => connected++);
      f.on('error', () => {});
      fillers.push(f);
      defer(() => f.destroy());
    }
    // A backlog of 1 holds two completed connections (Linux); a filler's connect comes once the
    // backend's kernel has taken its handshake's last ACK, so two connects mean a full queue.
    await until(() => connected >= 2, 'two filler connections in the accept queue of the hung backend', { seen: () => `${connected} connected` });
    const tp = await proxyFor(`http://127.0.0.1:${port}`, { upstreamTimeoutMs: 400 });

    const httpRes = await httpGet(tp.port, '/api/slow', 5000);
    expect(httpRes.status).toBe(502);
    expect(httpRes.body).toMatch(/GET \/api\/slow/);
    await until(() => logsWith(tp, 'http-error').length > 0, 'an http-error log line');
    expect((logsWith(tp, 'http-error')[0]!['finding'] as { code: string }).code).toBe('upstream-timeout');

    const res = await exchange(tp.port, upgradeHead('/ws'));
    expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    const s = await tp.nextHandshake(1);
    expect(codes(s)).toContain('upstream-timeout');
    expect(s.findings.find((x) => x.code === 'upstream-timeout')!.message).not.toMatch(/accepted the connection/);
  });

  it.each([
    ['destroys its socket', (s: net.Socket) => s.destroy()],
    ['resets its socket', (s: net.Socket) => s.resetAndDestroy()],
  ])('11. a backend that %s mid-stream: the client connection ends, endedBy server', async (_name, kill) => {
    const backend = await startBackend({
      '/die': (u) => {
        u.socket.write(switchingHead(u.key));
        u.socket.once('data', () => kill(u.socket));
      },
    });
    const tp = await proxyFor(backend.url);
    const ws = new WebSocket(tp.wsUrl('/die'));
    defer(() => ws.terminate());
    const closeCode = await withTimeout(
      new Promise<number>((resolve, reject) => {
        ws.on('open', () => ws.send('last words'));
        ws.on('close', (code) => resolve(code));
        ws.on('error', () => {});
        ws.on('unexpected-response', () => reject(new Error('no 101')));
      }),
      5000,
      'the client connection to close',
    );
    expect(closeCode).toBe(1006);
    const { end } = await tp.nextEnd(1);
    expect(end.endedBy).toBe('server');
    await expectHealthy(tp);
  });

  it('12a. a backend answer with a malformed status line: 502, proxy keeps running', async () => {
    const backend = await startBackend({ '/bad-status': (u) => u.socket.write('HTTP/1.1 abc\r\n\r\n') });
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, upgradeHead('/bad-status'));
    expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    expect(res.body).toMatch(/not valid HTTP|malformed status line/);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('failed');
    expect(s.failure?.code).toBe('EBADRESPONSE');
    const u = await backend.upgradeOn('/bad-status');
    await withTimeout(u.closed, 5000, 'the backend connection to be closed by the proxy');
    await expectHealthy(tp);
  });

  it('12b. a backend response head that grows past 16 KiB: 502, proxy keeps running', async () => {
    const backend = await startBackend({
      '/big-head': (u) => u.socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Big: ${'y'.repeat(20 * 1024)}`),
    });
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, upgradeHead('/big-head'));
    expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    expect(res.body).toMatch(/16384/);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('failed');
    await expectHealthy(tp);
  });

  // Guards the size limit on a complete response head: a 101 head over maxHeaderSize that
  // arrives whole in one read gets a 502 like one that grows past it, and is never tunnelled.
  it('12c. a complete backend 101 head over 16 KiB (one write): 502', async () => {
    const backend = await startBackend({
      '/big-101': (u) => u.socket.write(switchingHead(u.key, [`X-Big: ${'y'.repeat(20 * 1024)}`])),
    });
    const tp = await proxyFor(backend.url);
    const res = await exchange(tp.port, upgradeHead('/big-101'));
    expect(res.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    await expectHealthy(tp);
  });
});
