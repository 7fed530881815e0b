/**
 * One test per finding code, each produced by a real request through a real proxy
 * to a real (or really absent) backend.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { FindingCode } from '../../src/session/finding.js';
import type { Session } from '../../src/session/session.js';
import { demoBackend } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import {
  fakeJwt,
  hasHead,
  openRawBackend,
  openTestProxy,
  rawClient,
  refusedPort,
  switchingHead,
  upgradeHead,
  type TestProxy,
} from '../support/helpers.js';

afterEach(runDeferred);

const GOOD = 'http://localhost:3000';

async function demoProxy(opts: { allowOrigins?: string[]; normalizeOrigin?: boolean } = {}): Promise<TestProxy> {
  const backend = await demoBackend();
  return openTestProxy({ target: backend.url, ...opts });
}

/** Opens a ws client and resolves with what it saw (open+close code, or the HTTP status). */
function connect(url: string, headers: Record<string, string | string[]> = {}): Promise<{ status?: number; closeCode?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    let result: { status?: number; closeCode?: number } = {};
    ws.on('unexpected-response', (_q, res) => {
      result = { status: res.statusCode };
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => {});
    // Held open briefly, so a backend's immediate close (1008) arrives first.
    ws.on('open', () => setTimeout(() => ws.close(1000), 100));
    ws.on('close', (code) => {
      if (result.status === undefined) result.closeCode = code;
      resolve(result);
    });
  });
}

const codes = (s: Session): FindingCode[] => s.findings.map((f) => f.code);

