/**
 * Fidelity on connections that carry ordinary HTTP: an upgrade after a keep-alive request
 * (the head rebuilt with names, values, order and duplicates intact), an upgrade pipelined
 * behind a request, and ordinary requests through http-proxy (duplicate headers, header
 * case and order, a 1 MB body, a chunked answer).
 * Real sockets on 127.0.0.1, ephemeral ports; raw TCP clients and backends compare the
 * exact bytes at both ends of the proxy.
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defer, runDeferred } from '../support/cleanup.js';
import { atLeast, bin, expectSameBytes, headerPairs, setup, valuesOf } from '../support/fidelity.js';
import { frame, hasHead, openRawClient, openTestProxy, readEnded, switchingHead, upgradeHead } from '../support/helpers.js';
import { sleep, until } from '../support/wait.js';

afterEach(runDeferred);

describe('keep-alive, then upgrade on the same connection', () => {
  it('relays the upgrade from a rebuilt head with names, values, order and duplicates intact', async () => {
    const { backend, tp } = await setup({
      onConnection: (c) => {
        c.waitFor(hasHead).then(
          (head) => {
            if (/\r\nupgrade:/i.test(head.toString('latin1'))) c.socket.write(switchingHead());
            else c.socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
          },
          () => {},
        );
      },
    });
    const client = await openRawClient(tp.port);
    client.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    const first = await client.waitFor((b) => hasHead(b) && b.toString('latin1').endsWith('\r\n\r\nok'));
    expect(first.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.socket.readableEnded).toBe(false);

    const upgrade = upgradeHead('/ws?v=1', [
      'origin: http://localhost:3000',
      'Authorization: Bearer one',
      'Sec-WebSocket-Protocol: chat',
      'ORIGIN: http://other.example',
      'authorization: Bearer two',
      'sec-websocket-protocol: superchat',
      'Cookie: s=1; t=2',
    ]);
    client.socket.write(upgrade);
    const conn = await until(() => backend.connections.find((c) => /\r\nupgrade:/i.test(c.received().toString('latin1'))), 'upgrade at the backend', {
      seen: () => backend.connections.map((c) => c.received().toString('latin1').split('\r\n')[0]),
    });
    const got = await conn.waitFor(hasHead);
    expect(got.toString('latin1').split('\r\n')[0]).toBe('GET /ws?v=1 HTTP/1.1');
    expect(headerPairs(got)).toEqual(headerPairs(upgrade));
    // The client wrote every line as "Name: value", so even the rebuilt head is byte-identical.
    expectSameBytes(got, bin(upgrade));

    const res = bin(switchingHead());
    const afterFirst = first.length + res.length;
    expectSameBytes((await client.waitFor(atLeast(afterFirst))).subarray(first.length), res);
    const up = frame(1, 'over the reused connection', { mask: true });
    const down = frame(2, randomBytes(3000));
    client.socket.write(up);
    conn.socket.write(down);
    expectSameBytes(await conn.waitFor(atLeast(got.length + up.length)), Buffer.concat([bin(upgrade), up]));
    expectSameBytes((await client.waitFor(atLeast(afterFirst + down.length))).subarray(afterFirst), down);

    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    expect(s.handshake.headSource).toBe('rebuilt');
    expect(s.handshake.origins).toEqual(['http://localhost:3000', 'http://other.example']);
    expect(tp.logs.find((l) => l['event'] === 'handshake')?.['headSource']).toBe('rebuilt');
  });
});

describe('pipelining: an ordinary request and an upgrade in the same write', () => {
  // Guards the order of answers on a pipelined connection: Node emits 'upgrade' as soon as it has parsed
  // the pipelined upgrade request, while the response to the request before it may still be on its way
  // through http-proxy. The proxy holds the upgrade until that response is done: the client reads the
  // 200 first, then the 101 and the frames, and no byte of the 200 lands inside the WebSocket stream.
  it('answers the pipelined request first, then relays the 101 and the frames unchanged', async () => {
    let upgradeAnswered!: () => void;
    const answered = new Promise<void>((r) => (upgradeAnswered = r));
    const down = frame(1, 'first frame from the backend');
    const { tp } = await setup({
      onConnection: (c) => {
        c.socket.once('end', () => c.socket.end());
        c.waitFor(hasHead).then(
          async (head) => {
            if (/\r\nupgrade:/i.test(head.toString('latin1'))) {
              c.socket.write(Buffer.concat([bin(switchingHead()), down]));
              upgradeAnswered();
            } else {
              // A slow backend: this answer comes after the upgrade's (or after 300 ms when a correct proxy
              // holds the upgrade back until this response is done). The 300 ms are real time on purpose:
              // a correct proxy gives no event for "holding the upgrade back", only its absence.
              await Promise.race([answered, sleep(300)]);
              c.socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
            }
          },
          () => {},
        );
      },
    });
    const client = await openRawClient(tp.port);
    client.socket.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n${upgradeHead('/ws')}`);
    const res = bin(switchingHead());
    const got = await client.waitFor((b) => b.includes(res) && b.includes('\r\n\r\nok'));
    const text = got.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const okEnd = text.indexOf('\r\n\r\nok') + 6;
    expectSameBytes((await client.waitFor(atLeast(okEnd + res.length + down.length))).subarray(okEnd), Buffer.concat([res, down]));
  });
});

// ---------------------------------------------------------------------------------------------

describe('ordinary HTTP through http-proxy', () => {
  it('keeps duplicate request headers as separate lines at the backend, and duplicate response headers at the client', async () => {
    const response = [
      'HTTP/1.1 200 OK',
      'Content-Type: text/plain',
      'X-Multi: a',
      'Set-Cookie: s=1; Path=/',
      'X-Multi: b',
      'Set-Cookie: t=2; Path=/; HttpOnly',
      'Content-Length: 5',
      '',
      'hello',
    ].join('\r\n');
    const { backend, tp } = await setup({
      onConnection: (c) =>
        void c.waitFor(hasHead).then(
          () => c.socket.end(response),
          () => {},
        ),
    });
    const client = await openRawClient(tp.port);
    const clientSawEnd = readEnded(client.socket);
    client.socket.write(
      [
        'GET /api/items?q=1 HTTP/1.1',
        'Host: 127.0.0.1',
        'X-Dup: one',
        'Origin: http://a.example',
        'X-Dup: two',
        'Origin: http://b.example',
        'Authorization: Bearer first',
        'Authorization: Bearer second',
        'Connection: close',
        '',
        '',
      ].join('\r\n'),
    );
    const conn = await backend.connection(0);
    const reqPairs = headerPairs(await conn.waitFor(hasHead));
    expect(valuesOf(reqPairs, 'x-dup')).toEqual(['one', 'two']);
    expect(valuesOf(reqPairs, 'origin')).toEqual(['http://a.example', 'http://b.example']);
    expect(valuesOf(reqPairs, 'authorization')).toEqual(['Bearer first', 'Bearer second']);

    await clientSawEnd;
    const got = client.received().toString('latin1');
    const resPairs = headerPairs(got);
    expect(got).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(valuesOf(resPairs, 'x-multi')).toEqual(['a', 'b']);
    expect(valuesOf(resPairs, 'set-cookie')).toEqual(['s=1; Path=/', 't=2; Path=/; HttpOnly']);
    expect(got.slice(got.indexOf('\r\n\r\n') + 4)).toBe('hello');
    expect(tp.handshakes).toEqual([]);
  });

  it('keeps request header names in their case and in their order at the backend', async () => {
    const { backend, tp } = await setup({
      onConnection: (c) =>
        void c.waitFor(hasHead).then(
          () => c.socket.end('HTTP/1.1 204 No Content\r\n\r\n'),
          () => {},
        ),
    });
    const client = await openRawClient(tp.port);
    const sent: [string, string][] = [
      ['host', '127.0.0.1'],
      ['X-UPPER', 'A'],
      ['x-lower', 'b'],
      ['Accept', '*/*'],
      ['X-Mixed-Case', 'c'],
      ['x-dup', 'one'],
      ['X-Dup', 'two'],
      ['user-agent', 'curl/8.0'],
      ['Connection', 'close'],
    ];
    client.socket.write(`GET /api HTTP/1.1\r\n${sent.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`);
    const conn = await backend.connection(0);
    const got = headerPairs(await conn.waitFor(hasHead));
    // Duplicates arrive as separate lines under the first line's name.
    const expected = sent.map(([n, v]): [string, string] => [n === 'X-Dup' ? 'x-dup' : n, v]);
    expect(got).toEqual(expected);
  });

  it('delivers a 1 MB POST body and a chunked response intact', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/upload') {
        const parts: Buffer[] = [];
        req.on('data', (d: Buffer) => parts.push(d));
        req.on('end', () => {
          const body = Buffer.concat(parts);
          res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
          res.end(body);
        });
        return;
      }
      // No Content-Length: Node sends it chunked, in several writes.
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      for (let i = 0; i < 20; i++) res.write(`chunk ${i} ${'x'.repeat(i * 100)}\n`);
      res.end('the end\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    defer(
      () =>
        new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
    );
    const tp = await openTestProxy({ target: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}` });

    const request = (method: string, path: string, body?: Buffer): Promise<{ res: http.IncomingMessage; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: tp.port, method, path, agent: false }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ res, body: Buffer.concat(parts) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      });

    const upload = randomBytes(1024 * 1024);
    const echoed = await request('POST', '/upload', upload);
    expect(echoed.res.statusCode).toBe(200);
    expect(echoed.body.length).toBe(upload.length);
    expect(echoed.body.equals(upload)).toBe(true);

    const chunked = await request('GET', '/stream');
    expect(chunked.res.headers['transfer-encoding']).toBe('chunked');
    let expected = '';
    for (let i = 0; i < 20; i++) expected += `chunk ${i} ${'x'.repeat(i * 100)}\n`;
    expect(chunked.body.toString()).toBe(`${expected}the end\n`);
  });
});
