/**
 * The frame tap against misbehaving peers: raw frames after a valid 101. Each broken rule
 * of RFC 6455 is reported once as a protocol-error that names the side and the rule,
 * and the proxy goes on forwarding every byte, unchanged, both ways.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Side } from '../../src/session/message.js';
import { closePayload } from '../../src/wire/ws-frame.js';
import { runDeferred } from '../support/cleanup.js';
import {
  frame,
  hasHead,
  KEY,
  openRawBackend,
  openRawClient,
  openTestProxy,
  pmd,
  switchingHead,
  upgradeHead,
  type RawConnection,
  type TestProxy,
} from '../support/helpers.js';
import { tapSink, tapState, type Tap } from '../support/tap.js';
import { sleep, until } from '../support/wait.js';

afterEach(runDeferred);

interface RawSession {
  tp: TestProxy;
  tap: Tap;
  client: RawConnection;
  server: RawConnection;
  /** Bytes each peer received before any frame: the backend's copy of the request head, the client's copy of the 101. */
  clientHead: Buffer;
  serverHead: Buffer;
  /** Writes from one peer and waits until the other has received everything written so far. */
  send(from: Side, bytes: Buffer): Promise<void>;
  /** Every byte each side wrote after the handshake. */
  written: Record<Side, Buffer[]>;
}

