/**
 * Acting on application protocol operations: fault rules and breakpoints with op= select
 * messages by what they are about (a JSON-RPC method, a Socket.IO event name), real clients
 * and servers on both sides. The messages no rule selects arrive byte for byte as sent.
 */
import http from 'node:http';
import { JSONRPCClient, JSONRPCServer } from 'json-rpc-2.0';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { parseConditions, parseRule } from '../../src/act/rules.js';
import { appSink, codes, ended } from '../support/app.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

/** A JSON-RPC server over ws that keeps every request's bytes as they arrived. */
async function rpcBackend(): Promise<{ url: string; arrived: Buffer[] }> {
  const server = new JSONRPCServer({ errorListener: () => {} });
  server.addMethod('add', ({ a, b }: { a: number; b: number }) => a + b);
  server.addMethod('slowReport', () => 'done');
  const arrived: Buffer[] = [];
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => {
    ws.on('message', async (data: Buffer) => {
      arrived.push(data);
      const answer = await server.receiveJSON(data.toString());
      if (answer) ws.send(JSON.stringify(answer));
    });
  });
  defer(() => new Promise<void>((r) => wss.close(() => r())));
  return { url: `http://127.0.0.1:${(wss.address() as { port: number }).port}`, arrived };
}

async function rpcClient(url: string): Promise<{ client: JSONRPCClient; sent: Buffer[] }> {
  const ws = new WebSocket(url);
  defer(() => ws.terminate());
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const sent: Buffer[] = [];
  const client = new JSONRPCClient((request) => {
    const text = JSON.stringify(request);
    sent.push(Buffer.from(text));
    ws.send(text);
  });
  ws.on('message', (d) => client.receive(JSON.parse(d.toString())));
  return { client, sent };
}

describe('op= in fault rules and breakpoints', () => {
  it('the grammar: op= takes a glob of names (a topic’s / included)', () => {
    expect(parseRule('drop op=slow* to=server')).toMatchObject({ op: 'slow*', to: 'server', action: { kind: 'drop' } });
    const c = parseConditions('op=sensors/*/temp');
    expect(c.opRe!.test('sensors/kitchen/temp')).toBe(true);
    expect(c.opRe!.test('sensors/kitchen/humidity')).toBe(false);
    expect(() => parseRule('drop op=')).toThrow(/a condition/);
  });

  it('a fault rule drops the JSON-RPC requests of one method; the others arrive byte for byte; the session’s operations are what was forwarded', async () => {
    const backend = await rpcBackend();
    const ev = appSink();
    const tp = await openTestProxy({ target: backend.url, sinks: [ev.sink], faults: ['drop op=slow* to=server'] });
    const { client, sent } = await rpcClient(tp.wsUrl('/rpc'));
    expect(await client.request('add', { a: 1, b: 2 })).toBe(3);
    void Promise.resolve(client.request('slowReport', {})).catch(() => {});
    expect(await client.request('add', { a: 5, b: 5 })).toBe(10);
    await until(() => backend.arrived.length === 2, 'the two add requests', { seen: () => backend.arrived.map(String) });
    // Bytes out equal bytes in for what the rule did not select.
    expect(backend.arrived.map((b) => b.toString('hex'))).toEqual([sent[0]!, sent[2]!].map((b) => b.toString('hex')));
    const session = ev.sessions[0]!;
    await tp.proxy.closeSession(session.id, 'both', 1000, 'done');
    const end = await ended(ev, session.id);
    // The rule's drop, and the close the test asked for through the API.
    expect(end.altered).toEqual({ drop: 1, close: 1 });
    // The tap decodes what was forwarded: the server answered every request it got.
    const ops = Object.fromEntries(end.ws!.app!.operations.map((o) => [o.operation, o]));
    expect(ops['add']).toMatchObject({ count: 2, unanswered: 0 });
    expect(ops['slowReport']).toBeUndefined();
    expect(codes(ev, session.id)).not.toContain('operation-unanswered');
  });

  it('a breakpoint with op= holds the Socket.IO event of that name only; released, it goes on', async () => {
    const httpServer = http.createServer();
    const sio = new Server(httpServer);
    const got: string[] = [];
    sio.on('connection', (s) => s.onAny((event: string) => got.push(event)));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => sio.close(() => r())));
    const tp = await openTestProxy({
      target: `http://127.0.0.1:${(httpServer.address() as { port: number }).port}`,
      intercept: ['op=checkout to=server'],
    });
    const socket = io(tp.url, { transports: ['websocket'], reconnection: false });
    defer(() => void socket.disconnect());
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    socket.emit('browse', 1);
    socket.emit('checkout', { total: 99 });
    const held = await tp.proxy.breakpoints.next();
    expect(held.data.toString()).toBe('42["checkout",{"total":99}]');
    await until(() => got.includes('browse'), 'the event no breakpoint selects');
    expect(got).toEqual(['browse']);
    tp.proxy.breakpoints.release(held.id, { action: 'forward' });
    await until(() => got.includes('checkout'), 'the released event');
    expect(got).toEqual(['browse', 'checkout']);
  });

  it('a held STOMP CONNECT is shown with its passcode masked (the API and the live view), and forwarded as it was', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => (p.has('v12.stomp') ? 'v12.stomp' : false) });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const got: string[] = [];
    wss.on('connection', (ws) => ws.on('message', (d) => got.push(d.toString())));
    defer(() => new Promise<void>((r) => wss.close(() => r())));
    const tp = await openTestProxy({ target: `http://127.0.0.1:${(wss.address() as { port: number }).port}`, intercept: ['to=server'] });
    const ws = new WebSocket(tp.wsUrl('/stomp'), ['v12.stomp']);
    defer(() => ws.terminate());
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const connect = 'CONNECT\naccept-version:1.2\nhost:/\nlogin:ops\npasscode:hunter2-secret\n\n\0';
    ws.send(connect);
    const held = await tp.proxy.breakpoints.next();
    const listed = (await (await fetch(`http://127.0.0.1:${tp.port}/__wstap/api/held`)).json()) as { held: { id: number; text: string }[] };
    expect(listed.held[0]!.text).toBe(`CONNECT\naccept-version:1.2\nhost:/\nlogin:ops\npasscode:${'*'.repeat('hunter2-secret'.length)}\n\n\0`);
    tp.proxy.breakpoints.release(held.id, { action: 'forward' });
    await until(() => got.length === 1, 'the CONNECT at the broker');
    expect(got[0]).toBe(connect);
  });

  it('Socket.IO middleware refusing a client that comes straight to the WebSocket: socketio-connect-error in its session', async () => {
    const httpServer = http.createServer();
    const sio = new Server(httpServer);
    sio.use((_s, next) => next(new Error('invalid token')));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => sio.close(() => r())));
    const ev = appSink();
    const tp = await openTestProxy({ target: `http://127.0.0.1:${(httpServer.address() as { port: number }).port}`, sinks: [ev.sink] });
    const socket = io(tp.url, { transports: ['websocket'], reconnection: false, auth: { token: 'old' } });
    defer(() => void socket.disconnect());
    expect((await new Promise<Error>((r) => socket.once('connect_error', r))).message).toBe('invalid token');
    await until(() => codes(ev).includes('socketio-connect-error'), 'the finding');
    const f = ev.findings.find((x) => x.f.code === 'socketio-connect-error')!;
    expect(f.session).toBe(ev.sessions[0]!.id);
    expect(f.f.message).toBe('Socket.IO refused the connection to namespace /: "invalid token". The client sees connect_error.');
    expect(f.f.hint).toMatch(/auth option/);
  });
});
