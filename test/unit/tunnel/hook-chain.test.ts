/**
 * The chain of message handlers (src/tunnel/hook-chain.ts), without sockets: what each handler
 * sees, what comes out in place of a message (the original, replacements, added messages, in
 * order), how a failing handler is reported once and then left out, and which messages a hook
 * may send (toOut) with the error it gets for one that cannot be framed.
 */
import { describe, expect, it } from 'vitest';
import { HookChain, hookMessage, ORIGINAL, toOut, type Item } from '../../../src/tunnel/hook-chain.js';
import type { HookMessage, HookVerdict, MessageHandler, OutMessage } from '../../../src/tunnel/hooks.js';

const text = (s: string): HookMessage => hookMessage('client', 0x1, Buffer.from(s), 3, 1234.5);

/** An item as text: `original`, or `<opcode>:<payload>`. */
const show = (items: readonly Item[]): string[] => items.map((i) => (i === ORIGINAL ? 'original' : `${i.opcode}:${i.payload.toString('latin1')}`));

function chain(handlers: MessageHandler[]): { c: HookChain; failures: string[] } {
  const failures: string[] = [];
  const c = new HookChain(handlers, (err) => failures.push(err instanceof Error ? err.message : String(err)));
  return { c, failures };
}

describe('toOut', () => {
  it('frames each kind with its opcode and payload', () => {
    expect(toOut({ kind: 'text', data: 'héllo' })).toEqual({ opcode: 0x1, payload: Buffer.from('héllo', 'utf8') });
    expect(toOut({ kind: 'text', data: Buffer.from([0x61]) })).toEqual({ opcode: 0x1, payload: Buffer.from('a') });
    expect(toOut({ kind: 'binary', data: Buffer.from([1, 2]) })).toEqual({ opcode: 0x2, payload: Buffer.from([1, 2]) });
    expect(toOut({ kind: 'ping' })).toEqual({ opcode: 0x9, payload: Buffer.alloc(0) });
    expect(toOut({ kind: 'pong', data: Buffer.from('p') })).toEqual({ opcode: 0xa, payload: Buffer.from('p') });
    expect(toOut({ kind: 'close' })).toEqual({ opcode: 0x8, payload: Buffer.alloc(0) });
    expect(toOut({ kind: 'close', code: 4000, reason: 'bye' })).toEqual({ opcode: 0x8, payload: Buffer.from([0x0f, 0xa0, 0x62, 0x79, 0x65]) });
  });

  it('takes close codes 0 and 65535, the ends of the two bytes', () => {
    expect(toOut({ kind: 'close', code: 0 }).payload).toEqual(Buffer.from([0, 0]));
    expect(toOut({ kind: 'close', code: 0xffff }).payload).toEqual(Buffer.from([0xff, 0xff]));
  });

  it('refuses what cannot be framed, saying why', () => {
    expect(() => toOut({ kind: 'nope' } as unknown as OutMessage)).toThrow('cannot send a message of kind "nope"');
    expect(() => toOut({ kind: 'close', code: 65536 })).toThrow('close code 65536 does not fit in a close frame');
    expect(() => toOut({ kind: 'close', code: -1 })).toThrow('close code -1 does not fit in a close frame');
    expect(() => toOut({ kind: 'close', code: 1000.5 })).toThrow('close code 1000.5 does not fit in a close frame');
    expect(() => toOut({ kind: 'close', reason: 'why' })).toThrow('a close reason needs a close code');
    expect(() => toOut({ kind: 'binary', data: 'text' as unknown as Buffer })).toThrow('the data of a binary message must be a Buffer');
    expect(() => toOut({ kind: 'ping', data: Buffer.alloc(126) })).toThrow('a ping payload has at most 125 bytes (RFC 6455 5.5); this one has 126');
    expect(() => toOut({ kind: 'close', code: 1000, reason: 'x'.repeat(124) })).toThrow(
      'a close payload has at most 125 bytes (RFC 6455 5.5); this one has 126',
    );
  });

  it('lets a control payload of exactly 125 bytes and a long data payload through', () => {
    expect(toOut({ kind: 'pong', data: Buffer.alloc(125) }).payload).toHaveLength(125);
    expect(toOut({ kind: 'close', code: 1000, reason: 'x'.repeat(123) }).payload).toHaveLength(125);
    expect(toOut({ kind: 'text', data: 'x'.repeat(126) }).payload).toHaveLength(126);
    expect(toOut({ kind: 'binary', data: Buffer.alloc(200) }).payload).toHaveLength(200);
  });
});