describe('findings', () => {
  it('origin-duplicate: two Origin lines, identical, forwarded as sent', async () => {
    const tp = await demoProxy();
    const seen = await connect(tp.wsUrl(), { Origin: [GOOD, GOOD], Authorization: `Bearer ${fakeJwt(60)}` });
    expect(seen.status).toBe(400); // the demo backend refuses them, like Python websockets
    const s = await tp.nextHandshake();
    const f = s.findings.find((x) => x.code === 'origin-duplicate')!;
    expect(f.message).toContain('identical');
    expect(f.message).toContain('Forwarded as sent');
    expect(f.severity).toBe('warn');
  });

  it('origin-duplicate with --normalize-origin: the backend accepts, the finding says normalised', async () => {
    const tp = await demoProxy({ normalizeOrigin: true });
    const seen = await connect(tp.wsUrl(), { Origin: [GOOD, 'http://other:1'], Authorization: `Bearer ${fakeJwt(60)}` });
    expect(seen.status).toBeUndefined();
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('tunnel');
    expect(s.originNormalized).toBe(true);
    const f = s.findings.find((x) => x.code === 'origin-duplicate')!;
    expect(f.message).toContain('different');
    expect(f.message).toContain('Normalised');
  });

  it('origin-disallowed: names the exact origin to add', async () => {
    const tp = await demoProxy({ allowOrigins: ['http://localhost:3000', 'http://127.0.0.1:*'] });
    await connect(tp.wsUrl(), { Origin: 'http://frontend:3000', Authorization: `Bearer ${fakeJwt(60)}` });
    const s = await tp.nextHandshake();
    expect(codes(s)).toEqual(['origin-disallowed', 'upgrade-rejected']);
    const f = s.findings[0]!;
    expect(f.severity).toBe('warn');
    expect(f.hint).toContain('Add "http://frontend:3000"');
    expect(s.upstream?.bodyExcerpt).toContain('Origin not allowed');
  });

  it('origin-disallowed on a 101: the backend accepted an Origin the expected policy does not list; a warning, not an error', async () => {
    const tp = await demoProxy({ allowOrigins: ['http://127.0.0.1:3000'] });
    await connect(tp.wsUrl(), { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(60)}` });
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('tunnel');
    const f = s.findings.find((x) => x.code === 'origin-disallowed')!;
    expect(f).toMatchObject({
      severity: 'warn',
      message:
        'The backend accepted the Origin "http://localhost:3000", which your expected policy (--allow-origin http://127.0.0.1:3000) does not list.',
    });
    expect(f.hint).toMatch(/^Not an error of the backend/);
    const line = tp.logs.find((l) => l['event'] === 'handshake')!;
    expect(line['level']).toBe(40);
  });

  it('origin-missing: a client without Origin', async () => {
    const tp = await demoProxy();
    await connect(tp.wsUrl(), { Authorization: `Bearer ${fakeJwt(60)}` });
    const s = await tp.nextHandshake();
    expect(codes(s)).toEqual(['origin-missing']);
    expect(s.findings[0]!.severity).toBe('info');
  });

  it('auth-missing: no credential anywhere; the backend then closes with 1008', async () => {
    const tp = await demoProxy();
    const seen = await connect(tp.wsUrl(), { Origin: GOOD });
    expect(seen.closeCode).toBe(1008);
    const s = await tp.nextHandshake();
    const { end } = await tp.nextEnd();
    // The handshake finding comes with the session; the close finding with the session's end.
    expect(codes(s)).toEqual(['auth-missing']);
    expect(end.findings.map((f) => f.code)).toEqual(['close-policy']);
  });

  it('auth-missing is not raised for a cookie, a query token or a token subprotocol', async () => {
    const tp = await demoProxy();
    await connect(tp.wsUrl(), { Origin: GOOD, Cookie: 'session=abc' });
    await connect(tp.wsUrl(`/ws?token=${fakeJwt(60)}`), { Origin: GOOD });
    await connect(tp.wsUrl(), { Origin: GOOD, 'Sec-WebSocket-Protocol': `access_token, opaquevalue123` });
    for (const n of [1, 2, 3]) expect(codes(await tp.nextHandshake(n))).not.toContain('auth-missing');
  });

  it('auth-expired: an expired JWT in the query string, decoded but never verified', async () => {
    const tp = await demoProxy();
    const seen = await connect(tp.wsUrl(`/ws?token=${fakeJwt(-3600)}`), { Origin: GOOD });
    expect(seen.closeCode).toBe(1008);
    const s = await tp.nextHandshake();
    const { end } = await tp.nextEnd();
    expect(codes(s)).toEqual(['auth-expired']);
    expect(end.findings.map((f) => f.code)).toEqual(['close-policy']);
    expect(s.findings[0]!.message).toMatch(/query parameter "token" expired at .* \(60 min ago\)/);
  });

  it('handshake-invalid: wstap answers 400 and the backend never sees the request', async () => {
    const backend = await openRawBackend();
    const tp = await openTestProxy({ target: backend.url });
    const c = await rawClient(tp.port);
    c.socket.write(upgradeHead('/ws').replace('Sec-WebSocket-Version: 13', 'Sec-WebSocket-Version: 8'));
    const got = await c.waitFor(hasHead);
    expect(got.toString()).toMatch(/^HTTP\/1.1 400 Bad Request/);
    expect(got.toString()).toContain('Sec-WebSocket-Version is 8, must be 13');
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('invalid');
    expect(codes(s)).toEqual(['handshake-invalid', 'origin-missing', 'auth-missing']);
    expect(backend.connections).toHaveLength(0);
    c.socket.destroy();
  });

  it('upgrade-rejected: the backend answers 404 for a wrong path; the hint names the path', async () => {
    const tp = await demoProxy();
    const seen = await connect(tp.wsUrl('/socket'), { Origin: GOOD, Authorization: `Bearer ${fakeJwt(60)}` });
    expect(seen.status).toBe(404);
    const s = await tp.nextHandshake();
    expect(codes(s)).toEqual(['upgrade-rejected']);
    expect(s.findings[0]!.hint).toContain('/socket');
  });

  it('upgrade-accept-invalid: a 101 with a wrong Sec-WebSocket-Accept is not tunnelled', async () => {
    const backend = await openRawBackend(async (conn) => {
      await conn.waitFor(hasHead);
      conn.socket.write(switchingHead('AAAAAAAAAAAAAAAAAAAAAA=='));
    });
    const tp = await openTestProxy({ target: backend.url });
    await connect(tp.wsUrl(), { Origin: GOOD, Authorization: `Bearer ${fakeJwt(60)}` });
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('rejected');
    expect(codes(s)).toEqual(['upgrade-accept-invalid']);
  });

  it('upstream-refused: nothing listens on the target port; the client gets a 502 that says so', async () => {
    const tp = await openTestProxy({ target: `http://127.0.0.1:${await refusedPort()}` });
    const c = await rawClient(tp.port);
    c.socket.write(upgradeHead('/ws', ['Origin: http://localhost:3000']));
    const text = (await c.waitFor((b) => b.includes('ECONNREFUSED'))).toString();
    expect(text).toMatch(/^HTTP\/1.1 502 Bad Gateway/);
    expect(text).toContain('ECONNREFUSED');
    const s = await tp.nextHandshake();
    expect(s.outcome).toBe('failed');
    expect(codes(s)).toContain('upstream-refused');
  });

  it('upstream-dns: the target host name does not resolve', async () => {
    const tp = await openTestProxy({ target: 'http://backend.invalid:8000' });
    const seen = await connect(tp.wsUrl(), { Origin: GOOD, Authorization: `Bearer ${fakeJwt(60)}` });
    expect(seen.status).toBe(502);
    const s = await tp.nextHandshake();
    expect(codes(s)).toEqual(['upstream-dns']);
    expect(s.findings[0]!.hint).toContain('compose');
  });

  it('upstream-timeout: the backend accepts the connection and never answers', async () => {
    const backend = await openRawBackend();
    const tp = await openTestProxy({ target: backend.url, upstreamTimeoutMs: 300 });
    const seen = await connect(tp.wsUrl(), { Origin: GOOD, Authorization: `Bearer ${fakeJwt(60)}` });
    expect(seen.status).toBe(502);
    const s = await tp.nextHandshake();
    expect(codes(s)).toEqual(['upstream-timeout']);
    expect(s.findings[0]!.message).toContain('no answer');
  });

  it('upstream-reset: the backend resets the connection instead of answering', async () => {
    const backend = await openRawBackend(async (conn) => {
      await conn.waitFor(hasHead);
      conn.socket.resetAndDestroy();
    });
    const tp = await openTestProxy({ target: backend.url });
    const seen = await connect(tp.wsUrl(), { Origin: GOOD, Authorization: `Bearer ${fakeJwt(60)}` });
    expect(seen.status).toBe(502);
    expect(codes(await tp.nextHandshake())).toEqual(['upstream-reset']);
  });

  it('upstream-tls: an https target that speaks plain HTTP', async () => {
    const plain = net.createServer((s) => {
      s.resume();
      s.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => plain.close(() => r())));
    const tp = await openTestProxy({ target: `https://127.0.0.1:${(plain.address() as net.AddressInfo).port}` });
    const seen = await connect(tp.wsUrl(), { Origin: GOOD, Authorization: `Bearer ${fakeJwt(60)}` });
    expect(seen.status).toBe(502);
    const s = await tp.nextHandshake();
    expect(codes(s)).toEqual(['upstream-tls']);
    // The evidence (a plain-text answer to the TLS hello) names the cause; OpenSSL's blob is cut to its reason.
    expect(s.findings[0]!.message).toMatch(
      /answered the TLS handshake in plain text \(ERR_SSL_WRONG_VERSION_NUMBER: wrong version number\): the backend speaks plain HTTP/,
    );
    expect(s.findings[0]!.message).not.toMatch(/routines|deps\/openssl|\n/);
    expect(s.findings[0]!.hint).toMatch(/^Use http:\/\/ \(or ws:\/\/\) in --target/);
  });
});
