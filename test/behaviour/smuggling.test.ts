/**
 * WebSocket smuggling: a backend answer that is not a valid 101 must never open a tunnel.
 * The client gets the backend's answer as it was sent, the connection closes, and no client
 * byte after the upgrade head ever reaches the backend (0ang3el, "websocket-smuggle",
 * scenarios 1 and 2). Real sockets on 127.0.0.1.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runDeferred } from '../support/cleanup.js';
import {
  KEY,
  acceptFor,
  frame,
  hasHead,
  openRawClient,
  proxyInFront,
  socketClosed,
  startRawBackend,
  upgradeHead,
  type RawBackend,
  type RawConnection,
  type TestProxy,
} from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

const SMUGGLED = 'GET /internal HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
const INTERNAL = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\nINTERNAL SECRET!';

/**
 * A backend that keeps speaking HTTP on the connection after its first answer: every further
 * request head it receives is answered with INTERNAL (what an attacker is after).
 * `answer(head)` gives the bytes for the first request on a connection.
 */
async function startHttpSpeakingBackend(answer: (head: string) => string): Promise<RawBackend & { internalRequests: () => number }> {
  let internal = 0;
  const backend = await startRawBackend((c) => {
    // When the proxy closes its side, close ours (the raw backend is half-open by default).
    c.socket.once('end', () => c.socket.end());
    let answered = 0;
    c.socket.on('data', () => {
      const all = c.received().toString('latin1');
      let heads = 0;
      for (let at = all.indexOf('\r\n\r\n'); at >= 0; at = all.indexOf('\r\n\r\n', at + 4)) heads++;
      for (; answered < heads; answered++) {
        if (answered === 0) {
          const firstHead = all.slice(0, all.indexOf('\r\n\r\n') + 4);
          c.socket.write(answer(firstHead));
        } else {
          internal++;
          if (!c.socket.destroyed) c.socket.write(INTERNAL);
        }
      }
    });
  });
  return Object.assign(backend, { internalRequests: () => internal });
}

async function setup(answer: (head: string) => string): Promise<{ backend: RawBackend & { internalRequests: () => number }; tp: TestProxy }> {
  return proxyInFront(await startHttpSpeakingBackend(answer));
}

async function connect(port: number): Promise<RawConnection & { sawEnd: Promise<void>; closed: Promise<void> }> {
  const c = await openRawClient(port);
  const sawEnd = new Promise<void>((r) => c.socket.once('end', () => r()));
  const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
  return Object.assign(c, { sawEnd, closed });
}

const latin1 = (b: Buffer): string => b.toString('latin1');

/**
 * The common checks once the client has seen the end of the connection: the backend got the
 * upgrade head and nothing else, on one connection; the client got exactly `clientGets`.
 */
async function expectNothingSmuggled(
  backend: RawBackend & { internalRequests: () => number },
  client: RawConnection & { sawEnd: Promise<void>; closed: Promise<void> },
  head: string,
  clientGets: string,
): Promise<void> {
  await client.sawEnd;
  expect(latin1(client.received())).toBe(clientGets);
  expect(backend.connections).toHaveLength(1);
  const conn = backend.connections[0]!;
  // The proxy closes its backend connection: after that nothing can arrive there any more.
  await conn.ended;
  expect(latin1(conn.received())).toBe(head);
  expect(backend.internalRequests()).toBe(0);
  // The client ends its side too: the proxy lets go of the connection.
  client.socket.end();
  await client.closed;
}

// ---------------------------------------------------------------------------------------------

const CORRECT_ACCEPT = acceptFor(KEY);
const OTHER_ACCEPT = acceptFor('AAAAAAAAAAAAAAAAAAAAAA==');

const invalid101s: { name: string; head: string; problem: RegExp }[] = [
  {
    name: 'no Sec-WebSocket-Accept (0ang3el scenario 2)',
    head: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    problem: /no Sec-WebSocket-Accept/,
  },
  {
    name: 'a wrong Sec-WebSocket-Accept',
    head: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${OTHER_ACCEPT}\r\n\r\n`,
    problem: /Sec-WebSocket-Accept is/,
  },
  {
    name: 'no Upgrade header',
    head: `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${CORRECT_ACCEPT}\r\n\r\n`,
    problem: /no "Upgrade: websocket"/,
  },
  {
    name: 'Upgrade: h2c instead of websocket',
    head: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${CORRECT_ACCEPT}\r\n\r\n`,
    problem: /no "Upgrade: websocket"/,
  },
  {
    name: 'two Sec-WebSocket-Accept lines (one right, one wrong)',
    head: `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${CORRECT_ACCEPT}\r\nSec-WebSocket-Accept: ${OTHER_ACCEPT}\r\n\r\n`,
    problem: /more than one Sec-WebSocket-Accept/,
  },
];

