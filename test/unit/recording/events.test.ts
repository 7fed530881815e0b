/**
 * The recorder's lines (src/recording/events.ts), event by event, as the exact JSON written
 * (docs/recording-format.md): the open, close and action events from their views, a message
 * by the slow path (an object) and by the fast path (bytes written into the writer's slab),
 * with --record-payloads full, none or a byte limit, cut messages and redaction.
 */
import { describe, expect, it } from 'vitest';
import {
  actionEvent,
  closeEvent,
  fastPayload,
  messageEvent,
  openEvent,
  parsePayloadMode,
  writeMessageLine,
  type PayloadMode,
} from '../../../src/recording/events.js';
import type { JsonlWriter } from '../../../src/recording/jsonl-writer.js';
import type { WsMessage } from '../../../src/session/message.js';
import { wsMessage } from '../../support/messages.js';
import type { EndView, HandshakeView } from '../../../src/views/views.js';

const msg = (over: Partial<WsMessage> & Pick<WsMessage, 'kind' | 'opcode' | 'data'>): WsMessage =>
  wsMessage(over, { from: 'client', headerBytes: 6 });
const text = (s: string | Buffer, over: Partial<WsMessage> = {}): WsMessage =>
  msg({ kind: 'text', opcode: 1, data: Buffer.isBuffer(s) ? s : Buffer.from(s), ...over });
const binary = (b: number[], over: Partial<WsMessage> = {}): WsMessage => msg({ kind: 'binary', opcode: 2, data: Buffer.from(b), ...over });

/** A message event as the line the recorder writes (the slow path). */
const line = (m: WsMessage, mode: PayloadMode = 'full'): string => JSON.stringify(messageEvent('s1', m, 1.5, 1000, mode));

/** A writer that holds what is committed; each reserve gets a slab of exactly the size asked for. */
function slabWriter(): { w: JsonlWriter; lines: string[] } {
  const lines: string[] = [];
  let slab = Buffer.alloc(0);
  const w = {
    reserve(n: number): number {
      slab = Buffer.alloc(n);
      return 0;
    },
    get buffer(): Buffer {
      return slab;
    },
    commit(at: number, end: number): void {
      lines.push(slab.toString('utf8', at, end));
    },
  };
  return { w: w as unknown as JsonlWriter, lines };
}

/** The slow path's event as the fast path's line must parse to (the same fields; their order may differ). */
const parsed = (l: string | undefined): unknown => (l === undefined ? undefined : JSON.parse(l));

/** A message line by the fast path, or undefined when it takes the slow path. */
function fastLine(m: WsMessage, mode: PayloadMode = 'full'): string | undefined {
  const { w, lines } = slabWriter();
  if (!writeMessageLine(w, `{"type":"message","session":"s1","from":"${m.from}",`, m, 1.5, 1000, mode)) return undefined;
  expect(lines).toHaveLength(1);
  return lines[0];
}

describe('parsePayloadMode', () => {
  it('takes full, none and a number of bytes', () => {
    expect(parsePayloadMode('full')).toBe('full');
    expect(parsePayloadMode('none')).toBe('none');
    expect(parsePayloadMode('0')).toBe(0);
    expect(parsePayloadMode('4096')).toBe(4096);
  });

  it('refuses anything else, naming the option', () => {
    for (const bad of ['-1', '1.5', 'all', 'NaN'])
      expect(() => parsePayloadMode(bad)).toThrow(`--record-payloads must be full, none or a number of bytes, not "${bad}"`);
  });
});

const finding = {
  code: 'origin-missing',
  severity: 'warn',
  message: 'no Origin',
  extra: 'not recorded',
} as unknown as HandshakeView['findings'][number];

const handshake = (over: Partial<HandshakeView> = {}): HandshakeView => ({
  session: 's1',
  client: '127.0.0.1:5000',
  startedAt: 1000,
  method: 'GET',
  path: '/ws',
  httpVersion: '1.1',
  origins: [],
  credentials: [],
  subprotocols: { offered: [] },
  extensions: { offered: [] },
  outcome: 'rejected',
  findings: [finding],
  requestHeaders: [{ name: 'Host', value: 'b' }],
  ...over,
});

