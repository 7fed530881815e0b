/**
 * wstap in front of a backend that speaks TLS (--target https://..., a staging API or a
 * local backend with a self-signed certificate): the client talks plain ws:// and http://
 * to wstap, wstap talks TLS to the backend. Without --insecure a self-signed certificate
 * is refused with upstream-tls and a hint; with it, WebSocket and HTTP pass, bytes intact.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { proxyTo, tapSink } from '../support/tap.js';
import { startTlsEchoBackend } from '../support/tls-backend.js';
import { until } from '../support/wait.js';
import { wsClient } from '../support/ws-client.js';

afterEach(runDeferred);

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text() };
}

describe('a TLS backend (--target https://)', () => {
  it('with --insecure: a WebSocket session (permessage-deflate) and an HTTP GET pass through, payloads intact and decoded', async () => {
    const backend = await startTlsEchoBackend();
    defer(() => backend.close());
    const tap = tapSink();
    const { msgs } = tap;
    const tp = await proxyTo(`https://127.0.0.1:${backend.port}`, tap, { insecure: true });

    expect(await get(`${tp.url}/health`)).toEqual({ status: 200, body: 'ok' });

    const ws = wsClient(tp.wsUrl('/ws'), { perMessageDeflate: true });
    const got: Buffer[] = [];
    ws.on('message', (d) => got.push(d as Buffer));
    await once(ws, 'open');
    const blob = randomBytes(100_000);
    ws.send('hello over TLS');
    ws.send(blob);
    await until(() => got.length >= 2, 'both echoes', { seen: () => `${got.length} echoes` });
    expect(got[0]!.toString()).toBe('hello over TLS');
    expect(got[1]!.equals(blob)).toBe(true);
    ws.close(1000, 'done');
    await once(ws, 'close');

    const { session, end } = await tp.nextEnd();
    expect(session.outcome).toBe('tunnel');
    expect(session.upstream?.chosenExtensions).toMatch(/^permessage-deflate/);
    expect(end.ws?.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'done', clean: true });
    const server = msgs.filter((m) => m.from === 'server' && (m.kind === 'text' || m.kind === 'binary'));
    expect(server.map((m) => m.kind)).toEqual(['text', 'binary']);
    expect(server[1]!.data.equals(blob)).toBe(true);
  });

  it('without --insecure: the self-signed certificate is refused; the upgrade and the HTTP request get a 502 with upstream-tls', async () => {
    const backend = await startTlsEchoBackend();
    defer(() => backend.close());
    const tp = await openTestProxy({ target: `https://127.0.0.1:${backend.port}` });

    const ws = wsClient(tp.wsUrl('/ws'));
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    expect(res.statusCode).toBe(502);
    res.resume();
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('failed');
    const f = s.findings.find((x) => x.code === 'upstream-tls');
    expect(f?.hint).toMatch(/--insecure/);
    expect(f?.hint).toMatch(/NODE_EXTRA_CA_CERTS/);
    expect(f?.message).toMatch(
      /certificate at 127\.0\.0\.1:\d+ is not trusted \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN): self[- ]signed certificate\)/,
    );

    const http = await get(`${tp.url}/health`);
    expect(http.status).toBe(502);
    expect(http.body).toMatch(/certificate/i);
  });

  it('a backend that accepts TCP but never completes the TLS handshake: HTTP and the upgrade get a 502 with upstream-timeout', async () => {
    // A plain TCP server: it accepts, reads the ClientHello and says nothing.
    const silent = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.resume();
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => silent.close(() => r())));
    const port = (silent.address() as net.AddressInfo).port;
    const tp = await openTestProxy({ target: `https://127.0.0.1:${port}`, upstreamTimeoutMs: 300 });

    const http = await get(`${tp.url}/health`);
    expect(http.status).toBe(502);
    expect(tp.logs.find((l) => l['event'] === 'http-error')?.['finding']).toMatchObject({ code: 'upstream-timeout' });

    const ws = wsClient(tp.wsUrl('/ws'));
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, import('node:http').IncomingMessage];
    expect(res.statusCode).toBe(502);
    res.resume();
    expect((await tp.nextHandshake()).findings.map((f) => f.code)).toContain('upstream-timeout');
  });
});
