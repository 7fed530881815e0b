/**
 * The handshake as records (src/upgrade/handshake.ts) and the one change wstap makes to a
 * request head (src/upgrade/rewrite.ts), from heads parsed as the proxy parses them.
 */
import { describe, expect, it } from 'vitest';
import { answerOf, readHandshake } from '../../../src/upgrade/handshake.js';
import { rewriteHead } from '../../../src/upgrade/rewrite.js';
import { parseRequestHead, parseResponseHead } from '../../../src/wire/http-head.js';

const request = (lines: string[]) => parseRequestHead(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
const response = (lines: string[]) => parseResponseHead(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));

const UPGRADE = [
  'Host: backend',
  'Upgrade: websocket',
  'Connection: Upgrade',
  'Sec-WebSocket-Version: 13',
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
];

describe('readHandshake', () => {
  it('reads the origins, the offered subprotocols and extensions, in order', () => {
    const head = request([
      'GET /chat HTTP/1.1',
      ...UPGRADE,
      'Origin: http://a.example',
      'origin: http://b.example',
      'Sec-WebSocket-Protocol: graphql-ws, mqtt',
      'sec-websocket-protocol: stomp',
      'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
      'Sec-WebSocket-Extensions: x-custom',
    ]);
    expect(readHandshake(head, 'rebuilt', 0)).toEqual({
      request: head,
      headSource: 'rebuilt',
      origins: ['http://a.example', 'http://b.example'],
      credentials: [],
      offeredProtocols: ['graphql-ws', 'mqtt', 'stomp'],
      offeredExtensions: ['permessage-deflate; client_max_window_bits', 'x-custom'],
    });
  });

  it('finds the credentials of the target and the headers', () => {
    const head = request(['GET /ws?access_token=abc123secret HTTP/1.1', ...UPGRADE, 'Authorization: Basic dXNlcjpwYXNz']);
    const hs = readHandshake(head, 'wire', 0);
    expect(hs.headSource).toBe('wire');
    expect(hs.origins).toEqual([]);
    expect(hs.offeredProtocols).toEqual([]);
    expect(hs.offeredExtensions).toEqual([]);
    expect(hs.credentials.map((c) => [c.kind, c.name, c.scheme])).toEqual([
      ['authorization', 'Authorization', 'Basic'],
      ['query', 'access_token', undefined],
    ]);
  });
});

describe('answerOf', () => {
  it('keeps the subprotocol and joins the extensions the backend chose', () => {
    const head = response([
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Sec-WebSocket-Protocol: mqtt',
      'Sec-WebSocket-Extensions: permessage-deflate',
      'Sec-WebSocket-Extensions: x-other',
    ]);
    expect(answerOf(head, 12.5)).toEqual({
      response: head,
      handshakeMs: 12.5,
      chosenProtocol: 'mqtt',
      chosenExtensions: 'permessage-deflate, x-other',
    });
  });

  it('has no subprotocol or extensions field when none was chosen', () => {
    const head = response(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket']);
    const answer = answerOf(head, 3);
    expect(answer).toEqual({ response: head, handshakeMs: 3 });
    expect(Object.keys(answer)).toEqual(['response', 'handshakeMs']);
  });

  it('keeps an empty subprotocol line as chosen', () => {
    const head = response(['HTTP/1.1 101 Switching Protocols', 'Sec-WebSocket-Protocol:']);
    expect(answerOf(head, 1)).toHaveProperty('chosenProtocol', '');
  });
});

describe('rewriteHead', () => {
  const twoOrigins = request([
    'GET / HTTP/1.1',
    'Host: backend',
    'Origin: http://a.example',
    'X-Between: 1',
    'Origin: http://b.example',
    'origin: http://c.example',
  ]);

  it('forwards the head as received without --normalize-origin', () => {
    const out = rewriteHead(readHandshake(twoOrigins, 'wire', 0), { normalizeOrigin: false });
    expect(out.originNormalized).toBe(false);
    expect(out.head).toBe(twoOrigins.raw);
  });

  it('keeps only the first Origin line with --normalize-origin, every other byte as received', () => {
    const out = rewriteHead(readHandshake(twoOrigins, 'wire', 0), { normalizeOrigin: true });
    expect(out.originNormalized).toBe(true);
    expect(out.head.toString('latin1')).toBe('GET / HTTP/1.1\r\nHost: backend\r\nOrigin: http://a.example\r\nX-Between: 1\r\n\r\n');
  });

  it('normalises two Origin lines', () => {
    const two = request(['GET / HTTP/1.1', 'Origin: http://a.example', 'Origin: http://b.example']);
    const out = rewriteHead(readHandshake(two, 'wire', 0), { normalizeOrigin: true });
    expect(out.originNormalized).toBe(true);
    expect(out.head.toString('latin1')).toBe('GET / HTTP/1.1\r\nOrigin: http://a.example\r\n\r\n');
  });

  it('changes nothing with --normalize-origin when there is one Origin line or none', () => {
    for (const head of [request(['GET / HTTP/1.1', 'Origin: http://a.example']), request(['GET / HTTP/1.1', 'Host: a'])]) {
      const out = rewriteHead(readHandshake(head, 'wire', 0), { normalizeOrigin: true });
      expect(out).toEqual({ head: head.raw, originNormalized: false });
      expect(out.head).toBe(head.raw);
    }
  });
});