/** A raw client and a raw backend with a valid upgrade between them, through the proxy. */
async function rawSession(opts: { deflate?: boolean } = {}): Promise<RawSession> {
  const ext = opts.deflate ? ['Sec-WebSocket-Extensions: permessage-deflate'] : [];
  const backend = await openRawBackend((c) => {
    void c.waitFor(hasHead).then(
      () => c.socket.write(switchingHead(KEY, ext)),
      () => {},
    );
  });
  const tap = tapSink();
  const tp = await openTestProxy({ target: backend.url, sinks: [tap.sink] });
  const client = await openRawClient(tp.port);
  const head = upgradeHead('/ws', opts.deflate ? ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'] : []);
  client.socket.write(head);
  const clientHead = await client.waitFor(hasHead);
  const server = await backend.connection(0);
  const serverHead = await server.waitFor(hasHead);
  // The handshake went through byte for byte.
  expect(serverHead.toString('latin1')).toBe(head);
  expect(clientHead.toString('latin1')).toBe(switchingHead(KEY, ext));
  const written: Record<Side, Buffer[]> = { client: [], server: [] };
  const send = async (from: Side, bytes: Buffer): Promise<void> => {
    written[from].push(bytes);
    (from === 'client' ? client : server).socket.write(bytes);
    const to = from === 'client' ? server : client;
    const base = from === 'client' ? serverHead.length : clientHead.length;
    const total = base + Buffer.concat(written[from]).length;
    await to.waitFor((all) => all.length >= total);
  };
  return { tp, tap, client, server, clientHead, serverHead, send, written };
}

/** What the other peer received after the handshake must be exactly what was written. */
function expectForwardedExactly(s: RawSession): void {
  const toServer = s.server.received().subarray(s.serverHead.length);
  const toClient = s.client.received().subarray(s.clientHead.length);
  const fromClient = Buffer.concat(s.written.client);
  const fromServer = Buffer.concat(s.written.server);
  expect(toServer.toString('hex')).toBe(fromClient.toString('hex'));
  expect(toClient.toString('hex')).toBe(fromServer.toString('hex'));
  expect(toServer.equals(fromClient)).toBe(true);
  expect(toClient.equals(fromServer)).toBe(true);
}

const withBits = (f: Buffer, bits: number): Buffer => {
  const copy = Buffer.from(f);
  copy[0] = copy[0]! | bits;
  return copy;
};

/** Client frames are masked unless the case says otherwise. */
const c = (opcode: number, payload: Buffer | string, opts: { fin?: boolean; rsv1?: boolean } = {}): Buffer =>
  frame(opcode, payload, { mask: true, ...opts });
const s = (opcode: number, payload: Buffer | string, opts: { fin?: boolean; rsv1?: boolean } = {}): Buffer => frame(opcode, payload, opts);

interface ViolationCase {
  name: string;
  from: Side;
  bad: Buffer;
  rule: RegExp;
}

const CASES: ViolationCase[] = [
  {
    name: 'invalid UTF-8 in a text message from the server',
    from: 'server',
    bad: s(0x1, Buffer.from([0x68, 0x69, 0xc3, 0x28, 0xff])),
    rule: /invalid UTF-8 in a text message/,
  },
  {
    name: 'invalid UTF-8 split across a fragmented text message from the client',
    from: 'client',
    bad: Buffer.concat([c(0x1, Buffer.from([0x61, 0xe2, 0x82]), { fin: false }), c(0x0, Buffer.from([0x41]))]),
    rule: /invalid UTF-8 in a text message/,
  },
  {
    name: 'an unmasked frame from the client',
    from: 'client',
    bad: frame(0x1, 'not masked', { mask: false }),
    rule: /unmasked frame from the client/,
  },
  { name: 'a masked frame from the server', from: 'server', bad: frame(0x1, 'masked', { mask: true }), rule: /masked frame from the server/ },
  { name: 'RSV2 set (server)', from: 'server', bad: withBits(s(0x2, Buffer.from([1, 2, 3])), 0x20), rule: /RSV2/ },
  { name: 'RSV3 set (client)', from: 'client', bad: withBits(c(0x1, 'rsv3'), 0x10), rule: /RSV3/ },
  {
    name: 'RSV1 set without a negotiated permessage-deflate',
    from: 'client',
    bad: c(0x1, 'x', { rsv1: true }),
    rule: /RSV1 bit set without a negotiated permessage-deflate/,
  },
  { name: 'a ping with a 126-byte payload', from: 'client', bad: c(0x9, Buffer.alloc(126, 0x61)), rule: /control frame with a 126-byte payload/ },
  { name: 'a fragmented ping (FIN 0)', from: 'server', bad: s(0x9, 'p', { fin: false }), rule: /fragmented control frame/ },
  { name: 'close code 1005 on the wire', from: 'server', bad: s(0x8, closePayload(1005)), rule: /invalid close code 1005/ },
  { name: 'close code 999', from: 'client', bad: c(0x8, closePayload(999, 'nope')), rule: /invalid close code 999/ },
  { name: 'a close frame with a 1-byte payload', from: 'server', bad: s(0x8, Buffer.from([0x03])), rule: /1-byte payload/ },
  {
    name: 'a close reason that is not UTF-8',
    from: 'client',
    bad: c(0x8, Buffer.concat([closePayload(1000), Buffer.from([0xff, 0xfe])])),
    rule: /UTF-8 in the close reason/,
  },
  { name: 'a continuation frame with no message started', from: 'client', bad: c(0x0, 'continued?'), rule: /continuation frame without a message/ },
  {
    name: 'a new data frame inside a fragmented message',
    from: 'server',
    bad: Buffer.concat([s(0x1, 'open ', { fin: false }), s(0x2, 'new')]),
    rule: /fragmented message is still open/,
  },
  {
    name: 'a data frame after the close frame',
    from: 'server',
    bad: Buffer.concat([s(0x8, closePayload(1000, 'bye')), s(0x1, 'too late')]),
    rule: /a frame after the close frame/,
  },
  {
    name: 'a 64-bit payload length with the most significant bit set',
    from: 'server',
    bad: Buffer.from([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]),
    rule: /64-bit payload length/,
  },
  { name: 'a reserved opcode (0x3)', from: 'server', bad: s(0x3, 'reserved'), rule: /reserved opcode 0x3/ },
  { name: 'a reserved control opcode (0xb)', from: 'client', bad: c(0xb, 'reserved'), rule: /reserved opcode 0xb/ },
];

describe('frame tap: protocol errors from a misbehaving peer', () => {
  it.each(CASES)('$name: protocol-error naming the $from, every byte still forwarded', async ({ from, bad, rule }) => {
    const sess = await rawSession();
    const other: Side = from === 'client' ? 'server' : 'client';
    const mk = (side: Side, text: string): Buffer => (side === 'client' ? c(0x1, text) : s(0x1, text));

    // Good traffic both ways first: decoded.
    await sess.send(from, mk(from, `${from} before`));
    await sess.send(other, mk(other, `${other} before`));
    // The bad frame, then more frames and bytes after it from the same side.
    await sess.send(from, bad);
    await sess.send(from, mk(from, `${from} after the bad frame`));
    await sess.send(from, Buffer.from([0x00, 0xff, 0x7f, 0x80, 0x01]));
    // The other direction keeps working, decoding included.
    await sess.send(other, mk(other, `${other} after`));
    await until(() => sess.tap.findings.length >= 1, 'the protocol-error finding', { seen: () => tapState(sess.tap) });

    expectForwardedExactly(sess);
    const errors = sess.tap.findings.filter((f) => f.code === 'protocol-error');
    expect(errors).toHaveLength(1);
    expect(sess.tap.findings).toHaveLength(1);
    expect(errors[0]!.severity).toBe('error');
    expect(errors[0]!.message).toMatch(new RegExp(`^The ${from} sent `));
    expect(errors[0]!.message).toMatch(rule);
    expect(errors[0]!.message).toMatch(/forwarded the bytes unchanged/);

    const texts = (side: Side): string[] => sess.tap.msgs.filter((m) => m.from === side && m.kind === 'text').map((m) => m.data.toString());
    expect(texts(from)).toEqual([`${from} before`]);
    await until(() => texts(other).length === 2, `the ${other}'s messages decoded`, { seen: () => texts(other) });
    expect(texts(other)).toEqual([`${other} before`, `${other} after`]);

    // Still forwarding after all that; then both close.
    await sess.send(other, mk(other, 'one more'));
    expectForwardedExactly(sess);
    sess.client.socket.end();
    sess.server.socket.end();
    const { session, end } = await sess.tp.nextEnd();
    // The session's record keeps its handshake findings; the tunnel's come with its end.
    expect(session.findings.filter((f) => f.code === 'protocol-error')).toHaveLength(0);
    expect(end.findings.filter((f) => f.code === 'protocol-error')).toEqual(errors);
    expect(end.ws!.traffic[from].blind).toBe(true);
    expect(end.ws!.traffic[other].blind).toBeUndefined();
    expect(end.ws!.traffic[other].messages).toBe(3);
    expect(end.bytes.clientToServer).toBe(Buffer.concat(sess.written.client).length);
    expect(end.bytes.serverToClient).toBe(Buffer.concat(sess.written.server).length);
  });

  it('RSV1 on a control frame with permessage-deflate negotiated is a protocol error too', async () => {
    const sess = await rawSession({ deflate: true });
    await sess.send('server', s(0x9, 'ping', { rsv1: true }));
    await sess.send('server', s(0x1, 'after'));
    await until(() => sess.tap.findings.length >= 1, 'the finding', { seen: () => tapState(sess.tap) });
    expectForwardedExactly(sess);
    expect(sess.tap.findings.map((f) => f.code)).toEqual(['protocol-error']);
    expect(sess.tap.findings[0]!.message).toMatch(/^The server sent RSV1 bit set on a continuation or control frame/);
  });

  it('a compressed message that is not valid deflate data: protocol-error, bytes forwarded', async () => {
    const sess = await rawSession({ deflate: true });
    await sess.send('server', s(0x1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13]), { rsv1: true }));
    await sess.send('server', s(0x1, 'after'));
    await until(() => sess.tap.findings.length >= 1, 'the finding', { seen: () => tapState(sess.tap) });
    expectForwardedExactly(sess);
    expect(sess.tap.findings.map((f) => f.code)).toEqual(['protocol-error']);
    expect(sess.tap.findings[0]!.message).toMatch(/^The server sent invalid compressed data/);
  });
});

