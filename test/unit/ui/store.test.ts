/**
 * The page's message store (src/ui/store.ts): bounded by count and by characters with the
 * evictions counted, the filter's matches kept current as batches arrive, a gap reported, a
 * request linked to its answer, older messages filled in order.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryMessage } from '../../../src/sinks/history.js';
import { compileFilter, DEFAULT_FILTER, MessageStore } from '../../../src/ui/store.js';

function msg(seq: number, over: Partial<HistoryMessage> = {}): HistoryMessage {
  const from = seq % 2 ? 'client' : 'server';
  return {
    type: 'message',
    session: 'ws-1',
    seq,
    from,
    t: seq,
    ts: 1_700_000_000_000 + seq,
    kind: 'text',
    opcode: 1,
    frames: 1,
    compressed: false,
    size: 10,
    wireSize: 12,
    text: `${from} message ${seq}`,
    ...over,
  };
}

const seqs = (s: MessageStore): number[] => Array.from({ length: s.matching }, (_, k) => s.match(k)!.seq);

describe('the page message store', () => {
  it('hides control frames by default and counts them; a filter by direction and text applies to new batches too', () => {
    const s = new MessageStore();
    s.add([msg(1), msg(2), msg(3, { kind: 'ping', opcode: 9, text: '' }), msg(4, { kind: 'pong', opcode: 10, text: '' })]);
    expect(seqs(s)).toEqual([1, 2]);
    expect(s.control).toBe(2);
    expect(s.setFilter({ ...DEFAULT_FILTER, control: true })).toBeUndefined();
    expect(seqs(s)).toEqual([1, 2, 3, 4]);
    s.setFilter({ ...DEFAULT_FILTER, direction: 'server', text: 'MESSAGE' });
    s.add([msg(5), msg(6)]);
    expect(seqs(s)).toEqual([2, 6]);
    s.setFilter({ ...DEFAULT_FILTER, text: 'message [15]$', regex: true });
    expect(seqs(s)).toEqual([1, 5]);
    expect(s.setFilter({ ...DEFAULT_FILTER, text: '(', regex: true })).toMatch(/Invalid regular expression/);
  });

  it('keeps at most the limit of messages and of characters, the oldest going first, counted; the matches follow', () => {
    const s = new MessageStore(DEFAULT_FILTER, { messages: 5, chars: 1_000_000 });
    s.add(Array.from({ length: 12 }, (_, i) => msg(i + 1)));
    expect(s.size).toBe(5);
    expect(s.evicted).toBe(7);
    expect(s.firstSeq).toBe(8);
    expect(seqs(s)).toEqual([8, 9, 10, 11, 12]);
    expect(s.droppedMatches).toBe(7);
    const byChars = new MessageStore(DEFAULT_FILTER, { messages: 100, chars: 100 });
    byChars.add([msg(1, { text: 'x'.repeat(60) }), msg(2, { text: 'y'.repeat(60) }), msg(3, { text: 'z'.repeat(30) })]);
    expect(seqs(byChars)).toEqual([2, 3]);
    expect(byChars.evicted).toBe(1);
  });

  it('skips what it has, reports a gap, and fills it in order; an answer links back to its request', () => {
    const s = new MessageStore();
    s.add([msg(1), msg(2, { answers: 1, latencyMs: 4.5 })]);
    expect(s.add([msg(2), msg(3)])).toBeUndefined();
    expect(s.add([msg(7), msg(8)])).toEqual({ from: 4, to: 6 });
    s.fill([msg(4), msg(5), msg(6, { answers: 5, latencyMs: 1 })]);
    expect(seqs(s)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(s.answeredBy.get(1)).toBe(2);
    expect(s.answeredBy.get(5)).toBe(6);
    expect(s.indexOfSeq(6)).toBe(5);
    expect(s.bySeq(5)?.text).toBe('client message 5');
    expect(s.latency[0]).toEqual([0.002, 0.006]);
    expect(s.latency[1]).toEqual([4.5, 1]);
  });

  it('compileFilter matches close reasons as text and never matches binary by text', () => {
    const test = compileFilter({ ...DEFAULT_FILTER, control: true, text: 'bye' });
    if (typeof test === 'string') throw new Error(test);
    expect(test(msg(1, { kind: 'close', opcode: 8, text: 'bye now', closeCode: 1000 }))).toBe(true);
    expect(test(msg(2, { kind: 'binary', opcode: 2, text: undefined, base64: 'Ynll' }))).toBe(false);
  });
});
