/**
 * Breakpoints (issue 14): real ws clients and backend through a real proxy. A message the
 * conditions select is held; the ones behind it in its direction wait, the other direction
 * goes on; it is released as it was, edited or dropped (through the API, with the control
 * token, or the library), or forwarded when nobody releases it in time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { openTestProxy, type TestProxy, type TestProxyOptions } from '../support/helpers.js';
import { closeClient, openClient } from '../support/recording.js';
import { sleep, until } from '../support/wait.js';

afterEach(runDeferred);

async function rig(opts: Partial<TestProxyOptions> = {}): Promise<{ tp: TestProxy; got: string[]; sockets: WebSocket[] }> {
  const backend = await startWsServer();
  const got: string[] = [];
  const sockets: WebSocket[] = [];
  backend.wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('message', (d) => got.push(d.toString()));
  });
  const tp = await openTestProxy({ target: backend.url, ...opts });
  return { tp, got, sockets };
}

const api = (tp: TestProxy, method: string, path: string, body?: unknown, token = tp.proxy.controlToken): Promise<Response> =>
  fetch(`http://127.0.0.1:${tp.port}/__wstap/api/${path}`, {
    method,
    headers: token ? { Authorization: `Bearer ${token}` } : {},
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

describe('breakpoints', () => {
  it('a held message is edited and released through the API; the messages behind it keep their order; the other direction goes on', async () => {
    const { tp, got, sockets } = await rig({ intercept: ['to=server match=total'] });
    const c = await openClient(tp.wsUrl('/shop'));
    c.ws.send('browse');
    c.ws.send('{"op":"checkout","total":10,"token":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNpZw"}');
    c.ws.send('after checkout');
    await until(() => (got.includes('browse') ? true : undefined), 'the first message');
    const list = (await (await api(tp, 'GET', 'held', undefined, '')).json()) as {
      held: { id: number; text: string; to: string; session: string }[];
    };
    expect(list.held).toHaveLength(1);
    expect(list.held[0]).toMatchObject({ id: 1, session: 'ws-1', to: 'server' });
    // Reads are redacted, like every read of the API.
    expect(list.held[0]!.text).toContain('"token":"[redacted]"');
    // A real-time wait for a negative: the held message (and the one behind it) do not reach the server.
    await sleep(100);
    expect(got).toEqual(['browse']);
    // The server can still talk to the client meanwhile.
    sockets[0]!.send('server news');
    await until(() => c.received.find((r) => r.text === 'server news'), 'the other direction');
    expect((await api(tp, 'POST', 'held/1', { action: 'forward', text: '{"op":"checkout","total":99}' }, '')).status).toBe(401);
    expect(got).toEqual(['browse']);
    expect((await api(tp, 'POST', 'held/1', { action: 'forward', text: '{"op":"checkout","total":99}' })).status).toBe(200);
    await until(() => (got.length >= 3 ? true : undefined), 'the rest', {
      seen: () => ({ got, held: tp.proxy.breakpoints.held().map((h) => h.data.toString()) }),
    });
    expect(got).toEqual(['browse', '{"op":"checkout","total":99}', 'after checkout']);
    expect((await api(tp, 'POST', 'held/1', { action: 'drop' })).status).toBe(404);
    await closeClient(c);
    const end = await tp.nextEnd();
    expect(end.end.altered).toEqual({ hold: 1, edit: 1 });
  });

  it('the library: intercept(), next() and release() as it was or dropped; added and removed through the API with the token', async () => {
    const { tp, got } = await rig();
    expect((await api(tp, 'POST', 'intercepts', { conditions: 'to=server match=^hold' }, '')).status).toBe(401);
    const added = await api(tp, 'POST', 'intercepts', { conditions: 'to=server match=^hold' });
    expect(added.status).toBe(201);
    expect(await added.json()).toEqual({ id: 1, conditions: 'to=server match=^hold' });
    const c = await openClient(tp.wsUrl('/ws'));
    c.ws.send('hold me');
    const first = await tp.proxy.breakpoints.next();
    expect(first.data.toString()).toBe('hold me');
    tp.proxy.breakpoints.release(first.id, { action: 'forward' });
    c.ws.send('hold and drop');
    c.ws.send('plain');
    const second = await until(() => tp.proxy.breakpoints.held().find((h) => h.data.toString() === 'hold and drop'), 'the second');
    tp.proxy.breakpoints.release(second.id, { action: 'drop' });
    await until(() => (got.length >= 2 ? true : undefined), 'what was let through');
    expect(got).toEqual(['hold me', 'plain']);
    expect((await api(tp, 'DELETE', 'intercepts/1')).status).toBe(200);
    c.ws.send('hold no more');
    await until(() => (got.includes('hold no more') ? true : undefined), 'a message no breakpoint holds');
    await closeClient(c);
  });

  it('nobody releases it: forwarded after --intercept-timeout, with a warning; a closed session lets go of what it held', async () => {
    const { tp, got } = await rig({ intercept: ['to=server'], interceptTimeoutMs: 200 });
    const c = await openClient(tp.wsUrl('/ws'));
    c.ws.send('waits');
    await until(() => (got.includes('waits') ? true : undefined), 'the timeout to forward it', { timeoutMs: 3000 });
    expect(tp.logs.some((l) => l['event'] === 'released' && l['how'] === 'timeout')).toBe(true);
    c.ws.send('left behind');
    await until(() => (tp.proxy.breakpoints.held().length === 1 ? true : undefined), 'held');
    c.ws.terminate();
    await until(() => (tp.proxy.breakpoints.held().length === 0 ? true : undefined), 'let go with the session');
  });
});
