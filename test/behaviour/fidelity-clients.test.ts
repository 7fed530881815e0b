/**
 * Fidelity with real clients against a real ws backend (permessage-deflate on): the ws and
 * undici WebSocket clients; messages round-trip intact and close codes and reasons reach the
 * other side, both ways. Real sockets on 127.0.0.1, ephemeral ports.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { Agent, WebSocket as UndiciWebSocket, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

interface WsBackend {
  url: string;
  /** Messages the backend received, per connection, in order. */
  received: { data: Buffer; isBinary: boolean }[];
  closes: { code: number; reason: string }[];
  sockets: WebSocket[];
  nextSocket(): Promise<WebSocket>;
}

async function startWsBackend(): Promise<WsBackend> {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(req.url === '/health' ? 'ok' : 'not found');
  });
  // threshold 0: the backend compresses every message it sends.
  const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
  const received: WsBackend['received'] = [];
  const closes: WsBackend['closes'] = [];
  const sockets: WebSocket[] = [];
  const waiters: ((ws: WebSocket) => void)[] = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      received.push({ data: buf, isBinary });
      ws.send(buf, { binary: isBinary });
    });
    ws.on('close', (code, reason) => closes.push({ code, reason: reason.toString() }));
    waiters.shift()?.(ws);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  defer(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    closes,
    sockets,
    nextSocket: () => new Promise((r) => waiters.push(r)),
  };
}

const messages = (): { text: string; binary: Buffer; largeBinary: Buffer; largeText: string } => ({
  text: 'hello, wörld ✓',
  binary: randomBytes(1000),
  largeBinary: randomBytes(1024 * 1024),
  largeText: 'compressible text line with a counter; '.repeat(8000) + randomBytes(2000).toString('base64'),
});

describe('real clients', () => {
  it('ws client (permessage-deflate): messages round-trip intact, close code and reason reach the backend', async () => {
    const be = await startWsBackend();
    const tp = await openTestProxy({ target: be.url });
    const m = messages();
    const ws = new WebSocket(tp.wsUrl('/ws'));
    defer(() => ws.terminate());
    const got: { data: Buffer; isBinary: boolean }[] = [];
    ws.on('message', (data, isBinary) => got.push({ data: data as Buffer, isBinary }));
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    expect(ws.extensions).toMatch(/permessage-deflate/);
    ws.send(m.text);
    ws.send(m.binary);
    ws.send(m.largeBinary);
    ws.send(m.largeText);
    await until(() => got.length === 4, 'four echoes', { seen: () => `${got.length} echoes` });
    expect(be.received.map((r) => r.isBinary)).toEqual([false, true, true, false]);
    expect(be.received[0]!.data.toString()).toBe(m.text);
    expect(be.received[1]!.data.equals(m.binary)).toBe(true);
    expect(be.received[2]!.data.equals(m.largeBinary)).toBe(true);
    expect(be.received[3]!.data.toString()).toBe(m.largeText);
    expect(got.map((r) => r.isBinary)).toEqual([false, true, true, false]);
    expect(got[0]!.data.toString()).toBe(m.text);
    expect(got[1]!.data.equals(m.binary)).toBe(true);
    expect(got[2]!.data.equals(m.largeBinary)).toBe(true);
    expect(got[3]!.data.toString()).toBe(m.largeText);

    const closedAt = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.close(4001, 'client says bye ✓');
    await until(() => be.closes.length === 1, 'backend close', { seen: () => be.closes });
    expect(be.closes[0]).toEqual({ code: 4001, reason: 'client says bye ✓' });
    expect(await closedAt).toEqual({ code: 4001, reason: 'client says bye ✓' });

    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    expect(s.upstream?.chosenExtensions).toMatch(/permessage-deflate/);
    const { end } = await tp.nextEnd(1);
    expect(end.how).toBe('fin');
  });

  it('ws client: a close code and reason sent by the backend reach the client', async () => {
    const be = await startWsBackend();
    const tp = await openTestProxy({ target: be.url });
    const ws = new WebSocket(tp.wsUrl('/ws'));
    defer(() => ws.terminate());
    const serverSide = be.nextSocket();
    const closedAt = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    (await serverSide).close(4002, 'server says bye');
    expect(await closedAt).toEqual({ code: 4002, reason: 'server says bye' });
    await until(() => be.closes.length === 1, 'backend close', { seen: () => be.closes });
    expect(be.closes[0]!.code).toBe(4002);
  });

  it('undici WebSocket: messages round-trip intact, close codes both ways (keep-alive reuse reported via headSource)', async () => {
    const be = await startWsBackend();
    const tp = await openTestProxy({ target: be.url });
    const agent = new Agent();
    defer(() => agent.close());
    // An ordinary request first, on the same dispatcher: undici may reuse that keep-alive connection for the upgrade.
    const health = await undiciFetch(`${tp.url}/health`, { dispatcher: agent });
    expect(await health.text()).toBe('ok');

    const m = messages();
    const ws = new UndiciWebSocket(tp.wsUrl('/ws'), { dispatcher: agent });
    ws.binaryType = 'arraybuffer';
    defer(() => ws.close());
    const got: (string | Buffer)[] = [];
    ws.addEventListener('message', (e) => got.push(typeof e.data === 'string' ? e.data : Buffer.from(e.data as ArrayBuffer)));
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve(), { once: true });
      ws.addEventListener('error', (e) => reject(new Error(`undici websocket error: ${String((e as { message?: string }).message)}`)), {
        once: true,
      });
    });
    expect(ws.extensions).toMatch(/permessage-deflate/);
    ws.send(m.text);
    ws.send(m.binary);
    ws.send(m.largeBinary);
    ws.send(m.largeText);
    await until(() => got.length === 4, 'four echoes', { seen: () => `${got.length} echoes` });
    expect(be.received[0]!.data.toString()).toBe(m.text);
    expect(be.received[1]!.data.equals(m.binary)).toBe(true);
    expect(be.received[2]!.data.equals(m.largeBinary)).toBe(true);
    expect(be.received[3]!.data.toString()).toBe(m.largeText);
    expect(got[0]).toBe(m.text);
    expect(Buffer.isBuffer(got[1]) && got[1].equals(m.binary)).toBe(true);
    expect(Buffer.isBuffer(got[2]) && got[2].equals(m.largeBinary)).toBe(true);
    expect(got[3]).toBe(m.largeText);

    const closedAt = new Promise<{ code: number; reason: string }>((r) =>
      ws.addEventListener('close', (e) => r({ code: e.code, reason: e.reason }), { once: true }),
    );
    ws.close(4003, 'undici says bye');
    await until(() => be.closes.length === 1, 'backend close', { seen: () => be.closes });
    expect(be.closes[0]).toEqual({ code: 4003, reason: 'undici says bye' });
    expect(await closedAt).toMatchObject({ code: 4003 });

    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    // Either path is acceptable; which one undici took is visible here.
    expect(['wire', 'rebuilt']).toContain(s.handshake.headSource);
    console.info(`undici upgrade headSource: ${s.handshake.headSource}`);

    // The backend closes the next one.
    const ws2 = new UndiciWebSocket(tp.wsUrl('/ws'), { dispatcher: agent });
    defer(() => ws2.close());
    const serverSide = be.nextSocket();
    const closed2 = new Promise<{ code: number; reason: string }>((r) =>
      ws2.addEventListener('close', (e) => r({ code: e.code, reason: e.reason }), { once: true }),
    );
    (await serverSide).close(4004, 'server closes undici');
    expect(await closed2).toEqual({ code: 4004, reason: 'server closes undici' });
  });
});
