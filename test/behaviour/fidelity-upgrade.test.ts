/**
 * Fidelity of the upgrade: "the observer must not change what it observes; bytes out equal
 * bytes in". Request and response heads with odd casing, order, duplicates and whitespace,
 * frames in the same write as the 101, early client bytes held until the 101, a head in
 * pieces, and --normalize-origin removing exactly the extra Origin lines.
 * Real sockets on 127.0.0.1, ephemeral ports; raw TCP clients and backends compare the
 * exact bytes at both ends of the proxy.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { runDeferred } from '../support/cleanup.js';
import { atLeast, bin, expectSameBytes, openTunnel, setup } from '../support/fidelity.js';
import { KEY, acceptFor, frame, hasHead, openRawClient, switchingHead, upgradeHead } from '../support/helpers.js';
import { sleep } from '../support/wait.js';

afterEach(runDeferred);

describe('request head fidelity', () => {
  it('forwards an upgrade head with odd casing, order and duplicate lines byte for byte', async () => {
    const { backend, tp } = await setup();
    const head = [
      'GET /ws?room=1&x=%20y HTTP/1.1',
      'host: 127.0.0.1',
      'Origin: http://localhost:3000',
      `sec-websocket-KEY: ${KEY}`,
      'UPGRADE: websocket',
      'Authorization: Bearer first-token',
      'connection: keep-alive, Upgrade',
      'Sec-WebSocket-Protocol: chat',
      'Origin: http://evil.example',
      'sec-websocket-version: 13',
      'authorization: Basic Zm9vOmJhcg==',
      'sec-websocket-protocol: superchat, v2.json',
      'Cookie: session=abc123; theme=dark',
      'X-Custom-Header: Mixed Case Value',
      '',
      '',
    ].join('\r\n');
    await openTunnel(tp, backend, head);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    expect(s.handshake.headSource).toBe('wire');
    expect(s.handshake.origins).toEqual(['http://localhost:3000', 'http://evil.example']);
    expect(s.findings.map((f) => f.code)).toContain('origin-duplicate');
    expect(s.originNormalized).toBe(false);
  });

  it('forwards odd-but-valid whitespace and obs-text unchanged', async () => {
    const { backend, tp } = await setup();
    const head = bin(
      [
        'GET /ws HTTP/1.1',
        'Host:127.0.0.1',
        'Upgrade:\twebsocket',
        'Connection:   Upgrade   ',
        `Sec-WebSocket-Key:${KEY}`,
        'Sec-WebSocket-Version: 13 ',
        'Origin:http://x',
        'X-Trailing: value ',
        'X-Empty:',
        'X-Obs-Text: caf\xe9 \xff',
        '',
        '',
      ].join('\r\n'),
    );
    await openTunnel(tp, backend, head);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    expect(s.handshake.origins).toEqual(['http://x']);
  });
});

describe('response head fidelity', () => {
  it('relays a 101 with odd casing and duplicate extra headers byte for byte', async () => {
    const { backend, tp } = await setup();
    const res = [
      'HTTP/1.1 101 Switching Protocols',
      'upgrade: WebSocket',
      'CONNECTION: upgrade',
      `sec-websocket-ACCEPT: ${acceptFor(KEY)}`,
      'X-Extra: one',
      'x-extra: two',
      'Set-Cookie: a=1; Path=/',
      'set-cookie: b=2; HttpOnly',
      'Server:custom ',
      '',
      '',
    ].join('\r\n');
    await openTunnel(tp, backend, upgradeHead('/ws'), res);
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    expect(s.findings.map((f) => f.code)).not.toContain('upgrade-accept-invalid');
  });

  it('relays frame bytes that arrive in the same TCP write as the 101 head', async () => {
    const { backend, tp } = await setup();
    const client = await openRawClient(tp.port);
    const req = bin(upgradeHead('/ws'));
    client.socket.write(req);
    const conn = await backend.connection(0);
    expectSameBytes(await conn.waitFor(atLeast(req.length)), req);
    const head = bin(switchingHead(KEY, ['X-Extra: same-write']));
    const frames = Buffer.concat([frame(1, 'hello in the same segment'), frame(2, randomBytes(300)), frame(9, 'ping')]);
    conn.socket.write(Buffer.concat([head, frames]));
    expectSameBytes(await client.waitFor(atLeast(head.length + frames.length)), Buffer.concat([head, frames]));
    // And the tunnel is open both ways.
    const up = frame(1, 'after', { mask: true });
    client.socket.write(up);
    expectSameBytes(await conn.waitFor(atLeast(req.length + up.length)), Buffer.concat([req, up]));
    expect((await tp.nextHandshake(1)).outcome).toBe('tunnel');
  });
});

describe('early client bytes', () => {
  it('holds frames sent before the 101 and forwards them unchanged right after it', async () => {
    const { backend, tp } = await setup();
    const client = await openRawClient(tp.port);
    const req = bin(upgradeHead('/ws'));
    const early1 = frame(1, 'sent in the same write as the head', { mask: true });
    const early2 = Buffer.concat([frame(2, randomBytes(5000), { mask: true }), frame(9, 'early ping', { mask: true })]);
    client.socket.write(Buffer.concat([req, early1]));
    const conn = await backend.connection(0);
    await conn.waitFor(atLeast(req.length));
    client.socket.write(early2);
    // Give the proxy every chance to (wrongly) forward the early bytes before the 101: a real-time wait for a negative.
    await sleep(100);
    expectSameBytes(conn.received(), req);
    const res = bin(switchingHead());
    conn.socket.write(res);
    const expected = Buffer.concat([req, early1, early2]);
    expectSameBytes(await conn.waitFor(atLeast(expected.length)), expected);
    expectSameBytes(await client.waitFor(atLeast(res.length)), res);
    // The tunnel goes on.
    const later = frame(1, 'after the 101', { mask: true });
    client.socket.write(later);
    expectSameBytes(await conn.waitFor(atLeast(expected.length + later.length)), Buffer.concat([expected, later]));
  });
});

describe('--normalize-origin', () => {
  it('removes exactly the second and later Origin lines and nothing else', async () => {
    const { backend, tp } = await setup({ normalizeOrigin: true });
    const head = upgradeHead('/ws', [
      'Origin: http://localhost:3000',
      'X-Between: 1',
      'ORIGIN:http://localhost:3000',
      'Cookie: a=b',
      'origin: http://evil.example ',
      'X-After: 2',
    ]);
    const expected = bin(upgradeHead('/ws', ['Origin: http://localhost:3000', 'X-Between: 1', 'Cookie: a=b', 'X-After: 2']));
    const client = await openRawClient(tp.port);
    client.socket.write(head);
    const conn = await backend.connection(0);
    expectSameBytes(await conn.waitFor(hasHead), expected);
    const res = bin(switchingHead());
    conn.socket.write(res);
    expectSameBytes(await client.waitFor(atLeast(res.length)), res);
    const up = frame(1, 'hi', { mask: true });
    client.socket.write(up);
    expectSameBytes(await conn.waitFor(atLeast(expected.length + up.length)), Buffer.concat([expected, up]));

    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    expect(s.originNormalized).toBe(true);
    expect(s.handshake.origins).toEqual(['http://localhost:3000', 'http://localhost:3000', 'http://evil.example']);
    const dup = s.findings.find((f) => f.code === 'origin-duplicate');
    expect(dup?.message).toMatch(/Normalised/);
    const entry = tp.logs.find((l) => l['event'] === 'handshake');
    expect(entry?.['originNormalized']).toBe(true);
  });

  it('forwards a single Origin line unchanged and does not claim a normalisation', async () => {
    const { backend, tp } = await setup({ normalizeOrigin: true });
    await openTunnel(tp, backend, upgradeHead('/ws', ['Origin: http://localhost:3000']));
    const s = await tp.nextHandshake(1);
    expect(s.originNormalized).toBe(false);
    expect(tp.logs.find((l) => l['event'] === 'handshake')?.['originNormalized']).toBeUndefined();
  });
});

describe('a head that arrives in pieces', () => {
  it('forwards a head written one byte at a time, and early frame bytes after it, unchanged', async () => {
    const { backend, tp } = await setup();
    const client = await openRawClient(tp.port);
    client.socket.setNoDelay(true);
    const req = bin(upgradeHead('/ws', ['Origin: http://localhost:3000', 'Origin: http://localhost:3000', 'Cookie: a=1']));
    const early = frame(1, 'early, in pieces', { mask: true });
    const all = Buffer.concat([req, early]);
    for (let i = 0; i < all.length; i++) {
      client.socket.write(all.subarray(i, i + 1));
      await new Promise((r) => setImmediate(r));
    }
    const conn = await backend.connection(0);
    expectSameBytes(await conn.waitFor(atLeast(req.length)), req);
    const res = bin(switchingHead());
    conn.socket.write(res);
    expectSameBytes(await conn.waitFor(atLeast(all.length)), all);
    expectSameBytes(await client.waitFor(atLeast(res.length)), res);
    expect((await tp.nextHandshake(1)).outcome).toBe('tunnel');
  });
});
