/**
 * The frame decoder's memory is counted in bytes, not in frames: a message of many small
 * fragments is kept in one buffer (exact for one frame, grown by doubling, never past what is
 * kept), and compressed input for the thread pool goes to the inflater in one write per round
 * trip, not one per fragment.
 */
import zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { decoder } from '../../support/decoder.js';
import { frame, pmd } from '../../support/helpers.js';
import { words } from '../../support/tap.js';

/** `payload` as one-byte (or `size`-byte) fragments, masked when from the client. */
function fragments(opcode: number, payload: Buffer, opts: { size?: number; mask: boolean; rsv1?: boolean }): Buffer {
  const size = opts.size ?? 1;
  const frames: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) {
    const first = i === 0;
    frames.push(
      frame(first ? opcode : 0, payload.subarray(i, i + size), {
        mask: opts.mask,
        fin: i + size >= payload.length,
        rsv1: first && (opts.rsv1 ?? false),
      }),
    );
  }
  return Buffer.concat(frames);
}

const restore: (() => void)[] = [];
afterEach(() => {
  for (const r of restore.splice(0)) r();
});

describe('FrameDecoder: memory by bytes', () => {
  it('10,000 one-byte fragments, any chunking, masked or not: the same data, in one buffer at most twice its size', () => {
    const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 13 + 5) & 0xff));
    for (const from of ['client', 'server'] as const) {
      const wire = fragments(2, payload, { mask: from === 'client' });
      const copy = Buffer.from(wire);
      for (const step of [1, 3, 4093, wire.length]) {
        const { d, messages, violations } = decoder(from);
        for (let i = 0; i < wire.length; i += step) d.push(wire.subarray(i, i + step), i);
        expect(violations).toEqual([]);
        expect(messages.map((m) => [m.kind, m.size, m.frames, m.truncated])).toEqual([['binary', 10_000, 10_000, false]]);
        const data = messages[0]!.data;
        expect(data.equals(payload)).toBe(true);
        expect(data.buffer.byteLength).toBeLessThanOrEqual(2 * data.length);
      }
      expect(wire.equals(copy)).toBe(true);
    }
  });

  it('past maxMessageBytes the buffer stops at exactly that size; the rest is counted', () => {
    const payload = Buffer.alloc(10_000, 0x62);
    const wire = fragments(1, payload, { mask: true });
    const { d, messages } = decoder('client', { max: 5_000 });
    d.push(wire, 0);
    const m = messages[0]!;
    expect([m.size, m.data.length, m.truncated]).toEqual([10_000, 5_000, true]);
    expect(m.data.buffer.byteLength).toBe(5_000);
  });

  it('a one-frame message is one exact buffer, whatever the chunks it came in', () => {
    const payload = Buffer.alloc(9_000, 0x63);
    const wire = frame(1, payload, { mask: true });
    for (const step of [1, 100, 4096, wire.length]) {
      const { d, messages } = decoder('client');
      for (let i = 0; i < wire.length; i += step) d.push(wire.subarray(i, i + step), i);
      const data = messages[0]!.data;
      expect(data.equals(payload)).toBe(true);
      expect([data.byteOffset, data.buffer.byteLength]).toEqual([0, 9_000]);
    }
  });

  it('compressed, behind a message on the thread pool, in thousands of small fragments: decoded the same, one inflater write per round trip', async () => {
    // The first message inflates past the synchronous limit: it goes to the thread pool, and the
    // messages behind it follow it there while it inflates.
    const big = Buffer.alloc(4 * 1024 * 1024, 'abcdefghijklmnop');
    const text = Buffer.from(words(256 * 1024, 7));
    const zText = pmd(text);
    const wire = Buffer.concat([frame(2, pmd(big), { mask: true, rsv1: true }), fragments(1, zText, { size: 8, mask: true, rsv1: true })]);
    const fragmentCount = Math.ceil(zText.length / 8);
    expect(fragmentCount).toBeGreaterThan(5_000);
    let writes = 0;
    const write = zlib.InflateRaw.prototype.write;
    zlib.InflateRaw.prototype.write = function (this: zlib.InflateRaw, ...args: Parameters<typeof write>) {
      writes++;
      return write.apply(this, args);
    } as typeof write;
    restore.push(() => (zlib.InflateRaw.prototype.write = write));
    const { d, messages, violations } = decoder('client', { deflate: true, max: 8 * 1024 * 1024 });
    for (let i = 0; i < wire.length; i += 8192) d.push(wire.subarray(i, i + 8192), i);
    await d.settled();
    expect(violations).toEqual([]);
    expect(messages.map((m) => [m.kind, m.size, m.frames])).toEqual([
      ['binary', big.length, 1],
      ['text', text.length, fragmentCount],
    ]);
    expect(messages[0]!.data.equals(big)).toBe(true);
    expect(messages[1]!.data.equals(text)).toBe(true);
    // Every fragment of the second message went to the thread pool, together with those beside it.
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThan(fragmentCount / 10);
  });
});