describe('openEvent', () => {
  it('records a session without an answer: no response fields', () => {
    expect(JSON.stringify(openEvent(handshake({ outcome: 'upstream-error' as HandshakeView['outcome'] })))).toBe(
      '{"type":"open","session":"s1","ts":1000,"client":"127.0.0.1:5000","request":{"method":"GET","path":"/ws","httpVersion":"1.1","headers":[{"name":"Host","value":"b"}]},"outcome":"upstream-error","findings":[{"code":"origin-missing","severity":"warn","message":"no Origin"}]}',
    );
  });

  it('records the answer, its time, the chosen subprotocol and extensions, and the app protocol', () => {
    const v = handshake({
      outcome: 'tunnelled' as HandshakeView['outcome'],
      status: 101,
      reason: 'Switching Protocols',
      responseHeaders: [{ name: 'Upgrade', value: 'websocket' }],
      handshakeMs: 2.5,
      subprotocols: { offered: ['mqtt'], chosen: 'mqtt' },
      extensions: { offered: ['permessage-deflate'], chosen: 'permessage-deflate' },
      app: { protocol: 'mqtt', by: 'subprotocol' } as unknown as HandshakeView['app'],
      findings: [],
    });
    expect(JSON.stringify(openEvent(v))).toBe(
      '{"type":"open","session":"s1","ts":1000,"client":"127.0.0.1:5000","request":{"method":"GET","path":"/ws","httpVersion":"1.1","headers":[{"name":"Host","value":"b"}]},"outcome":"tunnelled","findings":[],"app":{"protocol":"mqtt","by":"subprotocol"},"response":{"status":101,"reason":"Switching Protocols","headers":[{"name":"Upgrade","value":"websocket"}]},"handshakeMs":2.5,"protocol":"mqtt","extensions":"permessage-deflate"}',
    );
  });

  it('records an answer without a reason or headers as empty ones, and no time when there is none', () => {
    const e = openEvent(handshake({ status: 403 }));
    expect(e.response).toEqual({ status: 403, reason: '', headers: [] });
    expect(e).not.toHaveProperty('handshakeMs');
    expect(e).not.toHaveProperty('protocol');
    expect(e).not.toHaveProperty('extensions');
    expect(e).not.toHaveProperty('app');
  });

  it('records a status 0 answer, and a time of 0', () => {
    const e = openEvent(handshake({ status: 0, handshakeMs: 0, subprotocols: { offered: [], chosen: '' }, extensions: { offered: [], chosen: '' } }));
    expect(e).toMatchObject({ response: { status: 0 }, handshakeMs: 0, protocol: '', extensions: '' });
  });
});

describe('actionEvent', () => {
  it('records every field of the action', () => {
    expect(
      JSON.stringify(
        actionEvent({ session: 's1', t: 12.5, kind: 'drop', by: 'rule 1', to: 'server', detail: 'dropped a text message' } as never, 2000),
      ),
    ).toBe('{"type":"action","session":"s1","t":12.5,"ts":2000,"kind":"drop","by":"rule 1","to":"server","detail":"dropped a text message"}');
  });
});

const end = (over: Partial<EndView> = {}): EndView =>
  ({
    session: 's1',
    endedBy: 'client',
    how: 'close',
    durationMs: 50,
    bytes: { clientToServer: 10, serverToClient: 20 },
    findings: [],
    ...over,
  }) as EndView;

const CLOSE = { initiator: 'client', code: 1000, reason: '', meaning: 'normal closure', clean: true } as EndView['close'];
const P = { p50: 1, p90: 2, p99: 3, max: 4, count: 5 } as unknown as NonNullable<EndView['latency']>['requests'];

