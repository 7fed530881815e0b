/**
 * The frame splitter of the message path (src/tunnel/frame-splitter.ts), without sockets: the
 * headers it reads (whole in a chunk or split across chunks, every length form, the masking
 * key), the payload pieces as they arrive, where it stops (a frame that breaks a rule, a sink
 * that says stop) and the bytes it hands back then.
 */
import { describe, expect, it } from 'vitest';
import { FrameSplitter, type FrameHead } from '../../../src/tunnel/frame-splitter.js';
import type { Side } from '../../../src/session/message.js';
import { encodeFrame, type FrameSpec } from '../../../src/wire/ws-frame.js';

type Event = ['head', FrameHead, string] | ['payload', string, number] | ['end'];

interface Rig {
  s: FrameSplitter;
  events: Event[];
}

/** A splitter whose sink records what it gets; it answers false at the n-th payload piece or frame end (from 1) when `stop` says so. */
function rig(from: Side = 'server', deflate = false, stop: { piece?: number; end?: number } = {}): Rig {
  const events: Event[] = [];
  let pieces = 0;
  let ends = 0;
  const s = new FrameSplitter(from, deflate, {
    head: (h, raw) => void events.push(['head', h, raw.toString('hex')]),
    payload: (piece, offset) => {
      events.push(['payload', piece.toString('latin1'), offset]);
      return ++pieces !== stop.piece;
    },
    frameEnd: () => {
      events.push(['end']);
      return ++ends !== stop.end;
    },
  });
  return { s, events };
}

const KEY = Buffer.from([0x01, 0x02, 0x03, 0x04]);
const f = (spec: FrameSpec): Buffer => encodeFrame(spec);
const head = (over: Partial<FrameHead>): FrameHead => ({ fin: true, rsv1: false, opcode: 1, masked: false, key: 0, length: 0, ...over });

