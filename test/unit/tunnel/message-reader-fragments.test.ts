/**
 * The message path's reader (src/tunnel/message-reader.ts) on its own: memory counted in bytes,
 * not in frames. A message of many small fragments is a few buffers (its payload one, its small
 * raw pieces one more), its raw bytes still exactly what came, control frames at their place; a
 * one-frame message is read without a copy of its raw bytes, as before.
 */
import { describe, expect, it } from 'vitest';
import { MESSAGE_LIMIT, MessageReader, type ReaderHost, type Received } from '../../../src/tunnel/message-reader.js';
import { frame } from '../../support/helpers.js';

function reader(): { r: MessageReader; host: ReaderHost & { got: Received[] } } {
  const got: Received[] = [];
  const host = { held: 0, got, message: (m: Received) => void got.push(m), oversize: (m: Received) => void got.push(m) };
  return { r: new MessageReader('client', false, host), host };
}

/** b lies inside chunk's memory: a view, not a copy. */
const within = (b: Buffer, chunk: Buffer): boolean =>
  b.buffer === chunk.buffer && b.byteOffset >= chunk.byteOffset && b.byteOffset + b.length <= chunk.byteOffset + chunk.length;

/** A message's raw bytes as they go out: its wire, with the control frames slotted in it at their place. */
function flatten(m: Received): Buffer {
  return Buffer.concat(m.wire.map((item) => (Buffer.isBuffer(item) ? item : flatten(item))));
}

/** One-byte masked fragments of `payload`, with a ping after fragment `pingAt`. */
function fragments(payload: Buffer, pingAt: number): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < payload.length; i++) {
    frames.push(frame(i === 0 ? 2 : 0, payload.subarray(i, i + 1), { mask: true, fin: i === payload.length - 1 }));
    if (i === pingAt) frames.push(frame(9, 'inside', { mask: true }));
  }
  return Buffer.concat(frames);
}

describe('message reader: memory by bytes', () => {
  it('10,000 one-byte fragments with a ping inside: a few wire entries, the bytes exactly as they came, the payload whole', () => {
    const payload = Buffer.from(Array.from({ length: 10_000 }, (_, i) => (i * 31 + 7) & 0xff));
    const wire = fragments(payload, 4_999);
    for (const step of [1, 7, 4093, wire.length]) {
      const { r, host } = reader();
      for (let i = 0; i < wire.length; i += step) expect(r.push(wire.subarray(i, i + step), i)).toBeUndefined();
      expect(host.got.map((m) => [m.opcode, m.complete, m.streaming])).toEqual([
        [9, true, false],
        [2, true, false],
      ]);
      const [ping, data] = host.got as [Received, Received];
      expect(ping.data.toString()).toBe('inside');
      expect(ping.within).toBe(data);
      expect(data.data.equals(payload)).toBe(true);
      // The raw bytes, ping at its place, are exactly the input.
      expect(flatten(data).equals(wire)).toBe(true);
      // 20,001 frames: the first header and piece (views), the copied pieces before the ping, the ping, those after it.
      expect(data.wire.length).toBeLessThanOrEqual(6);
      expect(data.wire.filter((w) => !Buffer.isBuffer(w))).toEqual([ping]);
      // Held: every raw byte and every payload byte, once.
      expect(host.held).toBe(wire.length + payload.length + 'inside'.length);
    }
  });

  it('the payload buffer grows by doubling, never past what the message needs twice over; raw copies never more than the bytes', () => {
    const payload = Buffer.alloc(50_000, 0x61);
    const wire = fragments(payload, -1);
    const { r, host } = reader();
    for (let i = 0; i < wire.length; i += 65_536) r.push(wire.subarray(i, i + 65_536), i);
    const m = host.got[0]!;
    expect(m.data.length).toBe(50_000);
    expect(m.data.buffer.byteLength).toBeLessThanOrEqual(2 * 50_000);
    expect(flatten(m).equals(wire)).toBe(true);
    // The copies (all but the first header and piece) are in buffers at most twice their size.
    const copies = new Set(m.wire.slice(2).map((b) => (b as Buffer).buffer));
    expect([...copies].reduce((n, ab) => n + ab.byteLength, 0)).toBeLessThanOrEqual(2 * wire.length);
  });

  it('control frames inside an open message count towards MESSAGE_LIMIT at their cost, not only their bytes: past it the message streams', () => {
    const first = frame(1, 'a', { mask: true, fin: false });
    const ping = frame(9, Buffer.alloc(0), { mask: true });
    const pings = 200_000;
    const wire = Buffer.concat([first, Buffer.concat(Array.from({ length: pings }, () => ping)), frame(0, 'b', { mask: true })]);
    const { r, host } = reader();
    for (let i = 0; i < wire.length; i += 65_536) expect(r.push(wire.subarray(i, i + 65_536), i)).toBeUndefined();
    const data = host.got.find((m) => m.opcode === 1)!;
    const hooked = host.got.filter((m) => m.opcode === 9).length;
    // 1.2 MB of pings, far below MESSAGE_LIMIT in bytes; at about 518 bytes each the limit comes after some 130,000 of them.
    expect(wire.length).toBeLessThan(MESSAGE_LIMIT / 50);
    expect(data.streaming).toBe(true);
    expect(hooked).toBeGreaterThan(100_000);
    expect(hooked).toBeLessThan(MESSAGE_LIMIT / 500);
    // What it held, and the pings after the switch (they stream with it), are still every byte, in order.
    expect(flatten(data).equals(wire)).toBe(true);
  });

  it('a one-frame message: its raw bytes are views of the chunk (no copy), its payload one copy of its own', () => {
    const payload = Buffer.from('{"id":1,"hello":"world"}');
    const chunk = frame(1, payload, { mask: true });
    const { r, host } = reader();
    r.push(chunk, 0);
    const m = host.got[0]!;
    expect(m.wire).toHaveLength(2);
    for (const w of m.wire) expect(within(w as Buffer, chunk)).toBe(true);
    expect(flatten(m).equals(chunk)).toBe(true);
    expect(m.data.toString()).toBe(payload.toString());
    expect(m.data.length).toBe(payload.length);
    const copy = Buffer.from(chunk);
    m.data.fill(0);
    expect(chunk.equals(copy)).toBe(true);
  });

  it('a fragmented message with large pieces keeps them as views; small continuation headers are copied together', () => {
    const a = Buffer.alloc(20_000, 1);
    const b = Buffer.alloc(20_000, 2);
    const chunk = Buffer.concat([frame(2, a, { mask: true, fin: false }), frame(0, b, { mask: true, fin: false }), frame(0, 'end', { mask: true })]);
    const { r, host } = reader();
    r.push(chunk, 0);
    const m = host.got[0]!;
    expect(flatten(m).equals(chunk)).toBe(true);
    expect(m.data.equals(Buffer.concat([a, b, Buffer.from('end')]))).toBe(true);
    // header+piece of the first frame, the second header (copied), its 20,000-byte piece (a view), the last frame (copied).
    expect(m.wire.map((w) => within(w as Buffer, chunk))).toEqual([true, true, false, true, false]);
  });
});
