/**
 * Plain HTTP is visible: a line per forwarded request at debug, and at info the ones that
 * matter to a WebSocket. A Socket.IO client refused during long-polling (connect_error
 * "Authentication required") used to look healthy: it is now a line that says so. Real
 * socket.io 4 server and client; a real HTTP backend.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy, type TestProxy } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function proxy(target: string): Promise<TestProxy> {
  return openTestProxy({ target });
}

const httpLines = (tp: TestProxy) => tp.logs.filter((l) => l['event'] === 'http');

/** Waits for the http line the probe picks; on a timeout, shows the http lines seen. */
const httpLine = <T>(tp: TestProxy, probe: () => T | undefined, what: string): Promise<T> =>
  until(probe, what, { seen: () => httpLines(tp).map((l) => `${String(l['method'])} ${String(l['path'])}`) });

describe('plain HTTP through wstap', () => {
  it('a Socket.IO client refused during long-polling: an info line with the CONNECT_ERROR and its message', async () => {
    const server = http.createServer();
    const sio = new Server(server);
    sio.use((_socket, next) => next(new Error('Authentication required')));
    defer(() => void sio.close());
    const tp = await proxy(await listen(server));
    const client = io(`http://127.0.0.1:${tp.port}`, { transports: ['polling'], reconnection: false });
    defer(() => void client.close());
    const err = await new Promise<Error>((resolve) => client.once('connect_error', resolve));
    expect(err.message).toBe('Authentication required');
    const line = await httpLine(
      tp,
      () => httpLines(tp).find((l) => typeof l['note'] === 'string' && String(l['note']).includes('CONNECT_ERROR')),
      'the CONNECT_ERROR line',
    );
    // The server's answer to the client's CONNECT comes in the next GET poll.
    expect(line).toMatchObject({ level: 30, method: 'GET', status: 200 });
    expect(String(line['note'])).toMatch(
      /^Socket\.IO refused the connection to namespace \/ during long-polling \(CONNECT_ERROR "Authentication required"\): the client reports connect_error/,
    );
    // The successful handshake GET before it is a debug line only.
    expect(httpLines(tp).some((l) => l['level'] === 20 && l['method'] === 'GET' && String(l['path']).startsWith('/socket.io/?EIO=4'))).toBe(true);
  });

  it('a GET on a path that carries WebSockets, and a refusal on one: info lines; anything else: debug', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/ws/status') res.writeHead(404).end('nope');
      else res.end('page');
    });
    const wss = new WebSocketServer({ server });
    defer(() => void wss.close());
    const tp = await proxy(await listen(server));
    const ws = new WebSocket(tp.wsUrl('/live'));
    await new Promise((r) => ws.once('open', r));
    ws.close();
    const get = (path: string): Promise<number> =>
      new Promise((resolve) =>
        http.get(`http://127.0.0.1:${tp.port}${path}`, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }),
      );
    expect(await get('/live')).toBe(200);
    expect(await get('/index.html')).toBe(200);
    expect(await get('/ws/status')).toBe(404);
    const live = await httpLine(tp, () => httpLines(tp).find((l) => l['path'] === '/live'), 'the GET /live line');
    expect(live).toMatchObject({ level: 30, status: 200 });
    expect(String(live['note'])).toMatch(/a GET without Upgrade on \/live, a WebSocket path: a browser opened the WebSocket URL as a page/);
    const refused = await httpLine(tp, () => httpLines(tp).find((l) => l['path'] === '/ws/status'), 'the GET /ws/status line');
    expect(refused).toMatchObject({ level: 30, status: 404, note: 'the backend refused a request on a WebSocket path with 404' });
    const page = await httpLine(tp, () => httpLines(tp).find((l) => l['path'] === '/index.html'), 'the GET /index.html line');
    expect(page).toMatchObject({ level: 20, status: 200 });
    expect(page['note']).toBeUndefined();
  });
});
