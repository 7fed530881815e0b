/**
 * Fidelity of the tunnel: every frame, random bytes in small writes and 5 MB each way at
 * once (backpressure) arrive unchanged; a half-close in either direction leaves the other
 * one open until it ends too.
 * Real sockets on 127.0.0.1, ephemeral ports; raw TCP clients and backends compare the
 * exact bytes at both ends of the proxy.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeferred } from '../support/cleanup.js';
import { atLeast, expectSameBytes, openTunnel, setup } from '../support/fidelity.js';
import { frame, readEnded, socketClosed } from '../support/helpers.js';

afterEach(runDeferred);

describe('tunnel fidelity', () => {
  it('relays text, fragmented, large binary, ping, pong and close frames unchanged both ways', async () => {
    const { backend, tp } = await setup();
    const { client, conn, request, response } = await openTunnel(tp, backend);
    const fromClient = [
      frame(1, 'hello, wörld', { mask: true }),
      // A fragmented text message with a ping between its fragments.
      frame(1, 'frag-', { fin: false, mask: true }),
      frame(9, 'are you there', { mask: true }),
      frame(0, 'men-', { fin: false, mask: true }),
      frame(0, 'ted', { mask: true }),
      frame(2, randomBytes(70 * 1024), { mask: true }),
      frame(9, 'client ping', { mask: true }),
      frame(10, 'client pong', { mask: true }),
      frame(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('client done')]), { mask: true }),
    ];
    const fromServer = [
      frame(1, 'welcome'),
      frame(1, 'srv-', { fin: false }),
      frame(10, 'pong between fragments'),
      frame(0, 'frag', {}),
      frame(2, randomBytes(70 * 1024)),
      frame(9, 'server ping'),
      frame(10, 'server pong'),
      frame(8, Buffer.concat([Buffer.from([0x0f, 0xa1]), Buffer.from('server done')])),
    ];
    // Interleave the two directions, one write per frame.
    for (let i = 0; i < Math.max(fromClient.length, fromServer.length); i++) {
      if (fromClient[i]) client.socket.write(fromClient[i]!);
      if (fromServer[i]) conn.socket.write(fromServer[i]!);
    }
    const up = Buffer.concat([request, ...fromClient]);
    const down = Buffer.concat([response, ...fromServer]);
    expectSameBytes(await conn.waitFor(atLeast(up.length)), up);
    expectSameBytes(await client.waitFor(atLeast(down.length)), down);
  });

  it('relays random bytes in many small writes unchanged both ways', async () => {
    const { backend, tp } = await setup();
    const { client, conn, request, response } = await openTunnel(tp, backend);
    const up: Buffer[] = [];
    const down: Buffer[] = [];
    for (let i = 0; i < 400; i++) {
      const a = randomBytes(1 + ((i * 37) % 200));
      const b = randomBytes(1 + ((i * 53) % 150));
      up.push(a);
      down.push(b);
      client.socket.write(a);
      conn.socket.write(b);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    const upAll = Buffer.concat([request, ...up]);
    const downAll = Buffer.concat([response, ...down]);
    expectSameBytes(await conn.waitFor(atLeast(upAll.length)), upAll);
    expectSameBytes(await client.waitFor(atLeast(downAll.length)), downAll);
  });

  it('relays one 5 MB write each way at the same time unchanged (backpressure)', async () => {
    const { backend, tp } = await setup();
    const { client, conn, request, response } = await openTunnel(tp, backend);
    const a = randomBytes(5 * 1024 * 1024);
    const b = randomBytes(5 * 1024 * 1024);
    client.socket.write(a);
    conn.socket.write(b);
    const upAll = Buffer.concat([request, a]);
    const downAll = Buffer.concat([response, b]);
    expectSameBytes(await conn.waitFor(atLeast(upAll.length), 10_000), upAll);
    expectSameBytes(await client.waitFor(atLeast(downAll.length), 10_000), downAll);
    client.socket.end();
    conn.socket.end();
    const { end } = await tp.nextEnd(1);
    expect(end.bytes).toEqual({ clientToServer: a.length, serverToClient: b.length });
  });
});

describe('half-close', () => {
  it('keeps the server→client direction open after the client ends its writing side', async () => {
    const { backend, tp } = await setup();
    const { client, conn, request, response } = await openTunnel(tp, backend);
    const backendSawEnd = readEnded(conn.socket);
    const clientSawEnd = readEnded(client.socket);
    const last = frame(1, 'last words from the client', { mask: true });
    client.socket.end(last);
    await backendSawEnd;
    expectSameBytes(conn.received(), Buffer.concat([request, last]));
    // The backend can still answer, and the client receives it.
    const reply = Buffer.concat([frame(1, 'still here'), frame(2, randomBytes(20_000))]);
    conn.socket.write(reply);
    expectSameBytes(await client.waitFor(atLeast(response.length + reply.length)), Buffer.concat([response, reply]));
    expect(client.socket.readableEnded).toBe(false);
    const bye = frame(8, Buffer.from([0x03, 0xe8]));
    conn.socket.end(bye);
    await clientSawEnd;
    await Promise.all([socketClosed(client.socket), socketClosed(conn.socket)]);
    expectSameBytes(client.received(), Buffer.concat([response, reply, bye]));
    const { end } = await tp.nextEnd(1);
    expect(end.endedBy).toBe('client');
    expect(end.how).toBe('fin');
    expect(end.bytes).toEqual({ clientToServer: last.length, serverToClient: reply.length + bye.length });
  });

  it('passes the backend ending first to the client, which can still send', async () => {
    const { backend, tp } = await setup();
    const { client, conn, request, response } = await openTunnel(tp, backend);
    const clientSawEnd = readEnded(client.socket);
    const backendSawEnd = readEnded(conn.socket);
    const last = frame(8, Buffer.from([0x03, 0xe8]));
    conn.socket.end(last);
    await clientSawEnd;
    expectSameBytes(client.received(), Buffer.concat([response, last]));
    const answer = frame(8, Buffer.from([0x03, 0xe8]), { mask: true });
    client.socket.end(answer);
    await backendSawEnd;
    await Promise.all([socketClosed(client.socket), socketClosed(conn.socket)]);
    expectSameBytes(conn.received(), Buffer.concat([request, answer]));
    const { end } = await tp.nextEnd(1);
    expect(end.endedBy).toBe('server');
    expect(end.how).toBe('fin');
  });
});