describe('closeEvent', () => {
  it('records an end without a close summary: no close, messages or latency', () => {
    expect(JSON.stringify(closeEvent(end({ how: 'reset', findings: [finding] } as Partial<EndView>), 50, 1050))).toBe(
      '{"type":"close","session":"s1","t":50,"ts":1050,"endedBy":"client","how":"reset","durationMs":50,"findings":[{"code":"origin-missing","severity":"warn","message":"no Origin"}]}',
    );
  });

  it('notes a shutdown, and records what was altered and the app summary', () => {
    const e = closeEvent(
      end({
        how: 'shutdown',
        altered: { drop: 2 } as unknown as EndView['altered'],
        app: { protocol: 'stomp' } as unknown as EndView['app'],
      } as Partial<EndView>),
      1,
      2,
    );
    expect(e).toMatchObject({ note: 'proxy shutdown', altered: { drop: 2 }, app: { protocol: 'stomp' } });
    expect(closeEvent(end(), 1, 2)).not.toHaveProperty('note');
  });

  it('records the close, the message counts and only the latency numbers there are', () => {
    const messages = {
      client: { messages: 1, data: 1, control: 0, wireBytes: 8, payloadBytes: 2 },
      server: { messages: 0, data: 0, control: 0, wireBytes: 0, payloadBytes: 0 },
    };
    const e = closeEvent(end({ close: CLOSE, messages, latency: { requests: P, correlation: 'id', withoutCorrelation: 3 } }), 50, 1050);
    expect(JSON.stringify(e)).toBe(
      `{"type":"close","session":"s1","t":50,"ts":1050,"endedBy":"client","how":"close","durationMs":50,"findings":[],"close":${JSON.stringify(CLOSE)},"messages":${JSON.stringify(messages)},"latency":{"requests":${JSON.stringify(P)},"correlation":"id"}}`,
    );
    expect(closeEvent(end({ close: CLOSE, latency: { pings: P, inOrder: 2 } }), 0, 0).latency).toEqual({ pings: P, inOrder: 2 });
    const bare = closeEvent(end({ close: CLOSE }), 0, 0);
    expect(bare.latency).toEqual({});
    expect(bare).not.toHaveProperty('messages');
  });
});

