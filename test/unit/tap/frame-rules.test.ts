/**
 * The rules of RFC 6455 a passive reader checks (src/tap/frame-rules.ts), rule by rule: the
 * first rule a frame header or a close payload breaks, with the facts its finding names.
 */
import { isUtf8 } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  checkClosePayload,
  checkHeader,
  invalidDeflate,
  invalidUtf8,
  lengthTooLarge,
  PROTOCOL_RULES,
  type StreamFacts,
} from '../../../src/tap/frame-rules.js';

const FIN = 0x80;
const RSV1 = 0x40;
const server: StreamFacts = { from: 'server', deflate: false, closed: false, inMessage: false };
const client: StreamFacts = { ...server, from: 'client' };
const check = (b0: number, s: Partial<StreamFacts> = {}, h: { masked?: boolean; length?: number } = {}) =>
  checkHeader({ b0, masked: h.masked ?? s.from === 'client', length: h.length ?? 0 }, { ...server, ...s });

describe('checkHeader', () => {
  it('lets valid frames through', () => {
    expect(check(FIN | 0x1)).toBeUndefined();
    expect(check(0x2)).toBeUndefined();
    expect(check(FIN | 0x9, {}, { length: 125 })).toBeUndefined();
    expect(check(FIN | 0x0, { inMessage: true })).toBeUndefined();
    expect(check(FIN | RSV1 | 0x1, { deflate: true })).toBeUndefined();
    expect(check(FIN | 0x1, { from: 'client' })).toBeUndefined();
    expect(check(FIN | 0x8, { inMessage: true })).toBeUndefined();
  });

  it('names a frame after the close frame, and the side that sent it', () => {
    expect(check(FIN | 0x1, { closed: true })).toEqual({
      rule: 'frame-after-close',
      detail: 'a frame after the close frame (servers must not send anything after close, RFC 6455 5.5.1)',
    });
    expect(check(FIN | 0x9, { ...client, closed: true })).toEqual({
      rule: 'frame-after-close',
      detail: 'a frame after the close frame (clients must not send anything after close, RFC 6455 5.5.1)',
    });
  });

  it('names a reserved opcode in hex', () => {
    expect(check(FIN | 0x3)).toEqual({ rule: 'reserved-opcode', detail: 'reserved opcode 0x3' });
    expect(check(FIN | 0xb)).toEqual({ rule: 'reserved-opcode', detail: 'reserved opcode 0xb' });
  });

  it('names RSV2 and RSV3, and RSV1 without deflate', () => {
    expect(check(FIN | 0x20 | 0x1)).toEqual({ rule: 'rsv2-rsv3', detail: 'RSV2 or RSV3 bit set (no negotiated extension defines them)' });
    expect(check(FIN | 0x10 | 0x1)).toEqual({ rule: 'rsv2-rsv3', detail: 'RSV2 or RSV3 bit set (no negotiated extension defines them)' });
    expect(check(FIN | RSV1 | 0x1)).toEqual({ rule: 'rsv1-without-deflate', detail: 'RSV1 bit set without a negotiated permessage-deflate' });
  });

  it('names RSV1 on a continuation or a control frame, even with deflate', () => {
    const detail = 'RSV1 bit set on a continuation or control frame (only the first frame of a message may carry it)';
    expect(check(FIN | RSV1 | 0x0, { deflate: true, inMessage: true })).toEqual({ rule: 'rsv1-not-first', detail });
    expect(check(FIN | RSV1 | 0x8, { deflate: true })).toEqual({ rule: 'rsv1-not-first', detail });
    expect(check(FIN | RSV1 | 0x9, { deflate: true })).toEqual({ rule: 'rsv1-not-first', detail });
    expect(check(FIN | RSV1 | 0x2, { deflate: true })).toBeUndefined();
  });

  it('names the masking each side breaks', () => {
    expect(check(FIN | 0x1, { from: 'client' }, { masked: false })).toEqual({
      rule: 'unmasked-client-frame',
      detail: PROTOCOL_RULES['unmasked-client-frame'],
    });
    expect(check(FIN | 0x1, {}, { masked: true })).toEqual({ rule: 'masked-server-frame', detail: PROTOCOL_RULES['masked-server-frame'] });
  });

  it('names a fragmented control frame, and one longer than 125 bytes with its length', () => {
    expect(check(0x9)).toEqual({ rule: 'fragmented-control', detail: PROTOCOL_RULES['fragmented-control'] });
    expect(check(0x8)).toEqual({ rule: 'fragmented-control', detail: PROTOCOL_RULES['fragmented-control'] });
    expect(check(FIN | 0xa, {}, { length: 126 })).toEqual({
      rule: 'control-too-long',
      detail: 'a control frame with a 126-byte payload (at most 125, RFC 6455 5.5)',
    });
    expect(check(FIN | 0x8, {}, { length: 126 })).toMatchObject({ rule: 'control-too-long' });
  });

  it('names a continuation without a message, and a new message inside one', () => {
    expect(check(FIN | 0x0)).toEqual({ rule: 'unexpected-continuation', detail: PROTOCOL_RULES['unexpected-continuation'] });
    expect(check(FIN | 0x1, { inMessage: true })).toEqual({ rule: 'expected-continuation', detail: PROTOCOL_RULES['expected-continuation'] });
    expect(check(0x2, { inMessage: true })).toEqual({ rule: 'expected-continuation', detail: PROTOCOL_RULES['expected-continuation'] });
  });
});

describe('checkClosePayload', () => {
  const payload = (code: number, reason: Buffer | string = '') => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    return Buffer.concat([b, Buffer.isBuffer(reason) ? reason : Buffer.from(reason)]);
  };

  it('lets an empty payload and a valid code with a UTF-8 reason through', () => {
    expect(checkClosePayload(Buffer.alloc(0), isUtf8)).toBeUndefined();
    expect(checkClosePayload(payload(1000, 'bye é'), isUtf8)).toBeUndefined();
    expect(checkClosePayload(payload(4999), isUtf8)).toBeUndefined();
  });

  it('names a 1-byte payload, an invalid code with its number, and a reason that is no UTF-8', () => {
    expect(checkClosePayload(Buffer.from([3]), isUtf8)).toEqual({ rule: 'close-payload-1-byte', detail: PROTOCOL_RULES['close-payload-1-byte'] });
    expect(checkClosePayload(payload(1005), isUtf8)).toEqual({ rule: 'invalid-close-code', detail: 'invalid close code 1005' });
    expect(checkClosePayload(payload(5000), isUtf8)).toEqual({ rule: 'invalid-close-code', detail: 'invalid close code 5000' });
    expect(checkClosePayload(payload(1000, Buffer.from([0xff])), isUtf8)).toEqual({
      rule: 'close-reason-not-utf8',
      detail: PROTOCOL_RULES['close-reason-not-utf8'],
    });
  });
});

describe('the other breaches', () => {
  it('carry their rule and its text, invalid deflate data with why', () => {
    expect(lengthTooLarge()).toEqual({ rule: 'length-too-large', detail: 'a 64-bit payload length above 2^53 (the most significant bit must be 0)' });
    expect(invalidUtf8()).toEqual({ rule: 'invalid-utf8', detail: 'invalid UTF-8 in a text message (RFC 6455 8.1)' });
    expect(invalidDeflate('bad block')).toEqual({ rule: 'invalid-deflate-data', detail: 'invalid compressed data (bad block)' });
  });
});
