/**
 * The application protocol decoders on the cases the peer tests do not reach: detection
 * rules, STOMP's framing details, the legacy GraphQL protocol, Socket.IO namespaces and
 * MessagePack, engine.io's polling payloads and errors, MQTT 5's DISCONNECT reasons,
 * JSON-RPC's odd ids, and the operation tracker's bounds.
 */
import { describe, expect, it } from 'vitest';
import { PollingTracker } from '../../../src/proxy/polling.js';
import { operationOf } from '../../../src/protocols/graphql.js';
import { detectFromHandshake, parseProtocolChoice } from '../../../src/protocols/registry.js';
import { parseStompFrames } from '../../../src/protocols/stomp.js';
import { eventOrAck } from '../../../src/protocols/socketio.js';
import { Decoder, type Packet } from 'socket.io-parser';
import { AppTap, MAX_OPERATIONS, OperationTracker, OTHER_OPERATION } from '../../../src/tap/app-tap.js';
import type { AppDetection } from '../../../src/session/app.js';
import type { Finding } from '../../../src/session/finding.js';

type Input = Parameters<AppTap['observe']>[0];
const text = (from: 'client' | 'server', s: string, at = 0): Input => ({
  from,
  kind: 'text',
  data: Buffer.from(s),
  truncated: false,
  lastByteAt: at,
});
const binary = (from: 'client' | 'server', b: Buffer, at = 0): Input => ({ from, kind: 'binary', data: b, truncated: false, lastByteAt: at });

function tapFor(start: AppDetection | undefined): { tap: AppTap; raised: Finding[]; lines: (m: Input) => string | undefined } {
  const raised: Finding[] = [];
  const tap = new AppTap(start, (f) => raised.push(f));
  let seq = 0;
  return { tap, raised, lines: (m) => tap.observe(m, ++seq)?.line };
}

