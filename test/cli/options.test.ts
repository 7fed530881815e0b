/**
 * Options and the environment through the real launcher: a bad option or variable exits 2
 * with one line on stderr; a port in use is named; WSTAP_* variables configure the proxy.
 */
import net from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { demoBackend } from '../support/backends.js';
import { closed, findingCodes, runWstap, startWstap } from '../support/cli.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { wsClient } from '../support/ws-client.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

describe('bad options: one line on stderr, exit code 2', () => {
  const cases: { name: string; args: string[]; env?: Record<string, string>; mentions: RegExp }[] = [
    { name: 'an unknown option', args: ['--bogus'], mentions: /--bogus/ },
    { name: 'an unknown option of a command', args: ['findings', '--bogus'], mentions: /--bogus/ },
    { name: '--port abc', args: ['--port', 'abc'], mentions: /abc/ },
    { name: '--port 70000', args: ['--port', '70000'], mentions: /70000/ },
    { name: '--port without a value', args: ['--port'], mentions: /port/ },
    { name: '--target ftp://x', args: ['--target', 'ftp://x'], mentions: /ftp/ },
    { name: '--log-format xml', args: ['--log-format', 'xml'], mentions: /xml/ },
    { name: '--log-level loud', args: ['--log-level', 'loud'], mentions: /loud/ },
    { name: '--allow-origin notanorigin', args: ['--allow-origin', 'notanorigin'], mentions: /notanorigin/ },
    { name: '--shutdown-grace soon', args: ['--shutdown-grace', 'soon'], mentions: /soon/ },
    { name: '--head-timeout 10 (under 100 ms)', args: ['--head-timeout', '10'], mentions: /at least 100 ms/ },
    { name: 'demo --port abc', args: ['demo', '--port', 'abc'], mentions: /abc/ },
    { name: 'WSTAP_PORT=abc', args: [], env: { WSTAP_PORT: 'abc' }, mentions: /WSTAP_PORT/ },
    { name: 'WSTAP_TARGET=ftp://x', args: [], env: { WSTAP_TARGET: 'ftp://x' }, mentions: /WSTAP_TARGET/ },
    { name: 'WSTAP_LOG_FORMAT=xml', args: [], env: { WSTAP_LOG_FORMAT: 'xml' }, mentions: /xml/ },
    { name: 'WSTAP_ALLOW_ORIGINS with a bad pattern', args: [], env: { WSTAP_ALLOW_ORIGINS: 'http://localhost:3000,nope' }, mentions: /nope/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      // Should the value be accepted by mistake, the proxy must not take a fixed port.
      const r = await runWstap(c.args, { WSTAP_HOST: '127.0.0.1', WSTAP_PORT: '0', ...c.env });
      expect(r.code).toBe(2);
      expect(r.stderr.endsWith('\n')).toBe(true);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(c.mentions);
      expect(r.stdout).toBe('');
    });
  }

  // Guards a bad boolean variable: the proxy action's envFlag() throws commander's
  // InvalidArgumentError, and that must still print its one line before the exit 2.
  it('WSTAP_NORMALIZE_ORIGIN=maybe', async () => {
    const r = await runWstap(['--port', '0', '--host', '127.0.0.1'], { WSTAP_NORMALIZE_ORIGIN: 'maybe' });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('WSTAP_NORMALIZE_ORIGIN');
  });

  it('WSTAP_NORMALIZE_ORIGIN=maybe exits 2 without starting the proxy', async () => {
    const r = await runWstap(['--port', '0', '--host', '127.0.0.1', '--log-format', 'json'], { WSTAP_NORMALIZE_ORIGIN: 'maybe' });
    expect(r.code).toBe(2);
    expect(r.stdout).not.toContain('listening');
  });
});

describe('port in use', () => {
  it('exits non-zero with one stderr line that names the port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    const r = await runWstap(['--port', String(port), '--host', '127.0.0.1', '--log-format', 'json']);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(String(port));
    expect(r.stderr).toMatch(/in use/);
  });
});

describe('configuration from the environment', () => {
  it('WSTAP_* variables configure the proxy; a disallowed Origin is reported', async () => {
    const backend = await demoBackend();
    const env = startWstap([], {
      WSTAP_TARGET: backend.url,
      WSTAP_PORT: '0',
      WSTAP_HOST: '127.0.0.1',
      WSTAP_ALLOW_ORIGINS: 'http://localhost:3000,http://127.0.0.1:*',
      WSTAP_NORMALIZE_ORIGIN: 'true',
      WSTAP_LOG_FORMAT: 'json',
    });
    const line = await env.waitForJson((l) => l['event'] === 'listening', 'the listening line');
    expect(line).toMatchObject({
      target: backend.url,
      allowOrigins: ['http://localhost:3000', 'http://127.0.0.1:*'],
      normalizeOrigin: true,
    });
    const addresses = line['addresses'] as { address: string; port: number }[];
    expect(addresses).toHaveLength(1);
    expect(addresses[0]!.address).toBe('127.0.0.1');
    expect(addresses[0]!.port).toBeGreaterThan(0);

    const ws = wsClient(`ws://127.0.0.1:${addresses[0]!.port}/ws`, {
      headers: { Origin: 'http://evil.test', Authorization: `Bearer ${fakeJwt(600)}` },
    });
    await closed(ws);
    const hs = await env.waitForJson((l) => l['event'] === 'handshake', 'the handshake line');
    expect(findingCodes(hs)).toContain('origin-disallowed');
    expect(hs['origins']).toEqual(['http://evil.test']);
  });
});

describe('--head-timeout', () => {
  it('WSTAP_HEAD_TIMEOUT=200: a request head that dribbles gets a 408 from the real bin after about that long', async () => {
    const w = startWstap(['--target', 'http://127.0.0.1:1', '--port', '0', '--host', '127.0.0.1', '--log-format', 'json'], {
      WSTAP_HEAD_TIMEOUT: '200',
    });
    const listening = await w.waitForJson((l) => l['event'] === 'listening', 'the listening line');
    const port = (listening['addresses'] as { port: number }[])[0]!.port;
    const socket = net.connect(port, '127.0.0.1');
    defer(() => socket.destroy());
    let got = '';
    socket.on('data', (d) => (got += d.toString()));
    socket.write('GET /ws HTTP/1.1\r\nHost: x\r\n');
    await new Promise((r) => socket.once('end', r));
    expect(got).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(got).toContain('not complete within 200 ms');
    const line = await w.waitForJson((l) => l['status'] === 408, 'the 408 line');
    expect(line).toMatchObject({ event: 'client-error', error: 'HEAD_TIMEOUT' });
  });
});
