/**
 * Socket.IO 4 decoded, with the real server and client (socket.io, socket.io-client): the
 * client long-polls, then upgrades; wstap reads engine.io's and Socket.IO's packets on both
 * transports (events, acks both ways, binary attachments reassembled, the upgrade's probe),
 * pairs each ack with its emit and times it per event name; a client refused by the server's
 * middleware during polling, and a session that never upgrades, are findings.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';
import { appSink, codes, ended, lines, packets } from '../support/app.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

async function backend(setup: (server: Server) => void, opts: ConstructorParameters<typeof Server>[1] = {}): Promise<string> {
  const httpServer = http.createServer();
  const server = new Server(httpServer, { cors: { origin: 'http://localhost:3000' }, ...opts });
  setup(server);
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', () => r()));
  defer(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(httpServer.address() as { port: number }).port}`;
}

function client(url: string, opts: Parameters<typeof io>[1] = {}): Socket {
  const socket = io(url, { transports: ['polling', 'websocket'], extraHeaders: { Origin: 'http://localhost:3000' }, reconnection: false, ...opts });
  defer(() => void socket.disconnect());
  return socket;
}

describe('Socket.IO 4 decoded by wstap', () => {
  it('reads the upgrade, events and acks both ways and binary attachments on the WebSocket; pairs and times each ack by event name', async () => {
    const url = await backend((server) => {
      server.on('connection', (socket) => {
        socket.on('echo', (text: string, ack: (a: unknown) => void) => ack({ got: text }));
        socket.on('upload', (data: Buffer, ack: (n: number) => void) => ack(data.length));
        socket.on('ask me', async () => {
          const answer = (await socket.emitWithAck('question', 'ready?')) as string;
          socket.emit('answered', answer);
        });
      });
    });
    const ev = appSink();
    const proxy = await openTestProxy({ target: url, sinks: [ev.sink] });
    const socket = client(proxy.url);
    socket.on('question', (_q: string, ack: (a: string) => void) => ack('yes'));
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    await until(() => socket.io.engine.transport.name === 'websocket', 'the upgrade to websocket');

    // What the application gets is what the server sent.
    for (const text of ['a', 'b', 'c']) expect(await socket.emitWithAck('echo', text)).toEqual({ got: text });
    expect(await socket.emitWithAck('upload', Buffer.alloc(3000, 7))).toBe(3000);
    const answered = new Promise<string>((r) => socket.once('answered', r));
    socket.emit('ask me');
    expect(await answered).toBe('yes');
    socket.disconnect();

    const session = ev.sessions.find((s) => s.handshake.request.target.includes('transport=websocket'))!;
    expect(session.app).toEqual({ protocol: 'socket.io', by: 'path' });
    const end = await ended(ev, session.id);
    const seen = lines(ev, session.id);
    // The upgrade's probe, then the switch.
    expect(seen.slice(0, 3)).toEqual([
      '→ engine.io ping probe (upgrade check)',
      '← engine.io pong probe',
      '→ engine.io upgrade (polling → websocket)',
    ]);
    expect(seen).toContain('→ socket.io emit "echo" [ack 0]');
    expect(seen).toContain('← socket.io ack 0');
    // The binary event: its header says what follows; the attachment completes it.
    expect(seen).toContain('→ socket.io emit "upload" (1 binary attachment to follow)');
    expect(seen).toContain('→ socket.io emit "upload" [ack 3] (attachment 1/1, complete)');
    // The server asks, the client acks.
    expect(seen).toContain('← socket.io emit "question" [ack 0]');
    expect(seen).toContain('→ socket.io ack 0');
    expect(seen).toContain('← socket.io emit "answered"');
    expect(seen.at(-1)).toBe('→ socket.io disconnect /');

    // Each ack answers its emit, on the side that asked.
    const acks = packets(ev, session.id).filter((p) => p.type === 'ACK');
    expect(acks.map((a) => `${a.from} ${a.answers?.operation}`)).toEqual([
      'server emit echo',
      'server emit echo',
      'server emit echo',
      'server emit upload',
      'client emit question',
    ]);
    for (const a of acks) expect(a.answers!.ms).toBeGreaterThanOrEqual(0);
    const ops = Object.fromEntries(end.ws!.app!.operations.map((o) => [o.operation, o]));
    expect(ops['emit echo']).toMatchObject({ count: 3, errors: 0, unanswered: 0 });
    expect(ops['emit echo']!.latency!.count).toBe(3);
    expect(ops['emit upload']!.latency!.count).toBe(1);
    expect(ops['emit question']!.latency!.count).toBe(1);
    expect(end.ws!.app!.packets).toMatchObject({ EVENT: 7, ACK: 5, BINARY_EVENT: 1 });
    expect(codes(ev)).toEqual([]);
    expect(ev.patterns).toEqual([]);
  });

  it('a client refused by the middleware during long-polling: socketio-connect-error with the reason, before any WebSocket', async () => {
    const url = await backend((server) => {
      server.use((_socket, next) => next(new Error('Authentication required')));
    });
    const ev = appSink();
    const proxy = await openTestProxy({ target: url, sinks: [ev.sink] });
    const socket = client(proxy.url, { auth: { token: 'expired' } });
    const err = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
    expect(err.message).toBe('Authentication required');
    await until(() => ev.patterns.length > 0, 'the polling finding');
    const f = ev.patterns[0]!.finding;
    expect(f.code).toBe('socketio-connect-error');
    expect(f.severity).toBe('error');
    expect(f.message).toBe(
      'Socket.IO refused the connection to namespace / during HTTP long-polling (before any WebSocket): "Authentication required". The client sees connect_error.',
    );
    expect(f.hint).toMatch(/auth option/);
    expect(ev.patterns[0]!.client).toBe('127.0.0.1, Origin http://localhost:3000, /socket.io/ (Socket.IO long-polling)');
  });

  it('a polling answer engine.io compressed (gzip, 1 KiB or more) is read after its Content-Encoding', async () => {
    const big = 'x'.repeat(3000);
    const url = await backend((server) => server.on('connection', (socket) => socket.emit('big', big)));
    const ev = appSink();
    const proxy = await openTestProxy({ target: url, sinks: [ev.sink] });
    // fetch asks for gzip (Accept-Encoding: gzip, deflate) and undoes it, as a browser does.
    const base = `${proxy.url}/socket.io/?EIO=4&transport=polling`;
    const open = await (await fetch(base)).text();
    const sid = (JSON.parse(open.slice(1)) as { sid: string }).sid;
    await fetch(`${base}&sid=${sid}`, { method: 'POST', body: '40', headers: { 'Content-Type': 'text/plain;charset=UTF-8' } });
    const answer = await fetch(`${base}&sid=${sid}`);
    expect(answer.headers.get('content-encoding')).toBe('gzip');
    expect(await answer.text()).toContain(`42["big","${big}"]`);
    const polling = () => proxy.logs.filter((l) => l['event'] === 'polling').map((l) => String(l['line']));
    await until(() => polling().includes('socket.io emit "big"'), 'the decoded event', { seen: polling });
    expect(polling()).toContain('socket.io connected /');
  });

  it('a session that keeps long-polling and never upgrades: socketio-no-upgrade, and what the server offered', async () => {
    const url = await backend(() => {}, { transports: ['polling'], pingInterval: 300, pingTimeout: 2000 });
    const ev = appSink();
    const proxy = await openTestProxy({ target: url, sinks: [ev.sink] });
    const socket = client(proxy.url);
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    await until(() => ev.patterns.some((p) => p.finding.code === 'socketio-no-upgrade'), 'the no-upgrade finding', { timeoutMs: 15_000 });
    const f = ev.patterns.find((p) => p.finding.code === 'socketio-no-upgrade')!.finding;
    expect(f.message).toMatch(
      /^A Socket\.IO session long-polled \d+ times over \d+ s and never upgraded to a WebSocket; the server offered no upgrade/,
    );
    expect(f.hint).toMatch(/transports/);
    expect(socket.io.engine.transport.name).toBe('polling');
  });
});