describe('detection', () => {
  const hs = (target: string, offered: string[] = [], chosen?: string) => ({ target, offered, ...(chosen !== undefined ? { chosen } : {}) });

  it('--protocol first (the longest path prefix; none turns it off), then the chosen subprotocol, the offer when it is one family, the path', () => {
    const choices = [parseProtocolChoice('json-rpc'), parseProtocolChoice('/graphql=graphql-ws'), parseProtocolChoice('/graphql/legacy=none')];
    expect(detectFromHandshake(hs('/anything'), choices)).toEqual({ protocol: 'json-rpc', by: 'forced' });
    expect(detectFromHandshake(hs('/graphql?x=1'), choices)).toEqual({ protocol: 'graphql-ws', by: 'forced' });
    expect(detectFromHandshake(hs('/graphql/legacy'), choices)).toBe('none');
    expect(detectFromHandshake(hs('/gql', ['graphql-transport-ws'], 'graphql-transport-ws'))).toEqual({ protocol: 'graphql-ws', by: 'subprotocol' });
    // "graphql-ws" is the legacy protocol's subprotocol, confusingly.
    expect(detectFromHandshake(hs('/gql', ['graphql-ws'], 'graphql-ws'))).toEqual({ protocol: 'subscriptions-transport-ws', by: 'subprotocol' });
    expect(detectFromHandshake(hs('/ws', ['v12.stomp', 'v11.stomp']))).toEqual({ protocol: 'stomp', by: 'subprotocol' });
    expect(detectFromHandshake(hs('/ws', ['v12.stomp', 'mqtt']))).toBeUndefined();
    expect(detectFromHandshake(hs('/socket.io/?EIO=4&transport=websocket'))).toEqual({ protocol: 'socket.io', by: 'path' });
    expect(detectFromHandshake(hs('/ws'))).toBeUndefined();
  });

  it('a --protocol that is not one, or a path without its slash, is refused with what is allowed', () => {
    expect(() => parseProtocolChoice('grpc')).toThrow(/unknown protocol "grpc" \(one of socket\.io, graphql-ws/);
    expect(() => parseProtocolChoice('graphql=graphql-ws')).toThrow(/the path must start with \//);
  });

  it('the first data messages tell when the handshake did not; after four without a sign, nothing more is looked at', () => {
    const { tap, lines } = tapFor(undefined);
    for (let i = 0; i < 4; i++) expect(lines(text('client', `plain ${i}`))).toBeUndefined();
    expect(lines(text('client', '{"jsonrpc":"2.0","id":1,"method":"x"}'))).toBeUndefined();
    expect(tap.protocol).toBeUndefined();
    expect(tap.sniffing).toBe(false);
  });
});

describe('STOMP', () => {
  it('frames with CRLF lines, a content-length body that holds a NUL, 1.2 escapes in headers, and heart-beat EOLs between frames', () => {
    const body = Buffer.from('a\0b');
    const data = Buffer.concat([
      Buffer.from('\n'),
      Buffer.from('MESSAGE\r\ndestination:/queue/a\\cb\r\ncontent-length:3\r\n\r\n'),
      body,
      Buffer.from('\0\nRECEIPT\nreceipt-id:r-1\n\n\0'),
    ]);
    const frames = parseStompFrames(data)!;
    expect(frames.map((f) => [f.command, f.headers.get('destination') ?? f.headers.get('receipt-id'), f.bodyBytes])).toEqual([
      ['MESSAGE', '/queue/a:b', 3],
      ['RECEIPT', 'r-1', 0],
    ]);
    expect(parseStompFrames(Buffer.from('\r\n'))).toEqual([]);
    expect(parseStompFrames(Buffer.from('{"not":"stomp"}'))).toBeUndefined();
  });

  it('an ERROR before CONNECTED answers the CONNECT with an error; an Authorization header of a CONNECT is a secret', () => {
    const { tap } = tapFor({ protocol: 'stomp', by: 'forced' });
    const connect = tap.observe(text('client', 'CONNECT\naccept-version:1.2\nAuthorization:Bearer abc.def\n\n\0', 1), 1)!;
    const [a, b] = connect.secrets![0]!;
    expect(Buffer.from('CONNECT\naccept-version:1.2\nAuthorization:Bearer abc.def\n\n\0').subarray(a, b).toString()).toBe('Bearer abc.def');
    const spring = tapFor({ protocol: 'stomp', by: 'forced' }).tap.observe(
      text('client', 'STOMP\naccept-version:1.2\naccess_token:s3cr3t\nX-Api-Key:k3y\n\n\0', 2),
      2,
    )!;
    expect(
      spring.secrets!.map(([a, b]) => Buffer.from('STOMP\naccept-version:1.2\naccess_token:s3cr3t\nX-Api-Key:k3y\n\n\0').subarray(a, b).toString()),
    ).toEqual(['s3cr3t', 'k3y']);
    const err = tap.observe(text('server', 'ERROR\nmessage:Bad CONNECT\n\nAccess refused for user\0', 5), 2)!;
    expect(err.packets[0]).toMatchObject({ type: 'ERROR', error: { message: 'Bad CONNECT' }, answers: { operation: 'CONNECT', ms: 4 } });
  });
});

describe('GraphQL', () => {
  it('the legacy protocol (subscriptions-transport-ws): start, data, keep-alive, complete, by the same ids', () => {
    const { lines } = tapFor({ protocol: 'subscriptions-transport-ws', by: 'subprotocol' });
    expect(lines(text('client', '{"type":"connection_init","payload":{}}'))).toBe('graphql connection_init (with payload)');
    expect(lines(text('server', '{"type":"ka"}'))).toBe('graphql keep-alive');
    expect(lines(text('client', '{"id":"1","type":"start","payload":{"query":"# a comment\\nsubscription OnTick { tick }"}}'))).toBe(
      'graphql start OnTick (subscription, id 1)',
    );
    expect(lines(text('server', '{"id":"1","type":"data","payload":{"data":{"tick":1}}}'))).toBe('graphql data OnTick (id 1)');
    expect(lines(text('client', '{"id":"1","type":"stop"}'))).toBe('graphql stop OnTick (id 1) (cancelled by the client)');
    expect(lines(text('server', '{"type":"bogus"}'))).toBe('graphql bogus (not a message type of subscriptions-transport-ws)');
  });

  it('a subscription that got no event before the end is no unanswered request; a query that got no result is', () => {
    const { tap } = tapFor({ protocol: 'graphql-ws', by: 'subprotocol' });
    tap.observe(text('client', '{"type":"connection_init"}', 0), 1);
    tap.observe(text('server', '{"type":"connection_ack"}', 1), 2);
    tap.observe(text('client', '{"id":"1","type":"subscribe","payload":{"query":"subscription OnMessage { m }"}}', 2), 3);
    tap.observe(text('client', '{"id":"2","type":"subscribe","payload":{"query":"query Slow { s }"}}', 3), 4);
    const end = tap.finish({ initiator: 'client', code: 1000, reason: '', meaning: '', clean: true }, 10);
    expect(end.findings.map((f) => [f.code, f.message])).toEqual([
      ['operation-unanswered', '1 graphql-ws request was never answered before the session closed (1000): query Slow.'],
    ]);
  });

  it('an operation is named by operationName, else the name in its document; an anonymous one by its kind', () => {
    expect(operationOf({ query: '{ hello }' })).toEqual({ kind: 'query', name: 'anonymous' });
    expect(operationOf({ query: 'fragment F on T { a } mutation Save { save }' })).toEqual({ kind: 'mutation', name: 'Save' });
    expect(operationOf({ query: 'query A { a } query B { b }', operationName: 'B' })).toEqual({ kind: 'query', name: 'B' });
  });

  it('a close code of the protocol is explained; an init never acknowledged without one is said; the first operation error too', () => {
    const { tap } = tapFor({ protocol: 'graphql-ws', by: 'subprotocol' });
    tap.observe(text('client', '{"type":"connection_init"}', 0), 1);
    const closed = tap.finish({ initiator: 'server', code: 4408, reason: 'Connection initialisation timeout', meaning: '', clean: true }, 3000);
    expect(closed.findings.map((f) => f.code)).toEqual(['graphql-close']);
    expect(closed.findings[0]!.message).toContain('Connection initialisation timeout: no connection_init within connectionInitWaitTimeout');
    const quiet = tapFor({ protocol: 'graphql-ws', by: 'subprotocol' });
    quiet.tap.observe(text('client', '{"type":"connection_init"}', 0), 1);
    quiet.tap.observe(text('client', '{"id":"9","type":"subscribe","payload":{"query":"query Q { q }"}}', 1), 2);
    quiet.tap.observe(text('server', '{"id":"9","type":"error","payload":[{"message":"Cannot query field q"}]}', 2), 3);
    expect(quiet.tap.finish(undefined, 5000).findings.map((f) => [f.code, f.message])).toEqual([
      ['graphql-init-unacked', 'The client sent connection_init and the server never acknowledged it (5000 ms until the end).'],
      ['graphql-error', 'The GraphQL operation Q ended with an error: "Cannot query field q".'],
    ]);
  });
});

describe('Socket.IO and engine.io', () => {
  it('the fast read of events and acks says what socket.io-parser says (type, namespace, id, event name), and leaves the odd ones to it', () => {
    const viaParser = (text: string): Packet => {
      let out: Packet | undefined;
      const d = new Decoder();
      d.on('decoded', (p: Packet) => (out = p));
      d.add(text);
      return out!;
    };
    for (const text of [
      '2["chat","hi"]',
      '21["chat"]',
      '2/admin,7["kick",{"u":1}]',
      '2["we\\"ird \\u00e9",1]',
      '2["\u00e9t\u00e9"]',
      '3/a,12[true]',
      '35[]',
    ]) {
      const fast = eventOrAck(Buffer.from(`4${text}`));
      const slow = viaParser(text);
      expect({ type: fast!.type, nsp: fast!.nsp, id: fast!.id, name: (fast!.data as unknown[] | undefined)?.[0] }).toEqual({
        type: slow.type,
        nsp: slow.nsp,
        id: slow.id,
        name: slow.type === 2 ? (slow.data as unknown[])[0] : undefined,
      });
    }
    // Not an array, a name that is not a string, an ack without an id, an unterminated name: the parser's business.
    for (const text of ['2{"a":1}', '2[1,2]', '3[true]', '2["open', '2["connect"]', '2["disconnecting",1]', '2["a",}', '2["a",1', '2/x[1,["y"]]'])
      expect(eventOrAck(Buffer.from(`4${text}`)), text).toBeUndefined();
  });

  it('namespaces, acks in a namespace, a MessagePack packet (socket.io-msgpack-parser), a namespace that does not exist', () => {
    const { lines, raised } = tapFor({ protocol: 'socket.io', by: 'path' });
    expect(lines(text('client', '42/admin,5["kick",{"user":1}]'))).toBe('socket.io emit /admin "kick" [ack 5]');
    expect(lines(text('server', '43/admin,5[true]'))).toBe('socket.io ack /admin 5');
    const msgpack = Buffer.from('84a47479706502a36e7370a12fa46461746192a463686174a26869a2696403', 'hex');
    expect(lines(binary('client', msgpack))).toBe('socket.io emit "chat" [ack 3] (msgpack)');
    expect(lines(text('server', '44/nope,{"message":"Invalid namespace"}'))).toBe('socket.io connect_error /nope "Invalid namespace"');
    expect(raised[0]!.hint).toMatch(/^The server has no namespace by that name/);
    // engine.io used on its own: its messages are no Socket.IO packets.
    expect(lines(text('client', '4hello from a plain engine.io app'))).toBe('engine.io message (32 bytes)');
    expect(lines(text('server', '0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'))).toBe(
      'engine.io open (upgrades: none; ping every 25000 ms, timeout 20000 ms)',
    );
  });

  it('polling: a payload of several packets read per session, engine.io errors named (Session ID unknown: sticky sessions), the log note of a refusal', () => {
    const found: Finding[] = [];
    const packets: string[] = [];
    const polling = new PollingTracker({ finding: (f) => found.push(f), packet: (from, line) => packets.push(`${from} ${line}`) });
    const who = '127.0.0.1, /socket.io/ (Socket.IO long-polling)';
    polling.exchange({
      url: '/socket.io/?EIO=4&transport=polling',
      method: 'GET',
      status: 200,
      who,
      response: Buffer.from('0{"sid":"s1","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}'),
    });
    polling.exchange({ url: '/socket.io/?EIO=4&transport=polling&sid=s1', method: 'POST', status: 200, who, request: Buffer.from('40\x1e42["hi"]') });
    const note = polling.exchange({
      url: '/socket.io/?EIO=4&transport=polling&sid=s1',
      method: 'GET',
      status: 200,
      who,
      response: Buffer.from('44{"message":"jwt expired"}'),
    });
    expect(packets).toEqual([
      'server engine.io open (upgrades: websocket; ping every 25000 ms, timeout 20000 ms)',
      'client socket.io connect /',
      'client socket.io emit "hi"',
      'server socket.io connect_error / "jwt expired"',
    ]);
    expect(note).toBe(
      'Socket.IO refused the connection to namespace / during long-polling (CONNECT_ERROR "jwt expired"): the client reports connect_error, as after a 1008',
    );
    expect(found.map((f) => f.code)).toEqual(['socketio-connect-error']);
    polling.exchange({
      url: '/socket.io/?EIO=4&transport=polling&sid=gone',
      method: 'GET',
      status: 400,
      who,
      response: Buffer.from('{"code":1,"message":"Session ID unknown"}'),
    });
    expect(found[1]!.code).toBe('engineio-error');
    expect(found[1]!.message).toBe('engine.io answered a polling request with 400: Session ID unknown (code 1).');
    expect(found[1]!.hint).toMatch(/sticky/);
  });

  it('polling that never upgrades is said once, after enough answers and time (a clock of its own)', () => {
    const found: Finding[] = [];
    let now = 0;
    const polling = new PollingTracker({ finding: (f) => found.push(f), packet: () => {} }, 5000, () => now);
    const who = 'x';
    polling.exchange({
      url: '/socket.io/?EIO=4&transport=polling',
      method: 'GET',
      status: 200,
      who,
      response: Buffer.from('0{"sid":"p","upgrades":["websocket"]}'),
    });
    for (let i = 0; i < 6; i++) {
      now += 2000;
      polling.exchange({ url: '/socket.io/?EIO=4&transport=polling&sid=p', method: 'GET', status: 200, who, response: Buffer.from('2') });
    }
    expect(found.map((f) => f.code)).toEqual(['socketio-no-upgrade']);
    expect(found[0]!.message).toBe(
      'A Socket.IO session long-polled 4 times over 6 s and never upgraded to a WebSocket; the server offered the websocket upgrade.',
    );
  });
});

describe('MQTT and JSON-RPC', () => {
  it('an MQTT 5 DISCONNECT from the broker with "session taken over" is a finding that names the duplicate client id', () => {
    const { tap, raised, lines } = tapFor({ protocol: 'mqtt', by: 'subprotocol' });
    tap.observe(binary('client', Buffer.from('101000044d5154540502003c00000004686f7374', 'hex')), 1);
    expect(lines(binary('server', Buffer.from('e0138e111f000e616e6f7468657220636c69656e74', 'hex')))).toBe(
      'MQTT DISCONNECT: session taken over (0x8e) "another client"',
    );
    expect(raised.map((f) => f.code)).toEqual(['mqtt-disconnect']);
    // An MQTT 5 UNSUBACK that refuses a filter is an error answer.
    tap.observe(binary('client', Buffer.from('a206000100000161', 'hex')), 3);
    const unsuback = tap.observe(binary('server', Buffer.from('b00400010087', 'hex')), 4)!;
    expect(unsuback.packets[0]).toMatchObject({
      type: 'UNSUBACK',
      error: { code: 0x87, message: 'not authorized' },
      answers: { operation: 'UNSUBSCRIBE a' },
    });
    expect(raised[0]!.hint).toMatch(/unique id/);
  });

  it('an MQTT password is masked where the CONNECT has it, not where the same bytes come again in a later packet', () => {
    const { tap } = tapFor({ protocol: 'mqtt', by: 'subprotocol' });
    // CONNECT v3.1.1, client id "c", user "u", password "pw"; then PUBLISH t qos0 with payload "pw", in one message.
    const connect = Buffer.from('101400044d51545404c2003c00016300017500027077', 'hex');
    const publish = Buffer.from('30050001747077', 'hex');
    const data = Buffer.concat([connect, publish]);
    const m = tap.observe(binary('client', data), 1)!;
    expect(m.packets.map((p) => p.type)).toEqual(['CONNECT', 'PUBLISH']);
    expect(m.secrets).toEqual([[connect.length - 2, connect.length]]);
  });

  it('JSON-RPC: string and numeric ids are different ids; an error without an id; a batch of results', () => {
    const { lines } = tapFor({ protocol: 'json-rpc', by: 'forced' });
    expect(lines(text('client', '{"jsonrpc":"2.0","id":"1","method":"a"}'))).toBe('JSON-RPC request a (id "1")');
    expect(lines(text('server', '{"jsonrpc":"2.0","id":1,"result":0}'))).toBe('JSON-RPC result (id 1)');
    expect(lines(text('server', '{"jsonrpc":"2.0","id":"1","result":0}'))).toBe('JSON-RPC result of a (id "1")');
    expect(lines(text('server', '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'))).toBe(
      'JSON-RPC error -32700 (parse error) "Parse error" (id null)',
    );
    expect(lines(text('server', '[{"jsonrpc":"2.0","id":7,"result":1},{"jsonrpc":"2.0","id":8,"result":2}]'))).toBe(
      'JSON-RPC batch of 2: result (id 7); result (id 8)',
    );
    expect(lines(text('server', '{"id":1,"result":2}'))).toBeUndefined();
  });
});

describe('the operation tracker', () => {
  it('an id used again before its answer leaves the first unanswered; the side that started an operation ending it is no answer', () => {
    const t = new OperationTracker();
    t.start('k', 'op', 'client', 0, 1);
    t.start('k', 'op', 'client', 1, 2);
    expect(t.answer('k', true, false, 'server', 5)).toEqual({ operation: 'op', ms: 4, seq: 2 });
    t.start('s', 'sub', 'client', 0, 3);
    expect(t.answer('s', true, false, 'client', 9)).toBeUndefined();
    expect(t.unanswered()).toEqual([]);
    expect(t.operations()).toEqual([
      expect.objectContaining({ operation: 'op', count: 2, unanswered: 1 }),
      expect.objectContaining({ operation: 'sub', count: 1, unanswered: 0 }),
    ]);
  });

  it(`names past ${MAX_OPERATIONS} are counted together as "${OTHER_OPERATION}"`, () => {
    const t = new OperationTracker();
    for (let i = 0; i < MAX_OPERATIONS + 10; i++) t.start(`k${i}`, `method${i}`, 'client', 0, i);
    const ops = t.operations();
    expect(ops).toHaveLength(MAX_OPERATIONS + 1);
    expect(ops[0]).toMatchObject({ operation: OTHER_OPERATION, count: 10 });
  });
});