describe('a 101 that is not a valid WebSocket handshake is never tunnelled', () => {
  for (const scenario of invalid101s) {
    it(`${scenario.name}: a request sent after the 101 never reaches the backend`, async () => {
      const { backend, tp } = await setup(() => scenario.head);
      const client = await connect(tp.port);
      const head = upgradeHead('/ws');
      client.socket.write(head);
      await client.waitFor((b) => b.length >= scenario.head.length);
      // The attacker now speaks HTTP on the "WebSocket" connection.
      client.socket.write(SMUGGLED);
      await expectNothingSmuggled(backend, client, head, scenario.head);

      const s = await tp.nextHandshake(1);
      expect(s.outcome).toBe('rejected');
      const f = s.findings.find((x) => x.code === 'upgrade-accept-invalid');
      expect(f?.message).toMatch(scenario.problem);
      expect(f?.severity).toBe('error');
      const entry = tp.logs.find((l) => l['event'] === 'handshake');
      expect(entry?.['outcome']).toBe('rejected');
      expect((entry!['findings'] as { code: string }[]).map((x) => x.code)).toContain('upgrade-accept-invalid');
      expect(tp.ends).toEqual([]);
    });

    it(`${scenario.name}: pipelined bytes after the head and backend bytes after the 101 are dropped`, async () => {
      // The backend sends more right after its 101 (as if it had answered a pipelined request).
      const { backend, tp } = await setup(() => scenario.head + INTERNAL);
      const client = await connect(tp.port);
      const head = upgradeHead('/ws');
      client.socket.write(head + SMUGGLED + latin1(frame(1, 'early frame', { mask: true })));
      await expectNothingSmuggled(backend, client, head, scenario.head);
      const s = await tp.nextHandshake(1);
      expect(s.outcome).toBe('rejected');
      expect(s.findings.map((x) => x.code)).toContain('upgrade-accept-invalid');
    });
  }
});

// ---------------------------------------------------------------------------------------------

const rejections: { name: string; answer: string; body: string; keepsConnection: boolean }[] = [
  {
    name: 'Content-Length body, backend keeps the connection',
    answer:
      'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 31\r\nConnection: keep-alive\r\n\r\nOrigin not allowed: evil.site\r\n',
    body: 'Origin not allowed: evil.site\r\n',
    keepsConnection: true,
  },
  {
    name: 'chunked body',
    answer: 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nOrigin \r\n0c\r\nnot allowed.\r\n0\r\n\r\n',
    body: 'Origin not allowed.',
    keepsConnection: true,
  },
  {
    name: 'body delimited by the connection closing',
    answer: 'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nOrigin not allowed (close-delimited)\n',
    body: 'Origin not allowed (close-delimited)\n',
    keepsConnection: false,
  },
];

