import { describe, expect, it } from 'vitest';
import { decoder } from '../../support/decoder.js';
import { frame, pmd } from '../../support/helpers.js';

describe('FrameDecoder', () => {
  it('decodes the RFC 6455 examples: unmasked "Hello", masked "Hello", ping, fragmented', () => {
    const { d, messages } = decoder('server');
    d.push(Buffer.from('810548656c6c6f', 'hex'), 1);
    d.push(Buffer.from('010348656c800210116c6f', 'hex').subarray(0, 5), 2); // first fragment "Hel"
    d.push(Buffer.from('80026c6f', 'hex'), 3); // final fragment "lo"
    d.push(Buffer.from('890548656c6c6f', 'hex'), 4); // ping "Hello"
    expect(messages.map((m) => [m.kind, m.data.toString(), m.frames])).toEqual([
      ['text', 'Hello', 1],
      ['text', 'Hello', 2],
      ['ping', 'Hello', 1],
    ]);
    expect(messages[1]!.firstByteAt).toBe(2);
    expect(messages[1]!.lastByteAt).toBe(3);
    const c = decoder('client');
    c.d.push(Buffer.from('818537fa213d7f9f4d5158', 'hex'), 1);
    expect(c.messages[0]!.data.toString()).toBe('Hello');
  });

  it('gives the same messages whatever the chunk boundaries (every split point)', () => {
    const wire = Buffer.concat([
      frame(1, 'first message', { mask: true }),
      frame(2, Buffer.alloc(300, 7), { mask: true }),
      frame(1, 'par', { mask: true, fin: false }),
      frame(9, 'ping!', { mask: true }),
      frame(0, 'tial', { mask: true }),
      frame(8, Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]), { mask: true }),
    ]);
    const whole = decoder('client');
    whole.d.push(wire, 0);
    const expected = whole.messages.map((m) => [m.kind, m.data.toString('hex'), m.closeCode]);
    // Messages come out when complete: the ping inside the fragmented message comes first.
    expect(expected.map((e) => e[0])).toEqual(['text', 'binary', 'ping', 'text', 'close']);
    for (let split = 1; split < wire.length; split++) {
      const part = decoder('client');
      part.d.push(wire.subarray(0, split), 0);
      part.d.push(wire.subarray(split), 1);
      expect(part.messages.map((m) => [m.kind, m.data.toString('hex'), m.closeCode])).toEqual(expected);
    }
  });

  it('never modifies the bytes it is given', () => {
    const wire = frame(1, 'masked payload stays masked', { mask: true });
    const copy = Buffer.from(wire);
    decoder('client').d.push(wire, 0);
    expect(wire.equals(copy)).toBe(true);
  });

  it('inflates permessage-deflate messages, keeping the context across messages', async () => {
    const { d, messages } = decoder('server', { deflate: true });
    // Context takeover: the second message refers back to the first, so deflate both in one stream.
    const zlib = await import('node:zlib');
    const deflater = zlib.createDeflateRaw();
    const chunks: Buffer[] = [];
    deflater.on('data', (c: Buffer) => chunks.push(c));
    const compress = (text: string): Promise<Buffer> =>
      new Promise((resolve) => {
        deflater.write(Buffer.from(text));
        deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          const out = Buffer.concat(chunks.splice(0));
          resolve(out.subarray(0, out.length - 4));
        });
      });
    const text = 'the same words again and again, the same words again and again';
    d.push(frame(1, await compress(text), { rsv1: true }), 1);
    d.push(frame(1, await compress(text), { rsv1: true }), 2);
    await d.settled();
    expect(messages[0]!.data.toString()).toBe(text);
    expect(messages[1]!.data.toString()).toBe(text);
    expect(messages[0]!.compressed).toBe(true);
    expect(messages[1]!.wireSize).toBeLessThan(messages[0]!.wireSize);
  });

  it('keeps wire order when a control frame follows a compressed message', async () => {
    const { d, messages } = decoder('server', { deflate: true });
    d.push(Buffer.concat([frame(1, pmd('hello'), { rsv1: true }), frame(9, 'p')]), 1);
    await d.settled();
    expect(messages.map((m) => m.kind)).toEqual(['text', 'ping']);
  });

  it('keeps at most maxMessageBytes of a message and counts the rest', async () => {
    const { d, messages } = decoder('client', { max: 10 });
    d.push(frame(2, Buffer.alloc(1000, 1), { mask: true }), 1);
    const z = decoder('server', { deflate: true, max: 10 });
    z.d.push(frame(1, pmd('x'.repeat(5000)), { rsv1: true }), 1);
    await d.settled();
    await z.d.settled();
    expect(messages[0]).toMatchObject({ size: 1000, truncated: true });
    expect(messages[0]!.data.length).toBe(10);
    expect(z.messages[0]).toMatchObject({ size: 5000, truncated: true });
    expect(z.messages[0]!.data.toString()).toBe('x'.repeat(10));
  });

  it.each([
    ['an unmasked client frame', 'client', frame(1, 'hi'), /unmasked frame from the client/, 'unmasked-client-frame'],
    ['a masked server frame', 'server', frame(1, 'hi', { mask: true }), /masked frame from the server/, 'masked-server-frame'],
    ['RSV1 without deflate', 'server', frame(1, 'hi', { rsv1: true }), /RSV1 bit set without/, 'rsv1-without-deflate'],
    ['RSV2', 'server', Buffer.from([0xa1, 0x00]), /RSV2 or RSV3/, 'rsv2-rsv3'],
    ['a reserved opcode', 'server', Buffer.from([0x83, 0x00]), /reserved opcode 0x3/, 'reserved-opcode'],
    ['an oversize ping', 'server', frame(9, Buffer.alloc(126)), /126-byte payload/, 'control-too-long'],
    ['a fragmented ping', 'server', frame(9, 'x', { fin: false }), /fragmented control frame/, 'fragmented-control'],
    ['a stray continuation', 'server', frame(0, 'x'), /continuation frame without/, 'unexpected-continuation'],
    [
      'a new message inside a fragmented one',
      'server',
      Buffer.concat([frame(1, 'a', { fin: false }), frame(1, 'b')]),
      /still open/,
      'expected-continuation',
    ],
    ['invalid UTF-8 in a text message', 'server', frame(1, Buffer.from([0xc3, 0x28])), /invalid UTF-8 in a text message/, 'invalid-utf8'],
    ['an invalid close code', 'server', frame(8, Buffer.from([0x03, 0xed])), /invalid close code 1005/, 'invalid-close-code'],
    ['a 1-byte close payload', 'server', frame(8, Buffer.from([0x03])), /1-byte payload/, 'close-payload-1-byte'],
  ] as const)('reports %s once, by its stable code, and stops decoding that direction', (_name, from, bytes, detail, rule) => {
    const { d, messages, violations } = decoder(from);
    d.push(bytes, 1);
    d.push(frame(1, 'after', { mask: from === 'client' }), 2);
    expect(violations).toHaveLength(1);
    expect(violations[0]!.detail).toMatch(detail);
    expect(violations[0]!.rule).toBe(rule);
    expect(violations[0]!.from).toBe(from);
    expect(messages.filter((m) => m.data.toString() === 'after')).toEqual([]);
    expect(d.stopped).toBe(true);
  });

  it('reads close codes and reasons, and 1005 for an empty close', () => {
    const { d, messages } = decoder('server');
    d.push(frame(8, Buffer.concat([Buffer.from([0x03, 0xf0]), Buffer.from('Authentication required')])), 1);
    expect(messages[0]).toMatchObject({ kind: 'close', closeCode: 1008, closeReason: 'Authentication required' });
    const e = decoder('server');
    e.d.push(frame(8, Buffer.alloc(0)), 1);
    expect(e.messages[0]).toMatchObject({ closeCode: 1005, closeReason: '' });
  });
});
