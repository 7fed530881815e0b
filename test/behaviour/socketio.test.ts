/**
 * A real stack that is not ours: a Socket.IO 4 server behind wstap and the Socket.IO
 * client in front of it, as a Next.js frontend would use them. The client starts on
 * HTTP long-polling (ordinary HTTP through wstap), then upgrades to a WebSocket on
 * the same path (wstap's relay and frame tap), with permessage-deflate on. Events,
 * acknowledgements and binary attachments arrive as sent; wstap logs the upgrade and
 * decodes engine.io's frames.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy, refusedPort } from '../support/helpers.js';
import { proxyTo, tapSink } from '../support/tap.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

async function socketIoBackend(): Promise<{ url: string; server: Server }> {
  const httpServer = http.createServer();
  const server = new Server(httpServer, {
    cors: { origin: 'http://localhost:3000' },
    perMessageDeflate: { threshold: 0 },
    maxHttpBufferSize: 4 * 1024 * 1024,
  });
  server.on('connection', (socket) => {
    socket.on('echo', (payload: unknown, ack: (answer: unknown) => void) => ack({ got: payload }));
    socket.on('shout', (text: string) => server.emit('heard', text.toUpperCase()));
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', () => r()));
  defer(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(httpServer.address() as { port: number }).port}`, server };
}

function client(url: string): Socket {
  const socket = io(url, { transports: ['polling', 'websocket'], extraHeaders: { Origin: 'http://localhost:3000' }, reconnection: false });
  defer(() => void socket.disconnect());
  return socket;
}

describe('Socket.IO 4 through wstap (long-polling, then the WebSocket upgrade)', () => {
  it('connects, upgrades, and events, acks and binary attachments arrive intact both ways; wstap decodes the frames', async () => {
    const backend = await socketIoBackend();
    const tap = tapSink();
    const { msgs } = tap;
    const tp = await proxyTo(backend.url, tap);

    const socket = client(tp.url);
    const transports: string[] = [];
    socket.io.on('open', () => transports.push(socket.io.engine.transport.name));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    await until(() => socket.io.engine.transport.name === 'websocket', 'the upgrade to websocket', { seen: () => socket.io.engine.transport.name });
    expect(transports[0]).toBe('polling');

    // An event with an acknowledgement, a broadcast, and a binary attachment of 200 KB.
    expect(await socket.timeout(3000).emitWithAck('echo', { n: 1, text: 'héllo "quoted"' })).toEqual({ got: { n: 1, text: 'héllo "quoted"' } });
    const heard = new Promise<string>((r) => socket.once('heard', r));
    socket.emit('shout', 'through wstap');
    expect(await heard).toBe('THROUGH WSTAP');
    const blob = randomBytes(200 * 1024);
    const back = (await socket.timeout(3000).emitWithAck('echo', blob)) as { got: Buffer };
    expect(Buffer.from(back.got).equals(blob)).toBe(true);

    socket.disconnect();
    const { session, end } = await tp.nextEnd();
    // The upgrade: the engine.io session's path, a 101 with permessage-deflate, a tunnel.
    expect(session.outcome).toBe('tunnel');
    expect(session.handshake.request.target).toMatch(/^\/socket\.io\/\?EIO=4&transport=websocket&sid=/);
    expect(session.handshake.origins).toEqual(['http://localhost:3000']);
    expect(session.upstream?.response.status).toBe(101);
    expect(session.upstream?.chosenExtensions).toMatch(/^permessage-deflate/);
    expect(end.ws?.close.initiator).toBe('client');

    // wstap decoded engine.io's probe, the event packets and the 200 KB attachment (compressed on the wire).
    const texts = msgs.filter((m) => m.kind === 'text').map((m) => `${m.from}:${m.data.toString('utf8')}`);
    expect(texts).toContain('client:2probe');
    expect(texts).toContain('server:3probe');
    expect(texts).toContain('client:5');
    expect(texts.some((t) => t.startsWith('client:42') && t.includes('"shout","through wstap"'))).toBe(true);
    expect(texts.some((t) => t.startsWith('server:42') && t.includes('"heard","THROUGH WSTAP"'))).toBe(true);
    const attachments = msgs.filter((m) => m.kind === 'binary' && m.size === blob.length);
    expect(attachments.map((m) => m.from).sort()).toEqual(['client', 'server']);
    expect(attachments.every((m) => m.compressed && m.data.equals(blob))).toBe(true);
    expect(tp.logs.filter((l) => l['level'] === 50 || l['level'] === 60)).toEqual([]);
  });

  it('a Socket.IO backend that is down: the polling request gets a 502 that names the cause, and the client reports a connect_error', async () => {
    const tp = await openTestProxy({ target: `http://127.0.0.1:${await refusedPort()}` });
    const socket = client(tp.url);
    const err = await new Promise<Error & { description?: number }>((resolve) => socket.once('connect_error', resolve));
    expect(err.message).toMatch(/xhr poll error/);
    await until(() => tp.logs.some((l) => l['event'] === 'http-error'), 'an http-error log line', { seen: () => tp.logs.map((l) => l['event']) });
    const line = tp.logs.find((l) => l['event'] === 'http-error')!;
    expect((line['finding'] as { code: string }).code).toBe('upstream-refused');
    expect(String(line['path'])).toMatch(/^\/socket\.io\/\?EIO=4&transport=polling/);
  });
});