describe('a backend that refuses the upgrade', () => {
  for (const r of rejections) {
    it(`403 with a ${r.name}: the client gets the exact bytes, early client bytes never reach the backend`, async () => {
      const { backend, tp } = await proxyInFront(
        await startRawBackend((c) => {
          c.socket.once('end', () => c.socket.end());
          c.waitFor(hasHead).then(
            () => (r.keepsConnection ? c.socket.write(r.answer) : c.socket.end(r.answer)),
            () => {},
          );
        }),
      );
      const client = await connect(tp.port);
      const head = upgradeHead('/ws', ['Origin: http://evil.site']);
      // Frames and a smuggled request right behind the head, before any answer.
      client.socket.write(head + latin1(frame(1, 'hello?', { mask: true })) + SMUGGLED);
      await client.sawEnd;
      expect(latin1(client.received())).toBe(r.answer);
      const conn = backend.connections[0]!;
      await conn.ended;
      expect(latin1(conn.received())).toBe(head);
      expect(backend.connections).toHaveLength(1);
      client.socket.end();
      await client.closed;

      const s = await tp.nextHandshake(1);
      expect(s.outcome).toBe('rejected');
      const f = s.findings.find((x) => x.code === 'upgrade-rejected');
      expect(f?.message).toMatch(/403 Forbidden/);
      // (The exact excerpt of a chunked body is checked separately below.)
      expect(s.upstream?.bodyExcerpt).toContain(r.body);
      expect(tp.ends).toEqual([]);
    });
  }

  // Guards the de-chunking of a rejection body's excerpt: the last chunk ("\r\n0\r\n\r\n") is taken off
  // whole, so no trailing "\r\n" stays in the excerpt (nor in the log's `body`). The bytes relayed to
  // the client are checked above; this is only about the excerpt.
  it('the log excerpt of a chunked rejection body is the decoded body, without chunk framing', async () => {
    const r = rejections.find((x) => x.name === 'chunked body')!;
    const { tp } = await proxyInFront(
      await startRawBackend((c) => {
        c.socket.once('end', () => c.socket.end());
        c.waitFor(hasHead).then(
          () => c.socket.write(r.answer),
          () => {},
        );
      }),
    );
    const client = await connect(tp.port);
    client.socket.write(upgradeHead('/ws'));
    await client.sawEnd;
    client.socket.end();
    const s = await tp.nextHandshake(1);
    expect(s.upstream?.bodyExcerpt).toBe(r.body);
    expect(tp.logs.find((l) => l['event'] === 'handshake')?.['body']).toBe(r.body);
  });

  it('a client that keeps sending after a 403 reaches neither the backend nor a second backend connection', async () => {
    const answer = 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n';
    const { backend, tp } = await setup(() => answer);
    const client = await connect(tp.port);
    const head = upgradeHead('/ws');
    client.socket.write(head);
    await client.waitFor((b) => b.length >= answer.length);
    client.socket.write(SMUGGLED);
    client.socket.write(frame(1, 'anyone?', { mask: true }));
    await expectNothingSmuggled(backend, client, head, answer);
    expect((await tp.nextHandshake(1)).findings.map((x) => x.code)).toContain('upgrade-rejected');
  });
});

// ---------------------------------------------------------------------------------------------

describe('other smuggling shapes', () => {
  it('an upgrade with a wrong Sec-WebSocket-Version (0ang3el scenario 1) is answered by wstap and never reaches the backend', async () => {
    const { backend, tp } = await setup(() => 'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n');
    const client = await connect(tp.port);
    const head = [
      'GET /ws HTTP/1.1',
      'Host: 127.0.0.1',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${KEY}`,
      'Sec-WebSocket-Version: 1337',
      '',
      '',
    ].join('\r\n');
    client.socket.write(head + SMUGGLED);
    await client.sawEnd;
    expect(latin1(client.received())).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(latin1(client.received())).not.toContain('INTERNAL');
    client.socket.end();
    await client.closed;
    expect(backend.connections).toHaveLength(0);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('invalid');
    expect(s.findings.map((x) => x.code)).toContain('handshake-invalid');
  });

  it('after a keep-alive request, an upgrade answered by an invalid 101 does not let a pipelined request through', async () => {
    const bad101 = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n';
    const { backend, tp } = await setup((h) => (/\r\nupgrade:/i.test(h) ? bad101 : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const client = await connect(tp.port);
    client.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const first = await client.waitFor((b) => latin1(b).endsWith('\r\n\r\nok'));
    const head = upgradeHead('/ws');
    client.socket.write(head + SMUGGLED);
    await client.sawEnd;
    expect(latin1(client.received().subarray(first.length))).toBe(bad101);
    await until(() => backend.connections.length === 2, 'two backend connections', { seen: () => `${backend.connections.length} connections` });
    const upgradeConn = backend.connections.find((c) => /\r\nupgrade:/i.test(latin1(c.received())))!;
    await socketClosed(upgradeConn.socket);
    expect(latin1(upgradeConn.received())).toBe(head);
    for (const c of backend.connections) expect(latin1(c.received())).not.toContain('/internal');
    expect(backend.internalRequests()).toBe(0);
    client.socket.end();
    await client.closed;
    const s = await tp.nextHandshake(1);
    expect(s.handshake.headSource).toBe('rebuilt');
    expect(s.outcome).toBe('rejected');
    expect(s.findings.map((x) => x.code)).toContain('upgrade-accept-invalid');
  });
});
