/**
 * The decoder's fast paths against its slow ones: headers read in place or collected
 * across chunks, payloads copied (and unmasked) straight into their message, and
 * permessage-deflate inflated synchronously or, past SYNC_INFLATE_LIMIT, on the thread
 * pool, with one inflater context across both.
 */
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { WsMessage } from '../../../src/session/message.js';
import type { FrameDecoder } from '../../../src/tap/frame-decoder.js';
import { decoder } from '../../support/decoder.js';
import { frame } from '../../support/helpers.js';

/** A permessage-deflate sender with context takeover: each message may refer back to the ones before. */
function deflater(): (data: Buffer | string) => Buffer {
  const z = zlib.createDeflateRaw({ windowBits: 15 });
  const handle = (z as unknown as { _handle: { writeSync(...a: unknown[]): void } })._handle;
  const state = (z as unknown as { _writeState: Uint32Array })._writeState;
  const out = Buffer.alloc(1 << 22);
  return (data) => {
    const input = typeof data === 'string' ? Buffer.from(data) : data;
    handle.writeSync(zlib.constants.Z_SYNC_FLUSH, input, 0, input.length, out, 0, out.length);
    const n = out.length - state[0]!;
    expect(state[1]).toBe(0);
    return Buffer.from(out.subarray(0, n - 4)); // without the 00 00 ff ff trailer
  };
}

const settle = (d: FrameDecoder): Promise<void> => d.settled();

const view = (ms: WsMessage[]) => ms.map((m) => [m.kind, m.size, m.truncated, m.data.toString('hex')]);

