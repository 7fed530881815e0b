/**
 * `wstap check` through the real bin against real backends on 127.0.0.1 (the guide's demo
 * backend, ws servers, raw TCP servers and a TLS backend): every step, its verdict and its
 * findings, as JSON and as text. Nothing is mocked: a host name that does not resolve is a
 * name under .invalid.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ORIGIN_PRESETS } from '../../src/check/origins.js';
import { demoBackend, startWsServer } from '../support/backends.js';
import { BYPASS, checkJson, codes, step, wsUrl, wstap } from '../support/check.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { acceptFor, fakeJwt, openRawBackend, refusedPort } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { startTlsEchoBackend } from '../support/tls-backend.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('wstap check against real backends', () => {
  it('a backend that accepts: every step passes, the reply and its latency are reported, exit 0', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([
      wsUrl(b.port),
      '--origin',
      'http://localhost:3000',
      '--health',
      '/health',
      '--send',
      '{"id":7}',
      '--linger',
      '200',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(result).toMatchObject({ ok: true, exitCode: 0, url: wsUrl(b.port) });
    expect(result.steps.map((s) => s.name)).toEqual(['resolve', 'connect', 'health', 'handshake', 'linger', 'send']);
    for (const name of ['resolve', 'connect', 'health', 'linger', 'send'] as const) expect(step(result, name).verdict, name).toBe('ok');
    expect(step(result, 'health').detail).toContain('200');
    // No credential was sent: a warning, not a failure.
    expect(step(result, 'handshake')).toMatchObject({ verdict: 'warn' });
    expect(codes(step(result, 'handshake'))).toEqual(['auth-missing']);
    expect(step(result, 'handshake').detail).toMatch(/^101 Switching Protocols/);
    const send = step(result, 'send');
    expect(send.detail).toContain('"type":"echo"');
    expect(send.detail).toContain('"id":7');
    expect(typeof send.ms).toBe('number');
    for (const s of result.steps) expect(typeof s.ms, s.name).toBe('number');
  });

  it('the same, as text: one line per step with its verdict mark, and a healthy summary', async () => {
    const b = await demoBackend(BYPASS);
    const r = await wstap([
      'check',
      wsUrl(b.port),
      '--origin',
      'http://localhost:3000',
      '-H',
      `Authorization: Bearer ${fakeJwt(600)}`,
      '--send',
      'hello',
      '--linger',
      '100',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wstap check ws:\/\/127\.0\.0\.1:\d+\/ws$/m);
    for (const name of ['resolve', 'connect', 'handshake', 'linger', 'send']) expect(r.stdout).toMatch(new RegExp(`^  ✔ ${name}\\s`, 'm'));
    expect(r.stdout).toMatch(/^ {2}- health\s+skipped: no --health path/m);
    expect(r.stdout).toMatch(/^✔ healthy/m);
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it('a backend that rejects the Origin with 403: upgrade-rejected names the Origin, exit 1', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://frontend:3000']);
    expect(r.code).toBe(1);
    expect(result.ok).toBe(false);
    const hs = step(result, 'handshake');
    expect(hs.verdict).toBe('error');
    expect(hs.detail).toContain('403 Forbidden');
    expect(hs.detail).toContain('Origin not allowed');
    const rejected = hs.findings.find((f) => f.code === 'upgrade-rejected')!;
    expect(rejected.hint).toContain('http://frontend:3000');
    expect(step(result, 'linger').verdict).toBe('skip');
    expect(step(result, 'send').verdict).toBe('skip');
  });

  it('a backend that closes with 1008 right after the open: close-policy with its reason, exit 1', async () => {
    const b = await demoBackend({});
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://localhost:3000', '--send', 'hello', '--linger', '2000']);
    expect(r.code).toBe(1);
    expect(step(result, 'handshake').verdict).toBe('warn');
    const linger = step(result, 'linger');
    expect(linger.verdict).toBe('error');
    expect(linger.detail).toContain('1008');
    expect(codes(linger)).toEqual(['close-policy']);
    expect(linger.findings[0]!.message).toContain('Authentication required: Use Authorization header');
    expect(linger.findings[0]!.hint).toMatch(/ALLOW_DEV_AUTH_BYPASS/);
    expect(step(result, 'send')).toMatchObject({ verdict: 'skip', detail: 'the connection is closed' });
  });

  it('with the credential in a header the same backend keeps the connection open; the token is never printed', async () => {
    const b = await demoBackend({});
    const token = fakeJwt(600);
    const { r, result } = await checkJson([wsUrl(b.port, `/ws?token=${token}`), '--origin', 'http://localhost:3000', '--linger', '200']);
    expect(r.code).toBe(0);
    expect(step(result, 'linger').verdict).toBe('ok');
    expect(codes(step(result, 'handshake'))).toEqual([]);
    expect(result.url).toContain('token=[redacted]');
    for (const part of token.split('.').slice(1)) expect(r.stdout).not.toContain(part);
  });

  it('a port where nothing listens: upstream-refused with the port-mapping hint; later steps skipped, exit 1', async () => {
    const port = await refusedPort();
    const { r, result } = await checkJson([wsUrl(port), '--health', '/health', '--origins', 'docker-dev']);
    expect(r.code).toBe(1);
    const connect = step(result, 'connect');
    expect(connect.verdict).toBe('error');
    expect(codes(connect)).toEqual(['upstream-refused']);
    expect(connect.findings[0]!.hint).toContain(`"${port}:${port}"`);
    for (const name of ['health', 'handshake', 'linger', 'send', 'origins'] as const) expect(step(result, name).verdict, name).toBe('skip');
  });

  it('the last line names the real error first, before the warnings (a container warning does not hide a refused port)', async () => {
    const port = await refusedPort();
    const r = await wstap(['check', wsUrl(port)], { WSTAP_IN_CONTAINER: 'true' });
    expect(r.code).toBe(1);
    const last = r.stdout.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(
      new RegExp(`^✖ failed at connect: no connection to 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) \\(warnings: environment\\) · .* · exit 1$`),
    );
  });

  it('a host name that does not resolve: upstream-dns with the service-discovery hint, exit 1', async () => {
    const { r, result } = await checkJson(['ws://wstap-check-backend.invalid:8000/ws', '--origin', 'http://localhost:3000']);
    expect(r.code).toBe(1);
    const resolve = step(result, 'resolve');
    expect(resolve.verdict).toBe('error');
    expect(codes(resolve)).toEqual(['upstream-dns']);
    expect(resolve.findings[0]!.hint).toMatch(/compose service name/);
    expect(step(result, 'connect').verdict).toBe('skip');
    expect(step(result, 'handshake').verdict).toBe('skip');
  });

  it("two Origin lines (the guide's issue 4): origin-duplicate and the backend's 400, exit 1", async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://localhost:3000', '--origin', 'http://localhost:3000']);
    expect(r.code).toBe(1);
    const hs = step(result, 'handshake');
    expect(codes(hs)).toEqual(expect.arrayContaining(['origin-duplicate', 'upgrade-rejected']));
    expect(hs.detail).toContain('more than one Origin header');
  });

  it('--origins docker-dev: probes each preset Origin and lists the accepted ones', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--origin', 'http://localhost:3000', '--origins', 'docker-dev', '--linger', '100']);
    expect(r.code).toBe(0);
    expect(result.origins!.map((o) => o.origin)).toEqual(ORIGIN_PRESETS['docker-dev']);
    const accepted = result.origins!.filter((o) => o.verdict === 'accepted').map((o) => o.origin);
    expect(accepted.sort()).toEqual([...b.allowedOrigins].sort());
    for (const o of result.origins!.filter((x) => x.verdict !== 'accepted')) {
      expect(o, o.origin).toMatchObject({ verdict: 'rejected', status: 403 });
    }
    const origins = step(result, 'origins');
    expect(origins.verdict).toBe('warn');
    expect(origins.detail).toMatch(/^2 of 12 accepted/);
  });

  it('--origins as text: a line per Origin, accepted or rejected; none accepted fails the step', async () => {
    const b = await demoBackend(BYPASS);
    const r = await wstap(['check', wsUrl(b.port), '--origins', 'http://evil.test,https://frontend:3000/some/path', '--linger', '50']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ {2}✖ origins\s+0 of 2 accepted/m);
    expect(r.stdout).toMatch(/^\s+▲ http:\/\/evil\.test\s+rejected\s+403/m);
    expect(r.stdout).toMatch(/^\s+▲ https:\/\/frontend:3000\s+rejected/m);
  });

  it('an Origin closed with 1008 after the upgrade counts as rejected', async () => {
    const { wss, port } = await startWsServer();
    wss.on('connection', (ws, req) => {
      if (req.headers.origin !== 'http://localhost:3000') ws.close(1008, 'Origin not allowed');
    });
    const { result } = await checkJson([wsUrl(port), '--origins', 'http://localhost:3000,http://backend:8000', '--linger', '500']);
    expect(result.origins).toMatchObject([
      { origin: 'http://localhost:3000', verdict: 'accepted' },
      { origin: 'http://backend:8000', verdict: 'rejected', status: 101 },
    ]);
  });

  it('--subprotocol and --header are sent; the chosen subprotocol is reported', async () => {
    let seen: Record<string, string | string[] | undefined> = {};
    const { wss, port } = await startWsServer({ handleProtocols: (protocols) => (protocols.has('graphql-ws') ? 'graphql-ws' : false) });
    wss.on('connection', (_ws, req) => (seen = req.headers));
    const { r, result } = await checkJson([wsUrl(port), '--subprotocol', 'chat,graphql-ws', '-H', 'X-Debug: on', '--linger', '50']);
    expect(r.code).toBe(0);
    expect(step(result, 'handshake').detail).toContain('subprotocol graphql-ws');
    expect(seen['sec-websocket-protocol']).toBe('chat, graphql-ws');
    expect(seen['x-debug']).toBe('on');
  });

  it('a 101 with a wrong Sec-WebSocket-Accept: upgrade-accept-invalid, never used, exit 1', async () => {
    const b = await openRawBackend((c) => {
      void c
        .waitFor((all) => all.includes('\r\n\r\n'))
        .then(
          () => {
            c.socket.write(
              [
                'HTTP/1.1 101 Switching Protocols',
                'Upgrade: websocket',
                'Connection: Upgrade',
                `Sec-WebSocket-Accept: ${acceptFor('not-the-key')}`,
                '',
                '',
              ].join('\r\n'),
            );
          },
          () => {},
        ); // the connect step's probe connection sends nothing
    });
    const { r, result } = await checkJson([wsUrl(b.port), '--send', 'x']);
    expect(r.code).toBe(1);
    expect(codes(step(result, 'handshake'))).toContain('upgrade-accept-invalid');
    expect(step(result, 'send').verdict).toBe('skip');
  });

  it('a backend that never answers the upgrade: upstream-timeout after --timeout, exit 1', async () => {
    const b = await openRawBackend(() => {});
    const { r, result } = await checkJson([wsUrl(b.port), '--timeout', '300']);
    expect(r.code).toBe(1);
    expect(codes(step(result, 'handshake'))).toContain('upstream-timeout');
  });

  it('--send to a server that never replies: a warning, not a failure', async () => {
    const { port } = await startWsServer();
    const { r, result } = await checkJson([wsUrl(port), '--send', 'anyone?', '--linger', '50', '--timeout', '300']);
    expect(r.code).toBe(0);
    expect(step(result, 'send')).toMatchObject({ verdict: 'warn' });
    expect(step(result, 'send').detail).toMatch(/no reply/);
  });

  it('a greeting sent on open is reported by linger and not taken for the reply to --send', async () => {
    const { wss, port } = await startWsServer();
    wss.on('connection', (ws) => {
      ws.send('welcome');
      ws.on('message', (d) => ws.send(`re: ${d.toString()}`));
    });
    const { r, result } = await checkJson([wsUrl(port), '--send', 'hi', '--linger', '300']);
    expect(r.code).toBe(0);
    expect(step(result, 'linger').detail).toContain('the server sent 1 message: welcome');
    expect(step(result, 'send').detail).toContain('re: hi');
  });

  it('wss:// with a self-signed certificate: upstream-tls without --insecure; with it every step passes, health included', async () => {
    const backend = await startTlsEchoBackend();
    defer(() => backend.close());
    const port = backend.port;
    const url = `wss://127.0.0.1:${port}/ws`;
    const strict = await checkJson([url, '--health', '/health']);
    expect(strict.r.code).toBe(1);
    expect(codes(step(strict.result, 'connect'))).toEqual(['upstream-tls']);
    const { r, result } = await checkJson([url, '--insecure', '--health', '/health', '--send', 'echo me', '--linger', '50']);
    expect(r.code, r.stdout).toBe(0);
    expect(step(result, 'connect').detail).toMatch(/TLSv1\.[23]/);
    expect(step(result, 'health').verdict).toBe('ok');
    expect(step(result, 'send').detail).toContain('echo me');
  });

  it('--health on a path the backend does not serve: health-failed, and the handshake still runs', async () => {
    const b = await demoBackend(BYPASS);
    const { r, result } = await checkJson([wsUrl(b.port), '--health', '/healthz', '--linger', '50']);
    expect(r.code).toBe(1);
    const health = step(result, 'health');
    expect(health).toMatchObject({ verdict: 'error' });
    expect(codes(health)).toEqual(['health-failed']);
    expect(health.detail).toContain('404');
    expect(step(result, 'handshake').detail).toMatch(/^101/);
  });
});