// --- decoding at the edges with raw peers ---------------------------------------------------

describe('frame tap: raw peers, decoding at the edges', () => {
  it('frames written one byte at a time decode the same (masked, extended length, fragmented, ping inside)', async () => {
    const sess = await rawSession();
    sess.client.socket.setNoDelay(true);
    const payload = Buffer.from('z'.repeat(130));
    const bytes = Buffer.concat([c(0x1, payload), c(0x2, Buffer.from([1, 2, 3]), { fin: false }), c(0x9, 'in between'), c(0x0, Buffer.from([4, 5]))]);
    for (const b of bytes) {
      sess.client.socket.write(Buffer.from([b]));
      // Kept on purpose: writes a moment apart reach the proxy as separate reads, which is what this test is about.
      await sleep(1);
    }
    sess.written.client.push(bytes);
    await sess.server.waitFor((all) => all.length >= sess.serverHead.length + bytes.length);
    await until(() => sess.tap.msgs.length >= 3, 'three messages', { seen: () => tapState(sess.tap) });
    expectForwardedExactly(sess);
    expect(sess.tap.findings).toEqual([]);
    const got = sess.tap.msgs.map((m) => [m.from, m.kind, m.data.toString('hex'), m.frames]);
    expect(got).toContainEqual(['client', 'text', payload.toString('hex'), 1]);
    expect(got).toContainEqual(['client', 'binary', '0102030405', 2]);
    expect(got).toContainEqual(['client', 'ping', Buffer.from('in between').toString('hex'), 1]);
    expect(sess.tap.msgs).toHaveLength(3);
  });

  it('a masked frame split at offsets that are not multiples of four decodes the same', async () => {
    const sess = await rawSession();
    const payload = Buffer.from(Array.from({ length: 1000 }, (_, i) => 0x21 + (i % 90)));
    const bytes = c(0x1, payload);
    for (let i = 0; i < bytes.length; i += 37) {
      sess.client.socket.write(bytes.subarray(i, i + 37));
      // Kept on purpose: writes a moment apart reach the proxy as separate reads, which is what this test is about.
      await sleep(1);
    }
    sess.written.client.push(bytes);
    await sess.server.waitFor((all) => all.length >= sess.serverHead.length + bytes.length);
    await until(() => sess.tap.msgs.length >= 1, 'the message', { seen: () => tapState(sess.tap) });
    expectForwardedExactly(sess);
    expect(sess.tap.findings).toEqual([]);
    expect(sess.tap.msgs.map((m) => [m.from, m.kind, m.size, m.frames])).toEqual([['client', 'text', 1000, 1]]);
    expect(sess.tap.msgs[0]!.data.equals(payload)).toBe(true);
  });

  // The tap waits for pending inflation before it summarises the session, so the message and
  // the close frame queued behind it are counted. Messages keep wire order per direction;
  // across directions they carry their arrival times (lastByteAt).
  it('a large compressed message followed at once by the close handshake and the end of both connections is still decoded', async () => {
    const sess = await rawSession({ deflate: true });
    // 16 MB of a repeated pattern compresses to about 24 KB; inflating it takes tens of ms.
    const big = Buffer.alloc(16 * 1024 * 1024, 'abcdefgh');
    const compressed = pmd(big);
    const serverBytes = Buffer.concat([s(0x2, compressed, { rsv1: true }), s(0x8, closePayload(1000, 'done'))]);
    const clientClose = c(0x8, closePayload(1000, 'done'));
    sess.written.server.push(serverBytes);
    sess.written.client.push(clientClose);
    // Peers that do not inflate: the client answers the close as soon as it has the bytes,
    // the backend ends as soon as the answer is in (no polling delay).
    const clientNeeds = sess.clientHead.length + serverBytes.length;
    sess.client.socket.on('data', () => {
      if (sess.client.received().length >= clientNeeds && !sess.client.socket.writableEnded) sess.client.socket.end(clientClose);
    });
    const serverNeeds = sess.serverHead.length + clientClose.length;
    sess.server.socket.on('data', () => {
      if (sess.server.received().length >= serverNeeds && !sess.server.socket.writableEnded) sess.server.socket.end();
    });
    sess.server.socket.write(serverBytes);
    const { end } = await sess.tp.nextEnd();
    expectForwardedExactly(sess);
    const decoded = {
      messages: [...sess.tap.msgs].sort((a, b) => a.lastByteAt - b.lastByteAt).map((m) => [m.from, m.kind, m.size]),
      close: end.ws!.close,
      serverMessages: end.ws!.traffic.server.messages,
      closeFindings: end.findings.filter((f) => f.code.startsWith('close-')).map((f) => f.code),
    };
    expect(decoded).toMatchObject({
      messages: [
        ['server', 'binary', big.length],
        ['server', 'close', 6],
        ['client', 'close', 6],
      ],
      close: { initiator: 'server', code: 1000, reason: 'done', clean: true },
      serverMessages: 2,
      closeFindings: [],
    });
    expect(sess.tap.msgs.find((m) => m.kind === 'binary')).toMatchObject({ compressed: true, truncated: true });
  });
});
