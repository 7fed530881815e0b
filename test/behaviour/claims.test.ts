/**
 * README claims no other test would catch breaking: Proxy-Authorization is redacted like
 * Authorization, an upgrade to anything but WebSocket (h2c) is answered 501 and never
 * forwarded, a session's end reaches a sink that wants no frames, and client frames are
 * unmasked right without bufferutil (the JavaScript path). Real sockets on 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy } from '../../src/proxy/server.js';
import type { Session, SessionEnd } from '../../src/session/session.js';
import type { SessionSink } from '../../src/sinks/bus.js';
import type { HandshakeView } from '../../src/views/views.js';
import { echo, startWsServer } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openRawClient, openTestProxy, proxyInFront, startRawBackend } from '../support/helpers.js';
import { ROOT } from '../support/process.js';
import { closeClient, openClient } from '../support/recording.js';
import { tmpFile } from '../support/temp.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

describe('README claims', () => {
  it('Proxy-Authorization is redacted in the handshake view and the recording, like Authorization', async () => {
    const backend = await startWsServer();
    backend.wss.on('connection', echo);
    const views: HandshakeView[] = [];
    const file = tmpFile('proxy-auth.jsonl');
    const tp = await openTestProxy({
      target: backend.url,
      sinks: [{ name: 'views', handshake: (_s, v) => void views.push(v) }],
      record: { file, payloads: 'full' },
    });
    const c = await openClient(tp.wsUrl('/ws'), [], { headers: { 'Proxy-Authorization': 'Basic dXNlcjpzM2NyZXQtcHJveHk=' } });
    await closeClient(c);
    await tp.close();
    const header = views[0]!.requestHeaders.find((h) => h.name === 'Proxy-Authorization')!;
    expect(header.value).not.toContain('dXNlcjpzM2NyZXQtcHJveHk');
    expect(header.value).toMatch(/^Basic \[redacted/);
    const recorded = readFileSync(file, 'utf8');
    expect(recorded).toContain('Proxy-Authorization');
    expect(recorded).not.toContain('dXNlcjpzM2NyZXQtcHJveHk');
  });

  it('an Upgrade to another protocol (h2c) is answered 501 and never reaches the backend', async () => {
    const { backend, tp } = await proxyInFront(await startRawBackend());
    const client = await openRawClient(tp.port);
    client.socket.write(
      'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    const answer = (await client.waitFor((b) => b.includes('\r\n\r\n') && b.toString().includes('relays'))).toString();
    expect(answer).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n/);
    expect(answer).toContain('wstap relays WebSocket upgrades only, not "h2c"');
    expect(backend.connections).toHaveLength(0);
  });

  it('a sink that wants no frames (nothing decodes) still gets each session end, with its bytes', async () => {
    const backend = await startWsServer();
    backend.wss.on('connection', echo);
    const ends: { session: Session; end: SessionEnd }[] = [];
    const sink: SessionSink = { name: 'ends only', end: (session, end) => void ends.push({ session, end }) };
    // startProxy itself, with this sink alone (the test proxies log at debug, and so decode).
    const proxy = await startProxy({ target: backend.url, port: 0, hosts: ['127.0.0.1'], sinks: [sink] });
    defer(() => proxy.close(0));
    const c = await openClient(`ws://127.0.0.1:${proxy.port}/ws`);
    expect((await c.ask('hello')).text).toBe('hello');
    await closeClient(c);
    await until(() => ends.length === 1, 'the session end');
    const { end } = ends[0]!;
    expect(end.ws).toBeUndefined(); // nothing decoded
    // After the close handshake the server closes the TCP connection first (RFC 6455 7.1.1).
    expect([end.endedBy, end.how]).toEqual(['server', 'fin']);
    expect(end.bytes.clientToServer).toBeGreaterThan(5);
    expect(end.bytes.serverToClient).toBeGreaterThan(5);
  });

  it('without bufferutil (WS_NO_BUFFER_UTIL=1), the JavaScript unmasking gives the same bytes as the native one', () => {
    // A child process, so the module loads without the native binding; its answer against this process's (native) one.
    const script = `
      import { maskInto, NATIVE_MASK } from './dist/tap/mask.js';
      const src = Buffer.alloc(70_001); for (let i = 0; i < src.length; i++) src[i] = (i * 7919 + 13) & 255;
      const out = Buffer.alloc(src.length + 3);
      for (const [start, len, key, off] of [[0, 70_001, 0x12345678, 0], [1, 70_000, 0xdeadbeef, 3], [5, 3, 0x01020304, 1]]) maskInto(src, start, len, key >>> 0, out, off);
      process.stdout.write(JSON.stringify({ native: NATIVE_MASK, out: out.toString('base64') }));`;
    const run = (env: NodeJS.ProcessEnv): { native: boolean; out: string } =>
      JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env, encoding: 'utf8' }));
    const js = run({ ...process.env, WS_NO_BUFFER_UTIL: '1' });
    const native = run({ ...process.env, WS_NO_BUFFER_UTIL: '' });
    expect(js.native).toBe(false);
    expect(native.native).toBe(true);
    expect(js.out).toBe(native.out);
  });
});