describe('messageEvent', () => {
  it('records a text message with its facts, redacted', () => {
    expect(line(text('{"password":"hunter2","n":1}', { compressed: true, frames: 2, wireSize: 40 }))).toBe(
      '{"type":"message","session":"s1","from":"client","t":1.5,"ts":1000,"kind":"text","opcode":1,"frames":2,"compressed":true,"size":28,"wireSize":40,"text":"{\\"password\\":\\"[redacted]\\",\\"n\\":1}"}',
    );
  });

  it('records the latency of an answer and the close code of a close frame', () => {
    expect(line(text('ok', { latency: { ms: 4.25, to: 'request', answers: 1 } }))).toContain('"wireSize":8,"latencyMs":4.25,"text":"ok"}');
    expect(line(text('ok', { latency: { ms: Number.NaN, to: 'request', answers: 1 } }))).not.toContain('latencyMs');
    const close = msg({ kind: 'close', opcode: 8, data: Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]), closeCode: 1000, closeReason: 'bye' });
    expect(line(close)).toBe(
      '{"type":"message","session":"s1","from":"client","t":1.5,"ts":1000,"kind":"close","opcode":8,"frames":1,"compressed":false,"size":5,"wireSize":11,"closeCode":1000,"text":"bye"}',
    );
  });

  it('redacts a close reason and a ping text as free text', () => {
    const reason = 'Bearer abcdefghijklmnop1234';
    const close = msg({ kind: 'close', opcode: 8, data: Buffer.concat([Buffer.from([0x0f, 0xa0]), Buffer.from(reason)]), closeCode: 4000 });
    const ping = msg({ kind: 'ping', opcode: 9, data: Buffer.from(reason) });
    for (const m of [close, ping]) {
      const e = messageEvent('s1', m, 0, 0, 'full');
      expect(e.text).not.toContain('abcdefghijklmnop1234');
      expect(e.text).toContain('[redacted]');
    }
  });

  it('records a binary message, and a ping or pong that is not UTF-8, as base64', () => {
    expect(line(binary([0, 1, 255]))).toBe(
      '{"type":"message","session":"s1","from":"client","t":1.5,"ts":1000,"kind":"binary","opcode":2,"frames":1,"compressed":false,"size":3,"wireSize":9,"base64":"AAH/"}',
    );
    expect(messageEvent('s1', msg({ kind: 'pong', opcode: 10, data: Buffer.from([0xff, 0xfe]) }), 0, 0, 'full')).toMatchObject({ base64: '//4=' });
    expect(messageEvent('s1', msg({ kind: 'pong', opcode: 10, data: Buffer.from('hi') }), 0, 0, 'full')).toMatchObject({ text: 'hi' });
    expect(messageEvent('s1', msg({ kind: 'ping', opcode: 9, data: Buffer.alloc(0) }), 0, 0, 'full')).toMatchObject({ text: '' });
  });

  it('records no payload field for an empty binary message', () => {
    const e = messageEvent('s1', binary([]), 0, 0, 'full');
    expect(e).not.toHaveProperty('base64');
    expect(e).not.toHaveProperty('truncated');
  });

  it('with none, says a payload was omitted, and only when there was one', () => {
    expect(line(text('secret stuff'), 'none')).toBe(
      '{"type":"message","session":"s1","from":"client","t":1.5,"ts":1000,"kind":"text","opcode":1,"frames":1,"compressed":false,"size":12,"wireSize":18,"omitted":true}',
    );
    expect(messageEvent('s1', text(''), 0, 0, 'none')).not.toHaveProperty('omitted');
  });

  it('with a byte limit, cuts a text on a character boundary after redaction and says so', () => {
    expect(messageEvent('s1', text('caf\u00e9!'), 0, 0, 4)).toMatchObject({ text: 'caf', truncated: true });
    expect(messageEvent('s1', text('caf\u00e9!'), 0, 0, 5)).toMatchObject({ text: 'caf\u00e9', truncated: true });
    const exact = messageEvent('s1', text('abcd'), 0, 0, 4);
    expect(exact.text).toBe('abcd');
    expect(exact).not.toHaveProperty('truncated');
    expect(messageEvent('s1', text('abc'), 0, 0, 0)).toMatchObject({ text: '', truncated: true });
  });

  it('with a byte limit, cuts a binary payload and says so', () => {
    expect(messageEvent('s1', binary([1, 2, 3, 4]), 0, 0, 3)).toMatchObject({ base64: 'AQID', truncated: true });
    const exact = messageEvent('s1', binary([1, 2, 3]), 0, 0, 3);
    expect(exact).toMatchObject({ base64: 'AQID' });
    expect(exact).not.toHaveProperty('truncated');
    const none = messageEvent('s1', binary([1, 2]), 0, 0, 0);
    expect(none).toEqual(expect.objectContaining({ truncated: true }));
    expect(none).not.toHaveProperty('base64');
  });

  it('says a pong that is no text and was cut by the limit is cut', () => {
    expect(messageEvent('s1', msg({ kind: 'pong', opcode: 10, data: Buffer.from([0xff, 0xfe, 0xfd]) }), 0, 0, 2)).toMatchObject({
      base64: '//4=',
      truncated: true,
    });
  });

  it('gives a text message the payload rules only, as the fast path does', () => {
    // The JSON field makes it take the slow path; the name=value pair is not a JSON field.
    expect(messageEvent('s1', text('{"password":"x"} token=abcdefgh'), 0, 0, 'full').text).toBe('{"password":"[redacted]"} token=abcdefgh');
    expect(fastLine(text('{"a":1} token=abcdefgh'))).toContain('"text":"{\\"a\\":1} token=abcdefgh"}');
  });

  it('says a binary message kept in part is cut, but not a cut ping', () => {
    expect(messageEvent('s1', binary([1, 2], { size: 10 }), 0, 0, 'full')).toMatchObject({ base64: 'AQI=', truncated: true });
    expect(messageEvent('s1', msg({ kind: 'ping', opcode: 9, data: Buffer.from([0xff]), size: 10 }), 0, 0, 'full')).not.toHaveProperty('truncated');
  });

  it('keeps whole characters of a text the tap cut inside one', () => {
    const cut = (bytes: number[]) => messageEvent('s1', text(Buffer.from(bytes), { size: 100, truncated: true }), 0, 0, 'full');
    // "a" then the first two of the three bytes of "€".
    expect(cut([0x61, 0xe2, 0x82])).toMatchObject({ text: 'a', truncated: true });
    // "a€" whole.
    expect(cut([0x61, 0xe2, 0x82, 0xac])).toMatchObject({ text: 'a\u20ac', truncated: true });
    // "é" whole, then the lead byte of a 4-byte character.
    expect(cut([0xc3, 0xa9, 0xf0])).toMatchObject({ text: '\u00e9' });
    // The first three bytes of a 4-byte character: dropped.
    expect(cut([0x62, 0xf0, 0x9f, 0x98])).toMatchObject({ text: 'b' });
    // Only the first two bytes of a 3-byte character: nothing left.
    expect(cut([0xe2, 0x82])).toMatchObject({ text: '' });
    // The smallest 3-byte lead (U+0800 starts with 0xe0), and the lead 0xc0: cut.
    expect(cut([0x61, 0xe0, 0xa0])).toMatchObject({ text: 'a' });
    expect(cut([0x61, 0xc0])).toMatchObject({ text: 'a' });
    expect(cut([0x61, 0xf0, 0x9f])).toMatchObject({ text: 'a' });
    // A 4-byte character whole.
    expect(cut([0xf0, 0x9f, 0x98, 0x80])).toMatchObject({ text: '\u{1f600}' });
    // Continuation bytes only: kept as they are.
    expect(cut([0x80, 0x80]).text).toBe('\ufffd\ufffd');
    expect(cut([0x61])).toMatchObject({ text: 'a', truncated: true });
  });

  it('masks the ranges an app protocol marks as a credential', () => {
    const m = text('CONNECT pass=hunter2', {
      app: { protocol: 'stomp', packets: [{ type: 'CONNECT' }], line: 'CONNECT', secrets: [[13, 20]] } as unknown as WsMessage['app'],
    });
    const e = messageEvent('s1', m, 0, 0, 'full');
    expect(e.text).not.toContain('hunter2');
    expect(e.app).toEqual({ protocol: 'stomp', line: 'CONNECT', packets: [{ type: 'CONNECT' }] });
  });
});