describe('hookMessage', () => {
  it('names the kind and keeps the facts of a data message', () => {
    expect(hookMessage('server', 0x2, Buffer.from([7]), 5, 99)).toEqual({ from: 'server', kind: 'binary', data: Buffer.from([7]), index: 5, at: 99 });
    expect(hookMessage('client', 0x9, Buffer.alloc(0), 0, 1)).toEqual({ from: 'client', kind: 'ping', data: Buffer.alloc(0), index: 0, at: 1 });
  });

  it('reads the code and the reason of a close frame', () => {
    const data = Buffer.from([0x03, 0xe8, 0x6f, 0x6b]);
    expect(hookMessage('client', 0x8, data, 2, 7)).toEqual({
      from: 'client',
      kind: 'close',
      data,
      closeCode: 1000,
      closeReason: 'ok',
      index: 2,
      at: 7,
    });
    expect(hookMessage('client', 0x8, Buffer.from([0x03, 0xe8]), 2, 7)).toMatchObject({ closeCode: 1000, closeReason: '' });
  });

  it('gives no code for a close frame shorter than two bytes', () => {
    expect(hookMessage('server', 0x8, Buffer.alloc(0), 1, 2)).toEqual({ from: 'server', kind: 'close', data: Buffer.alloc(0), index: 1, at: 2 });
    expect(hookMessage('server', 0x8, Buffer.from([3]), 1, 2)).not.toHaveProperty('closeCode');
  });
});