describe('FrameDecoder fast paths', () => {
  it('compressed masked messages with context takeover decode the same at every split point', async () => {
    const compress = deflater();
    const texts = ['{"id":1,"type":"hello","data":"the same words"}', '{"id":2,"type":"hello","data":"the same words"}', 'x'.repeat(300)];
    const wire = Buffer.concat([
      ...texts.map((t) => frame(1, compress(t), { mask: true, rsv1: true })),
      frame(9, 'ping', { mask: true }),
      frame(2, Buffer.from([1, 2, 3, 4, 5, 6, 7]), { mask: true }),
    ]);
    const whole = decoder('client', { deflate: true });
    whole.d.push(wire, 0);
    await settle(whole.d);
    expect(whole.messages.map((m) => m.data.toString())).toEqual([...texts, 'ping', '\x01\x02\x03\x04\x05\x06\x07']);
    for (let split = 1; split < wire.length; split++) {
      const part = decoder('client', { deflate: true });
      part.d.push(wire.subarray(0, split), 0);
      part.d.push(wire.subarray(split), 1);
      await settle(part.d);
      expect(view(part.messages)).toEqual(view(whole.messages));
    }
  });

  it('a message past the synchronous limit goes to the thread pool; the context and the wire order carry over', async () => {
    const compress = deflater();
    const big = Buffer.alloc(3 * 1024 * 1024, 'abcdefghijklmnop');
    const small = 'abcdefghijklmnop'.repeat(8);
    // The big message in three fragments with a ping between them, then small ones that refer back.
    const z = compress(big);
    const third = Math.floor(z.length / 3);
    const wire = Buffer.concat([
      frame(2, z.subarray(0, third), { mask: true, rsv1: true, fin: false }),
      frame(9, 'p1', { mask: true }),
      frame(0, z.subarray(third, 2 * third), { mask: true, fin: false }),
      frame(0, z.subarray(2 * third), { mask: true }),
      frame(1, compress(small), { mask: true, rsv1: true }),
      frame(10, 'p2', { mask: true }),
      frame(1, compress(small), { mask: true, rsv1: true }),
    ]);
    const { d, messages, violations } = decoder('client', { deflate: true, max: 1000 });
    for (let i = 0; i < wire.length; i += 4093) d.push(wire.subarray(i, i + 4093), i);
    await settle(d);
    expect(violations).toEqual([]);
    expect(messages.map((m) => [m.kind, m.size, m.truncated, m.frames])).toEqual([
      ['ping', 2, false, 1],
      ['binary', big.length, true, 3],
      ['text', small.length, false, 1],
      ['pong', 2, false, 1],
      ['text', small.length, false, 1],
    ]);
    expect(messages[1]!.data.equals(big.subarray(0, 1000))).toBe(true);
    expect(messages[2]!.data.toString()).toBe(small);
    expect(messages[4]!.data.toString()).toBe(small);
  });

  it('server messages (unmasked) past the limit, then small ones, in order', async () => {
    const compress = deflater();
    const big = Buffer.alloc(1024 * 1024, 'zyxwvut');
    const wire = Buffer.concat([frame(2, compress(big), { rsv1: true }), frame(1, compress('after'), { rsv1: true }), frame(9, 'ping')]);
    const { d, messages } = decoder('server', { deflate: true });
    d.push(wire, 1);
    await settle(d);
    expect(messages.map((m) => [m.kind, m.size])).toEqual([
      ['binary', big.length],
      ['text', 5],
      ['ping', 4],
    ]);
    expect(messages[0]!.data.equals(big)).toBe(true);
  });

  it('invalid deflate data: one violation, nothing after it is reported', async () => {
    const { d, messages, violations } = decoder('server', { deflate: true });
    d.push(Buffer.concat([frame(1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x13]), { rsv1: true }), frame(1, 'after')]), 1);
    await settle(d);
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ rule: 'invalid-deflate-data', detail: expect.stringMatching(/^invalid compressed data \(/) });
    expect(messages).toEqual([]);
    expect(d.stopped).toBe(true);
  });

  it('a masked frame cut anywhere keeps exactly maxMessageBytes across fragments, and never touches its input', () => {
    const payload = Buffer.from(Array.from({ length: 700 }, (_, i) => (i * 7) & 0xff));
    const wire = Buffer.concat([frame(2, payload.subarray(0, 333), { mask: true, fin: false }), frame(0, payload.subarray(333), { mask: true })]);
    const copy = Buffer.from(wire);
    for (const max of [0, 1, 5, 333, 334, 500, 700, 10_000]) {
      for (const step of [1, 3, 4, 13, 64, 1000]) {
        const { d, messages } = decoder('client', { max });
        for (let i = 0; i < wire.length; i += step) d.push(wire.subarray(i, i + step), i);
        expect(messages).toHaveLength(1);
        expect(messages[0]).toMatchObject({ size: 700, truncated: max < 700, frames: 2 });
        expect(messages[0]!.data.equals(payload.subarray(0, Math.min(max, 700)))).toBe(true);
      }
    }
    expect(wire.equals(copy)).toBe(true);
  });

  it('large binary messages: right at any split, truncation and side; data is a copy of its own, an ordinary property', () => {
    const payload = Buffer.from(Array.from({ length: 20_000 }, (_, i) => (i * 13 + 7) & 0xff));
    for (const from of ['client', 'server'] as const) {
      const wire = Buffer.concat([
        frame(2, payload.subarray(0, 9_001), { mask: from === 'client', fin: false }),
        frame(0, payload.subarray(9_001), { mask: from === 'client' }),
      ]);
      const copy = Buffer.from(wire);
      for (const max of [4_096, 9_000, 9_003, 20_000, 1 << 20]) {
        for (const step of [1_000, 4_093, 65_536]) {
          const { d, messages } = decoder(from, { max });
          for (let i = 0; i < wire.length; i += step) d.push(wire.subarray(i, i + step), i);
          const m = messages[0]!;
          expect(m).toMatchObject({ kind: 'binary', size: 20_000, truncated: max < 20_000, frames: 2 });
          expect(m.data.equals(payload.subarray(0, Math.min(max, 20_000)))).toBe(true);
          // The same buffer on every read, a copy of its own (the forwarded bytes stay as they were).
          expect(m.data).toBe(m.data);
          m.data.fill(0);
          expect(wire.equals(copy)).toBe(true);
        }
      }
      const { d, messages } = decoder(from);
      d.push(wire, 0);
      const m = messages[0]!;
      expect(Object.keys(m)).toContain('data');
      expect(JSON.parse(JSON.stringify(m)).data.data).toHaveLength(20_000);
      expect({ ...m }.data.equals(payload)).toBe(true);
      m.data = Buffer.from('replaced');
      expect(m.data.toString()).toBe('replaced');
    }
  });

  it('16-bit and 64-bit lengths, headers split at every byte', () => {
    const a = Buffer.alloc(200, 1);
    const b = Buffer.alloc(70_000, 2);
    const wire = Buffer.concat([frame(2, a, { mask: true }), frame(2, b, { mask: true }), frame(1, 'ok', { mask: true })]);
    for (let split = 1; split < 20; split++) {
      const { d, messages } = decoder('client');
      d.push(wire.subarray(0, split), 0);
      for (let i = split; i < wire.length; i += 9000) d.push(wire.subarray(i, i + 9000), i);
      expect(messages.map((m) => [m.size, m.data.equals(m.size === 200 ? a : m.size === 2 ? Buffer.from('ok') : b)])).toEqual([
        [200, true],
        [70_000, true],
        [2, true],
      ]);
    }
  });
});
