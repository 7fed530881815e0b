/**
 * JSON-RPC 2.0 through wstap, with a real server and client (json-rpc-2.0 over ws): the
 * requests, notifications, results, errors and a batch decoded; each result paired with its
 * request by id and timed per method; the error codes named; a request never answered found.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { JSONRPCClient, JSONRPCErrorException, JSONRPCServer } from 'json-rpc-2.0';
import WebSocket, { WebSocketServer } from 'ws';
import { appSink, codes, ended, lines, packets } from '../support/app.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

async function rpcBackend(): Promise<string> {
  const server = new JSONRPCServer({ errorListener: () => {} });
  server.addMethod('add', ({ a, b }: { a: number; b: number }) => a + b);
  server.addMethod('refuse', () => {
    throw new JSONRPCErrorException('not allowed for this account', -32001);
  });
  server.addMethod('hang', () => new Promise(() => {}));
  server.addMethod('log', () => undefined);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws) => {
    ws.on('message', async (data) => {
      const answer = await server.receiveJSON(data.toString());
      if (answer) ws.send(JSON.stringify(answer));
    });
  });
  defer(() => new Promise<void>((r) => wss.close(() => r())));
  return `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
}

describe('JSON-RPC 2.0 through wstap (json-rpc-2.0 server and client over ws)', () => {
  it('decodes requests, results, errors, notifications and a batch; pairs by id, times each method, names the errors and the unanswered request', async () => {
    const ev = appSink();
    const proxy = await openTestProxy({ target: await rpcBackend(), sinks: [ev.sink] });
    const ws = new WebSocket(proxy.wsUrl('/rpc'));
    defer(() => ws.terminate());
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const client = new JSONRPCClient((request) => {
      ws.send(JSON.stringify(request));
    });
    ws.on('message', (data) => {
      const parsed = JSON.parse(data.toString());
      for (const r of Array.isArray(parsed) ? parsed : [parsed]) client.receive(r);
    });

    // The results are the server's: wstap changed nothing on the way.
    expect(await client.request('add', { a: 2, b: 3 })).toBe(5);
    expect(await client.request('add', { a: 40, b: 2 })).toBe(42);
    await expect(client.request('nope', {})).rejects.toThrow(/not found/i);
    await expect(client.request('refuse', {})).rejects.toThrow('not allowed for this account');
    client.notify('log', { line: 'hello' });
    // A batch, written by hand: two requests in one message, two results in one answer.
    ws.send(
      JSON.stringify([
        { jsonrpc: '2.0', id: 'b1', method: 'add', params: { a: 1, b: 1 } },
        { jsonrpc: '2.0', id: 'b2', method: 'add', params: { a: 2, b: 2 } },
      ]),
    );
    void Promise.resolve(client.request('hang', {})).catch(() => {});
    await until(() => packets(ev).filter((p) => p.type === 'request').length >= 6, 'the requests decoded', { seen: () => lines(ev) });
    await until(() => packets(ev).filter((p) => p.type === 'result').length >= 4, 'the batch answered', { seen: () => lines(ev) });
    ws.close(1000, 'done');
    const session = ev.sessions[0]!;
    const end = await ended(ev, session.id);

    // Detected from the first messages (no subprotocol, an ordinary path).
    expect(session.app).toBeUndefined();
    expect(end.ws?.app).toMatchObject({ protocol: 'json-rpc', by: 'messages' });
    const seen = lines(ev, session.id);
    expect(seen).toContain('→ JSON-RPC request add (id 1)');
    expect(seen).toContain('← JSON-RPC result of add (id 1)');
    expect(seen).toContain('← JSON-RPC error -32601 (method not found) "Method not found" for nope (id 3)');
    expect(seen).toContain('← JSON-RPC error -32001 (server error) "not allowed for this account" for refuse (id 4)');
    expect(seen).toContain('→ JSON-RPC notification log');
    expect(seen).toContain('→ JSON-RPC batch of 2: request add (id "b1"); request add (id "b2")');

    // Every result answers its request: the operation and the time between them.
    const results = packets(ev, session.id).filter((p) => p.type === 'result' || p.type === 'error');
    expect(results).toHaveLength(6);
    for (const r of results) {
      expect(r.answers?.operation).toBe(r.name);
      expect(r.answers!.ms).toBeGreaterThanOrEqual(0);
    }
    const byOp = Object.fromEntries(end.ws!.app!.operations.map((o) => [o.operation, o]));
    expect(byOp['add']).toMatchObject({ count: 4, errors: 0, unanswered: 0 });
    expect(byOp['add']!.latency!.count).toBe(4);
    expect(byOp['nope']).toMatchObject({ count: 1, errors: 1 });
    expect(byOp['hang']).toMatchObject({ count: 1, unanswered: 1 });
    expect(byOp['hang']!.latency).toBeUndefined();

    // The findings: the error responses by code and method, the request never answered.
    expect(codes(ev, session.id)).toEqual(expect.arrayContaining(['jsonrpc-error', 'operation-unanswered']));
    const rpc = end.findings.find((f) => f.code === 'jsonrpc-error')!;
    expect(rpc.message).toContain('-32601 method not found "Method not found" (nope)');
    expect(rpc.hint).toMatch(/method not found/i);
    const unanswered = end.findings.find((f) => f.code === 'operation-unanswered')!;
    expect(unanswered.message).toBe('1 json-rpc request was never answered before the session closed (1000): hang.');
  });
});
