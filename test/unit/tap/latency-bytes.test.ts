/**
 * The latency tracker's memory is bounded in bytes: an unanswered request or ping is kept by
 * a key of at most KEY_KEEP characters (a longer id by a seeded hash of it), so 60 KB ids cost
 * what short ones cost. Pairing is unchanged: by id, out of order, and the answer names its id.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { WsMessage } from '../../../src/session/message.js';
import { compactKey, KEY_KEEP, LatencyTracker } from '../../../src/tap/latency.js';

function msg(from: WsMessage['from'], kind: WsMessage['kind'], data: Buffer | string, at: number): WsMessage {
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  return {
    from,
    kind,
    opcode: { text: 1, binary: 2, close: 8, ping: 9, pong: 10 }[kind],
    data: b,
    size: b.length,
    wireSize: b.length + 2,
    compressed: false,
    frames: 1,
    firstByteAt: at,
    lastByteAt: at,
    truncated: false,
  };
}

describe('latency tracker: keys bounded in bytes', () => {
  it('keys up to KEY_KEEP characters are kept as they are; longer ones as at most 12 characters, the same for the same key', () => {
    for (const k of ['1', 'abc', 'x'.repeat(KEY_KEEP), 'é'.repeat(KEY_KEEP), '550e8400-e29b-41d4']) expect(compactKey(k)).toBe(k);
    const long = randomBytes(45 * 1024).toString('base64');
    expect(compactKey(long).length).toBeLessThanOrEqual(12);
    expect(compactKey(long)).toBe(compactKey(Buffer.from(long).toString()));
    expect(compactKey('ω'.repeat(KEY_KEEP + 1)).length).toBeLessThanOrEqual(12);
  });

  it('different long keys get different compact keys: 100,000 random ones, and ones that differ in one character or in length', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) seen.add(compactKey(randomBytes(30).toString('base64')));
    expect(seen.size).toBe(100_000);
    const base = 'k'.repeat(1000);
    const variants = [base, `${base}k`, `${base.slice(0, -1)}j`, `j${base.slice(1)}`, `${base.slice(0, 500)}j${base.slice(501)}`];
    expect(new Set(variants.map(compactKey)).size).toBe(variants.length);
    // A compact key is never a key kept as it is... unless someone guesses the seeded hash.
    expect(compactKey(base).startsWith('\u0000')).toBe(true);
  });

  it('requests with 60 KB ids pair with their answers out of order; each answer names its whole id', () => {
    const t = new LatencyTracker();
    const ids = [0, 1, 2].map(() => randomBytes(45 * 1024).toString('base64'));
    for (const [i, id] of ids.entries()) t.observe(msg('client', 'text', JSON.stringify({ id, op: 'get' }), i));
    const answers = [2, 0, 1].map((i) => t.observe(msg('server', 'text', JSON.stringify({ id: ids[i], ok: true }), 10 + i)));
    expect(answers.map((l) => l?.key === undefined || ids.indexOf(l.key))).toEqual([2, 0, 1]);
    expect(answers.map((l) => l?.ms)).toEqual([10, 10, 10]);
    expect(t.correlation).toBe('id');
    expect(t.pairedInOrder).toBe(0);
  });

  it('an answer whose long id matches no request is paired in order (automatic mode), as before', () => {
    const t = new LatencyTracker();
    const id = 'a'.repeat(100);
    t.observe(msg('client', 'text', JSON.stringify({ id }), 0));
    const l = t.observe(msg('server', 'text', JSON.stringify({ id: `${id}b` }), 5));
    expect(l).toEqual({ ms: 5, to: 'request', answers: 1 });
    expect(t.pairedInOrder).toBe(1);
  });

  it('pings with 125-byte payloads pair with their pongs', () => {
    const t = new LatencyTracker();
    const payloads = [0, 1, 2].map(() => randomBytes(125));
    for (const [i, p] of payloads.entries()) t.observe(msg('client', 'ping', p, i));
    const pongs = [1, 2, 0].map((i) => t.observe(msg('server', 'pong', payloads[i]!, 20)));
    expect(pongs).toEqual([
      { ms: 19, to: 'ping', answers: 2 },
      { ms: 18, to: 'ping', answers: 3 },
      { ms: 20, to: 'ping', answers: 1 },
    ]);
    expect(t.observe(msg('server', 'pong', payloads[0]!, 30))).toBeUndefined();
  });
});