describe('the fast path (writeMessageLine)', () => {
  it('writes the same line as the slow path for a plain text and a binary message', () => {
    const cases: WsMessage[] = [
      text('{"id":1,"q":"caf\u00e9 \\"x\\"\\n"}'),
      text('plain', { latency: { ms: 2.5, to: 'request', answers: 1 }, from: 'server' }),
      binary([0, 1, 2, 255], { compressed: true, frames: 3 }),
      binary([9, 9, 9, 9, 9], { size: 10_000 }),
      // Its base64 is much longer than its bytes: the room reserved in the slab must say so.
      binary(Array.from({ length: 3000 }, () => 0x61)),
      text('x'.repeat(3000)),
      text('x', { app: { protocol: 'socketio', packets: [{ type: 'EVENT', name: 'chat' }], line: 'EVENT chat' } as unknown as WsMessage['app'] }),
    ];
    for (const m of cases) {
      const fast = fastLine(m);
      expect(fast?.endsWith('}\n')).toBe(true);
      expect(parsed(fast)).toEqual(JSON.parse(line(m)));
    }
  });

  it('writes the same line as the slow path with a byte limit', () => {
    for (const m of [text('caf\u00e9 au lait'), binary([1, 2, 3, 4, 5, 6, 7])]) {
      for (const limit of [0, 1, 4, 5, 100]) {
        const fast = fastLine(m, limit);
        if (fast === undefined) continue;
        expect(parsed(fast)).toEqual(JSON.parse(line(m, limit)));
        // Byte for byte: the same keys in the same order as the slow path writes them.
        expect(fast).toBe(`${line(m, limit)}\n`);
      }
    }
    expect(fastLine(binary([1, 2, 3, 4]), 2)).toBe(
      '{"type":"message","session":"s1","from":"client","t":1.5,"ts":1000,"kind":"binary","opcode":2,"frames":1,"compressed":false,"size":4,"wireSize":10,"base64":"AQI=","truncated":true}\n',
    );
    expect(fastLine(text('caf\u00e9 "x"'), 4)).toBe(
      '{"type":"message","session":"s1","from":"client","t":1.5,"ts":1000,"kind":"text","opcode":1,"frames":1,"compressed":false,"size":9,"wireSize":15,"text":"caf","truncated":true}\n',
    );
    expect(fastLine(text('say "hi"\n', { from: 'server', latency: { ms: 3, to: 'request', answers: 2 } }))).toBe(
      '{"type":"message","session":"s1","from":"server","t":1.5,"ts":1000,"kind":"text","opcode":1,"frames":1,"compressed":false,"size":9,"wireSize":15,"latencyMs":3,"text":"say \\"hi\\"\\n"}\n',
    );
  });

  it('writes a text the tap cut on the fast path, keeping whole characters', () => {
    const m = text(Buffer.from([0x61, 0xe2, 0x82]), { size: 100, truncated: true });
    expect(parsed(fastLine(m))).toEqual(JSON.parse(line(m)));
    expect(fastLine(m)).toContain('"text":"a","truncated":true}');
  });

  it('leaves to the slow path what may hold a secret, control frames, none, and empty binary', () => {
    expect(fastLine(text('{"password":"hunter2"}'))).toBeUndefined();
    expect(fastLine(msg({ kind: 'ping', opcode: 9, data: Buffer.from('a') }))).toBeUndefined();
    expect(fastLine(msg({ kind: 'close', opcode: 8, data: Buffer.from([3, 232]) }))).toBeUndefined();
    expect(fastLine(text('hello'), 'none')).toBeUndefined();
    expect(fastLine(binary([1]), 'none')).toBeUndefined();
    expect(fastLine(binary([]))).toBeUndefined();
    expect(fastLine(binary([1, 2]), 0)).toBeUndefined();
    expect(
      fastLine(text('CONNECT x', { app: { protocol: 'stomp', packets: [], line: 'CONNECT', secrets: [[8, 9]] } as unknown as WsMessage['app'] })),
    ).toBeUndefined();
    // A cut text that is not UTF-8 once its last character is dropped.
    expect(fastLine(text(Buffer.from([0xff, 0x61, 0xe2]), { size: 9, truncated: true }))).toBeUndefined();
  });

  it('says how long the base64 of a binary payload is and whether it was cut', () => {
    for (const n of [1, 2, 3, 4, 5, 6]) {
      const p = fastPayload(binary(Array.from({ length: n }, (_, i) => i)), 'full')!;
      expect(p.field).toBe('base64');
      expect(p.base64Length).toBe(p.bytes.toString('base64').length);
      expect(p.truncated).toBe(false);
    }
    expect(fastPayload(binary([1, 2, 3]), 2)).toMatchObject({ field: 'base64', truncated: true, base64Length: 4 });
    expect(fastPayload(text('abc'), 'full')).toMatchObject({ field: 'text', base64Length: 0, truncated: false });
    expect(fastPayload(text('abc'), 2)).toMatchObject({ field: 'text', truncated: true });
    expect(fastPayload(text('abc', { truncated: true, size: 50 }), 'full')).toMatchObject({ field: 'text', truncated: true });
  });
});