describe('FrameSplitter', () => {
  it('reads an unmasked frame whole in one chunk', () => {
    const { s, events } = rig();
    const bytes = f({ opcode: 1, payload: 'hello' });
    expect(s.push(bytes)).toBeUndefined();
    expect(events).toEqual([['head', head({ length: 5 }), '8105'], ['payload', 'hello', 0], ['end']]);
    expect(s.pending()).toEqual(Buffer.alloc(0));
  });

  it('reads a masked client frame: the key big-endian, the payload still masked', () => {
    const { s, events } = rig('client');
    const bytes = f({ opcode: 2, payload: Buffer.from('ab'), mask: KEY });
    expect(s.push(bytes)).toBeUndefined();
    expect(events[0]).toEqual(['head', head({ opcode: 2, masked: true, key: 0x01020304, length: 2 }), '828201020304']);
    expect(events[1]).toEqual(['payload', bytes.subarray(6).toString('latin1'), 0]);
    expect(events[2]).toEqual(['end']);
  });

  it('reads a key with the high bit set as a signed 32-bit number', () => {
    const { s, events } = rig('client');
    s.push(f({ opcode: 1, payload: '', mask: Buffer.from([0xff, 0, 0, 1]) }));
    expect(events[0]).toEqual(['head', head({ masked: true, key: -0xffffff, length: 0 }), '8180ff000001']);
  });

  it('reads the 16-bit and the 64-bit length forms', () => {
    const mid = rig();
    mid.s.push(f({ opcode: 2, payload: Buffer.alloc(300, 0x61) }));
    expect(mid.events[0]).toEqual(['head', head({ opcode: 2, length: 300 }), '827e012c']);
    expect(mid.events[1]).toEqual(['payload', 'a'.repeat(300), 0]);

    const big = rig();
    big.s.push(f({ opcode: 2, payload: Buffer.alloc(70_000, 0x62) }));
    expect(big.events[0]).toEqual(['head', head({ opcode: 2, length: 70_000 }), '827f0000000000011170']);
    expect(big.events).toHaveLength(3);
  });

  it('reads a 64-bit length up to 2^53 and stops above it', () => {
    const ok = rig();
    const max = Buffer.from([0x82, 0x7f, 0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(ok.s.push(max)).toBeUndefined();
    expect(ok.events).toEqual([['head', head({ opcode: 2, length: 2 ** 53 - 1 }), max.toString('hex')]]);

    const bad = rig();
    const over = Buffer.from([0x82, 0x7f, 0x00, 0x20, 0, 0, 0, 0, 0, 0, 0x61]);
    expect(bad.s.push(over)).toEqual(over);
    expect(bad.events).toEqual([]);
  });

  it('reads the flags: FIN off, RSV1 with deflate', () => {
    const { s, events } = rig('server', true);
    s.push(f({ opcode: 1, payload: 'a', fin: false, rsv1: true }));
    s.push(f({ opcode: 0, payload: 'b' }));
    expect(events).toEqual([
      ['head', head({ fin: false, rsv1: true, length: 1 }), '4101'],
      ['payload', 'a', 0],
      ['end'],
      ['head', head({ opcode: 0, length: 1 }), '8001'],
      ['payload', 'b', 0],
      ['end'],
    ]);
  });

  it('hands a header whole in its chunk as a view of the chunk, one split across chunks as a copy', () => {
    const raws: Buffer[] = [];
    const s = new FrameSplitter('server', false, { head: (_h, raw) => void raws.push(raw), payload: () => true, frameEnd: () => true });
    const whole = f({ opcode: 2, payload: Buffer.alloc(300) }).subarray(0, 4);
    s.push(whole);
    const chunk = Buffer.concat([f({ opcode: 2, payload: Buffer.alloc(300) }).subarray(4), Buffer.from([0x81, 0x02])]);
    s.push(chunk);
    expect(raws).toHaveLength(2);
    expect(raws[0]!.buffer).toBe(whole.buffer);
    expect(raws[0]!.byteOffset).toBe(whole.byteOffset);
    expect(raws[1]!.toString('hex')).toBe('8102');
    expect(raws[1]!.buffer).toBe(chunk.buffer);
    expect(raws[1]!.byteOffset).toBe(chunk.byteOffset + 300);
    const split = f({ opcode: 1, payload: 'x' });
    const t = new FrameSplitter('server', false, { head: (_h, raw) => void raws.push(raw), payload: () => true, frameEnd: () => true });
    t.push(split.subarray(0, 1));
    const rest = split.subarray(1);
    t.push(rest);
    split.fill(0);
    expect(raws[2]!.toString('hex')).toBe('8101');
  });

  it('collects a header split across chunks, byte by byte, and hands a copy', () => {
    const { s, events } = rig('client');
    const bytes = f({ opcode: 2, payload: Buffer.alloc(200, 0x63), mask: KEY });
    for (let i = 0; i < 8; i++) {
      expect(s.push(bytes.subarray(i, i + 1))).toBeUndefined();
      expect(s.pending()).toEqual(i < 7 ? bytes.subarray(0, i + 1) : Buffer.alloc(0));
    }
    expect(events).toEqual([['head', head({ opcode: 2, masked: true, key: 0x01020304, length: 200 }), bytes.subarray(0, 8).toString('hex')]]);
    s.push(bytes.subarray(8));
    expect(events.slice(1).map((e) => e[0])).toEqual(['payload', 'end']);
  });

  it('collects a header whose first byte ends a chunk, then reads the rest of it from the next', () => {
    const { s, events } = rig();
    const a = f({ opcode: 1, payload: 'one' });
    const b = f({ opcode: 1, payload: 'two' });
    expect(s.push(Buffer.concat([a, b.subarray(0, 1)]))).toBeUndefined();
    expect(s.pending()).toEqual(b.subarray(0, 1));
    expect(s.push(b.subarray(1))).toBeUndefined();
    expect(events).toEqual([
      ['head', head({ length: 3 }), '8103'],
      ['payload', 'one', 0],
      ['end'],
      ['head', head({ length: 3 }), '8103'],
      ['payload', 'two', 0],
      ['end'],
    ]);
  });

  it('collects a header that begins after a whole frame at the end of a chunk', () => {
    const { s, events } = rig();
    const a = f({ opcode: 1, payload: 'one' });
    const b = f({ opcode: 2, payload: Buffer.alloc(200, 0x65) });
    expect(s.push(Buffer.concat([a, b.subarray(0, 3)]))).toBeUndefined();
    expect(s.pending()).toEqual(b.subarray(0, 3));
    expect(s.push(b.subarray(3))).toBeUndefined();
    expect(events.map((e) => e[0])).toEqual(['head', 'payload', 'end', 'head', 'payload', 'end']);
    expect(events[3]).toEqual(['head', head({ opcode: 2, length: 200 }), '827e00c8']);
  });

  it('collects a 16-bit length header split after its second byte', () => {
    const { s, events } = rig();
    const bytes = f({ opcode: 2, payload: Buffer.alloc(130, 0x64) });
    s.push(bytes.subarray(0, 2));
    expect(events).toEqual([]);
    expect(s.pending()).toEqual(bytes.subarray(0, 2));
    s.push(bytes.subarray(2, 3));
    expect(events).toEqual([]);
    s.push(bytes.subarray(3));
    expect(events[0]).toEqual(['head', head({ opcode: 2, length: 130 }), '827e0082']);
    expect(events[1]).toEqual(['payload', 'd'.repeat(130), 0]);
  });

  it('hands the payload in the pieces it arrives in, with their offsets', () => {
    const { s, events } = rig();
    const bytes = f({ opcode: 1, payload: 'abcdefgh' });
    s.push(bytes.subarray(0, 5));
    s.push(bytes.subarray(5, 6));
    s.push(bytes.subarray(6));
    expect(events).toEqual([['head', head({ length: 8 }), '8108'], ['payload', 'abc', 0], ['payload', 'd', 3], ['payload', 'efgh', 4], ['end']]);
  });

  it('reads frames back to back in one chunk, an empty one among them', () => {
    const { s, events } = rig();
    const chunk = Buffer.concat([f({ opcode: 9, payload: '' }), f({ opcode: 1, payload: 'x' }), f({ opcode: 10, payload: 'p' })]);
    expect(s.push(chunk)).toBeUndefined();
    expect(events).toEqual([
      ['head', head({ opcode: 9 }), '8900'],
      ['end'],
      ['head', head({ length: 1 }), '8101'],
      ['payload', 'x', 0],
      ['end'],
      ['head', head({ opcode: 10, length: 1 }), '8a01'],
      ['payload', 'p', 0],
      ['end'],
    ]);
  });

  it('stops at a frame that breaks a rule and hands back its bytes and everything after', () => {
    const { s, events } = rig('client');
    const good = f({ opcode: 1, payload: 'ok', mask: KEY });
    const unmasked = f({ opcode: 1, payload: 'no' });
    const after = f({ opcode: 1, payload: 'later', mask: KEY });
    expect(s.push(Buffer.concat([good, unmasked, after]))).toEqual(Buffer.concat([unmasked, after]));
    expect(events.map((e) => e[0])).toEqual(['head', 'payload', 'end']);
  });

  it('stops at a bad header split across chunks and hands back the whole header and the rest', () => {
    const { s } = rig('server');
    const masked = f({ opcode: 1, payload: 'xy', mask: KEY });
    expect(s.push(masked.subarray(0, 3))).toBeUndefined();
    expect(s.push(masked.subarray(3))).toEqual(masked);
  });

  it('checks the rules with the state of the stream: deflate, a close already, an open message', () => {
    const noDeflate = rig('server', false);
    const rsv1 = f({ opcode: 1, payload: 'a', rsv1: true });
    expect(noDeflate.s.push(rsv1)).toEqual(rsv1);

    const afterClose = rig('server');
    const close = f({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
    const text = f({ opcode: 1, payload: 'late' });
    expect(afterClose.s.push(Buffer.concat([close, text]))).toEqual(text);
    expect(afterClose.events.map((e) => e[0])).toEqual(['head', 'payload', 'end']);

    const open = rig('server');
    const first = f({ opcode: 1, payload: 'a', fin: false });
    const ping = f({ opcode: 9, payload: '' });
    const another = f({ opcode: 2, payload: 'b' });
    expect(open.s.push(Buffer.concat([first, ping, another]))).toEqual(another);

    const done = rig('server');
    const cont = f({ opcode: 0, payload: 'c' });
    expect(done.s.push(Buffer.concat([f({ opcode: 1, payload: 'a' }), cont]))).toEqual(cont);
  });

  it('keeps a message open across control frames, closes it at the last continuation', () => {
    const { s, events } = rig('server');
    const chunk = Buffer.concat([
      f({ opcode: 1, payload: 'a', fin: false }),
      f({ opcode: 10, payload: '' }),
      f({ opcode: 0, payload: 'b', fin: false }),
      f({ opcode: 0, payload: 'c' }),
      f({ opcode: 1, payload: 'd' }),
    ]);
    expect(s.push(chunk)).toBeUndefined();
    expect(events.filter((e) => e[0] === 'head')).toHaveLength(5);
  });

  it('stops when the sink refuses a payload piece and hands back the bytes after it', () => {
    const first = rig('server', false, { piece: 1 });
    const a = f({ opcode: 1, payload: 'abc' });
    const b = f({ opcode: 1, payload: 'def' });
    const bytes = Buffer.concat([a, b]);
    expect(first.s.push(bytes.subarray(0, 3))).toEqual(Buffer.alloc(0));
    expect(first.events).toEqual([
      ['head', head({ length: 3 }), '8103'],
      ['payload', 'a', 0],
    ]);

    const second = rig('server', false, { piece: 2 });
    expect(second.s.push(bytes.subarray(0, 3))).toBeUndefined();
    expect(second.s.push(bytes.subarray(3, 6))).toEqual(bytes.subarray(5, 6));
    expect(second.events.slice(2)).toEqual([['payload', 'bc', 1]]);
  });

  it('stops when the sink refuses a frame end and hands back the frames after it', () => {
    const { s, events } = rig('server', false, { end: 1 });
    const a = f({ opcode: 1, payload: 'abc' });
    const b = f({ opcode: 1, payload: 'def' });
    expect(s.push(Buffer.concat([a, b]))).toEqual(b);
    expect(events.map((e) => e[0])).toEqual(['head', 'payload', 'end']);
  });

  it('stops when the sink refuses the end of an empty frame', () => {
    const { s, events } = rig('server', false, { end: 1 });
    const ping = f({ opcode: 9, payload: '' });
    const b = f({ opcode: 1, payload: 'def' });
    expect(s.push(Buffer.concat([ping, b]))).toEqual(b);
    expect(events).toEqual([['head', head({ opcode: 9 }), '8900'], ['end']]);
  });

  it('ends a frame whose payload completes at the end of a chunk, and reads the next from the next chunk', () => {
    const { s, events } = rig('server', false, { end: 2 });
    const a = f({ opcode: 1, payload: 'abc' });
    const b = f({ opcode: 1, payload: 'de' });
    const c = f({ opcode: 1, payload: 'g' });
    expect(s.push(a)).toBeUndefined();
    expect(s.push(Buffer.concat([b, c]))).toEqual(c);
    expect(events.filter((e) => e[0] === 'end')).toHaveLength(2);
  });
});
