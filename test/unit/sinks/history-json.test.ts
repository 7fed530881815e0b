/**
 * The live view's message JSON (sinks/history.ts): the fast path that writes a message without
 * building its object says exactly what the slow path says (the recording's message event,
 * redacted, with seq and answers), for text, binary, control frames, cut messages and secrets.
 */
import { describe, expect, it } from 'vitest';
import { messageEvent } from '../../../src/recording/events.js';
import type { WsMessage } from '../../../src/session/message.js';
import { wsMessage } from '../../support/messages.js';
import { historyMessageJson } from '../../../src/sinks/history.js';

const msg = (over: Partial<WsMessage> & Pick<WsMessage, 'kind' | 'opcode' | 'data'>): WsMessage =>
  wsMessage(over, { from: 'server', headerBytes: 2 });

const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';

const cases: [string, WsMessage][] = [
  ['plain JSON text', msg({ kind: 'text', opcode: 1, data: Buffer.from('{"id":1,"q":"caf\u00e9 \\"x\\"\\n\u2028"}') })],
  ['text with a JWT (slow path, redacted)', msg({ kind: 'text', opcode: 1, data: Buffer.from(`{"token":"${jwt}"}`) })],
  ['an answer', msg({ kind: 'text', opcode: 1, data: Buffer.from('{"id":1}'), latency: { ms: 4.25, to: 'request', answers: 3 } })],
  ['binary, compressed', msg({ kind: 'binary', opcode: 2, data: Buffer.from([0, 1, 2, 255]), compressed: true, frames: 3 })],
  ['binary kept in part', msg({ kind: 'binary', opcode: 2, data: Buffer.from([9, 9]), size: 10_000 })],
  ['a cut text', msg({ kind: 'text', opcode: 1, data: Buffer.from('abc\u00e9').subarray(0, 4), size: 100, truncated: true })],
  ['a ping', msg({ kind: 'ping', opcode: 9, data: Buffer.from('hb') })],
  ['a close', msg({ kind: 'close', opcode: 8, data: Buffer.from([3, 232, 98, 121, 101]), closeCode: 1000, closeReason: 'bye' })],
  ['an empty text', msg({ kind: 'text', opcode: 1, data: Buffer.alloc(0) })],
];

describe('the live view message JSON', () => {
  it.each(cases)('%s: the fast and the slow path agree', (_name, m) => {
    const fast = JSON.parse(historyMessageJson('ws-"1"', m, 12.5, 1_700_000_000_123, 7)) as Record<string, unknown>;
    const slow: Record<string, unknown> = { ...messageEvent('ws-"1"', m, 12.5, 1_700_000_000_123, 'full'), seq: 7 };
    if (m.latency) slow['answers'] = m.latency.answers;
    expect(fast).toEqual(slow);
  });

  it('a secret never reaches it', () => {
    expect(historyMessageJson('ws-1', cases[1]![1], 0, 0, 1)).not.toContain(jwt.split('.')[1]);
  });
});