describe('HookChain', () => {
  it('passes the message as received when no handler has a verdict', () => {
    const seen: HookMessage[] = [];
    const { c, failures } = chain([(m) => void seen.push(m), () => ({ action: 'pass' })]);
    const m = text('hi');
    expect(c.run(m)).toEqual([ORIGINAL]);
    expect(seen).toEqual([m]);
    expect(failures).toEqual([]);
  });

  it('with no handlers, sends the message as received', () => {
    expect(chain([]).c.run(text('x'))).toEqual([ORIGINAL]);
  });

  it('drops a message, and the next handler does not see it', () => {
    const seen: string[] = [];
    const { c } = chain([() => ({ action: 'drop' }), (m) => void seen.push(m.data.toString())]);
    expect(c.run(text('gone'))).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('adds messages after the original, and the next handler sees each in order', () => {
    const seen: string[] = [];
    const { c } = chain([
      () => ({
        action: 'pass',
        add: [
          { kind: 'text', data: 'one' },
          { kind: 'close', code: 1001, reason: 'away' },
        ],
      }),
      (m) => void seen.push(`${m.kind}:${m.data.toString('latin1')}:${m.closeCode ?? ''}:${m.closeReason ?? ''}:${m.index}:${m.at}`),
    ]);
    expect(show(c.run(text('orig')) as Item[])).toEqual(['original', '1:one', '8:\u0003\u00e9away']);
    expect(seen).toEqual(['text:orig:::3:1234.5', 'text:one:::3:1234.5', 'close:\u0003\u00e9away:1001:away:3:1234.5']);
  });

  it('replaces a message by several, and each goes through the next handler', () => {
    const { c } = chain([
      () => ({
        action: 'replace',
        with: [
          { kind: 'text', data: 'a' },
          { kind: 'text', data: 'b' },
        ],
      }),
      (m) => (m.data.toString() === 'a' ? { action: 'drop' } : { action: 'replace', with: [{ kind: 'binary', data: Buffer.from('B') }] }),
    ]);
    expect(show(c.run(text('x')) as Item[])).toEqual(['2:B']);
  });

  it('replaces with nothing: dropped', () => {
    expect(chain([() => ({ action: 'replace', with: [] })]).c.run(text('x'))).toEqual([]);
  });

  it('reports a handler that throws once, passes its message and does not call it again', () => {
    let calls = 0;
    const after: string[] = [];
    const { c, failures } = chain([
      () => {
        calls++;
        throw new Error('boom');
      },
      (m) => void after.push(m.data.toString()),
    ]);
    expect(c.run(text('1'))).toEqual([ORIGINAL]);
    expect(c.run(text('2'))).toEqual([ORIGINAL]);
    expect(calls).toBe(1);
    expect(failures).toEqual(['boom']);
    expect(after).toEqual(['1', '2']);
  });

  it('reports a verdict that is none, and one whose message cannot be framed, and passes the message', () => {
    const bad = chain([() => ({ action: 'maybe' }) as unknown as HookVerdict]);
    expect(bad.c.run(text('x'))).toEqual([ORIGINAL]);
    expect(bad.failures).toEqual(['a message hook answered with no verdict: {"action":"maybe"}']);

    const unframed = chain([() => ({ action: 'pass', add: [{ kind: 'ping', data: Buffer.alloc(200) }] })]);
    expect(unframed.c.run(text('x'))).toEqual([ORIGINAL]);
    expect(unframed.failures).toEqual(['a ping payload has at most 125 bytes (RFC 6455 5.5); this one has 200']);
    // Failed: not called again, the message passes.
    expect(unframed.c.run(text('y'))).toEqual([ORIGINAL]);
    expect(unframed.failures).toHaveLength(1);
  });

  it('keeps a failed handler out of the items that follow in the same run', () => {
    let calls = 0;
    const { c, failures } = chain([
      () => ({
        action: 'pass',
        add: [
          { kind: 'text', data: 'a' },
          { kind: 'text', data: 'b' },
        ],
      }),
      () => {
        calls++;
        throw new Error('second fails');
      },
    ]);
    expect(show(c.run(text('x')) as Item[])).toEqual(['original', '1:a', '1:b']);
    expect(calls).toBe(1);
    expect(failures).toEqual(['second fails']);
  });

  it('answers at once when every handler does, and with a promise when one delays', async () => {
    const order: string[] = [];
    const { c } = chain([
      async (m) => {
        order.push(`first ${m.data.toString()}`);
        await Promise.resolve();
        return { action: 'pass', add: [{ kind: 'text', data: 'more' }] };
      },
      (m) => {
        order.push(`second ${m.data.toString()}`);
        return m.data.toString() === 'more' ? { action: 'drop' } : undefined;
      },
    ]);
    const out = c.run(text('x'));
    expect(out).toBeInstanceOf(Promise);
    expect(order).toEqual(['first x']);
    expect(show(await out)).toEqual(['original']);
    expect(order).toEqual(['first x', 'second x', 'second more']);
  });

  it('takes any thenable as a delay', async () => {
    // biome-ignore lint/suspicious/noThenProperty: a thenable that is no Promise is what this test is about
    const thenable = { then: (ok: (v: HookVerdict) => void) => ok({ action: 'drop' }) };
    const { c } = chain([() => thenable as unknown as Promise<HookVerdict>]);
    await expect(c.run(text('x'))).resolves.toEqual([]);
  });

  it('reports a rejected delay once, passes its message, and the next handler sees it', async () => {
    const after: string[] = [];
    let calls = 0;
    const { c, failures } = chain([
      () => {
        calls++;
        return Promise.reject(new Error('late boom'));
      },
      (m) => void after.push(m.data.toString()),
    ]);
    await expect(c.run(text('1'))).resolves.toEqual([ORIGINAL]);
    expect(c.run(text('2'))).toEqual([ORIGINAL]);
    expect(calls).toBe(1);
    expect(failures).toEqual(['late boom']);
    expect(after).toEqual(['1', '2']);
  });

  it('reports a handler once when two runs (both directions) fail while both wait for it', async () => {
    const { c, failures } = chain([() => Promise.reject(new Error('both'))]);
    const a = c.run(text('a'));
    const b = c.run(hookMessage('server', 0x1, Buffer.from('b'), 0, 0));
    expect(await Promise.all([a, b])).toEqual([[ORIGINAL], [ORIGINAL]]);
    expect(failures).toEqual(['both']);
  });

  it('resumes with the items after a delayed one, each through every handler', async () => {
    const seen: string[] = [];
    const { c } = chain([
      () => ({
        action: 'replace',
        with: [
          { kind: 'text', data: 'a' },
          { kind: 'text', data: 'b' },
          { kind: 'text', data: 'c' },
        ],
      }),
      async (m) => {
        seen.push(m.data.toString());
        return m.data.toString() === 'b' ? { action: 'drop' } : undefined;
      },
      (m) => void seen.push(`last ${m.data.toString()}`),
    ]);
    expect(show(await c.run(text('x')))).toEqual(['1:a', '1:c']);
    expect(seen).toEqual(['a', 'b', 'c', 'last a', 'last c']);
  });

  it('takes an object whose then is no function as a verdict, and reports it', () => {
    // biome-ignore lint/suspicious/noThenProperty: an answer with a then that is no function is what this test is about
    const { c, failures } = chain([() => ({ then: 'not a function' }) as unknown as HookVerdict]);
    expect(c.run(text('x'))).toEqual([ORIGINAL]);
    expect(failures).toEqual(['a message hook answered with no verdict: {"then":"not a function"}']);
  });
});
