/**
 * A recording served as a mock backend to real clients (createReplayServer): ordered and
 * consume-once; greetings, closes and subprotocols as recorded; an unexpected message is
 * reported with its diff and closed with 1008, or ignored.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createReplayServer } from '../../src/replay/replay-server.js';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, openClient, recordThroughProxy } from '../support/recording.js';
import { BYE, BYTES, HELLO, recordChat, recordPolicyClose, serve, serverTexts, wsBackend } from '../support/replay.js';
import { until } from '../support/wait.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

// --- serve: a mock backend -----------------------------------------------------------

describe('serve a recording to a real client (createReplayServer)', () => {
  it('the client receives the recorded server messages, in order, for the recorded client messages', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    await backend.close();
    const { server, events } = await serve(rec);
    const c = await openClient(`${server.url}/ws`);
    expect(c.ws.extensions).toMatch(/permessage-deflate/);
    const recorded = serverTexts(rec);
    expect((await c.ask(HELLO)).text).toBe(recorded[0]);
    const bin = await c.ask(BYTES);
    expect(bin.binary).toBe(true);
    expect(bin.data.equals(BYTES)).toBe(true);
    expect((await c.ask(BYE)).text).toBe(recorded[2]);
    expect(JSON.parse(recorded[2]!)).toMatchObject({ type: 'echo', data: { op: 'bye', items: [1, 2, 3] } });
    expect(await closeClient(c)).toEqual({ code: 1000, reason: 'done' });
    expect(server.unexpected).toEqual([]);
    expect(server.matched()).toBe(3);
    expect(events.filter((e) => e.type !== 'unexpected')).toEqual([
      { type: 'connection', session: 'ws-1', path: '/ws' },
      { type: 'done', session: 'ws-1', matched: 3, expected: 3 },
    ]);
  });

  it('server messages recorded before the first client message are sent at once (a greeting)', async () => {
    const greeter = await wsBackend((ws) => {
      ws.send('{"type":"welcome","motd":"hello"}');
      ws.send(Buffer.from([7, 7]));
      ws.on('message', (d) => ws.send(JSON.stringify({ type: 'ack', of: JSON.parse(d.toString()) as unknown })));
    });
    const { rec } = await recordThroughProxy(`http://127.0.0.1:${greeter.port}`, async (wsUrl) => {
      const c = await openClient(wsUrl('/live'));
      await c.message(2);
      await c.ask('{"sub":"prices"}');
      await closeClient(c);
    });
    const { server } = await serve(rec);
    const c = await openClient(`${server.url}/live`);
    const first = await c.message(1);
    const second = await c.message(2);
    expect(first.text).toBe('{"type":"welcome","motd":"hello"}');
    expect(second.binary).toBe(true);
    expect([...second.data]).toEqual([7, 7]);
    expect((await c.ask('{"sub":"prices"}')).text).toBe('{"type":"ack","of":{"sub":"prices"}}');
    await closeClient(c);
    expect(server.unexpected).toEqual([]);
  });

  it('an unexpected client message is reported with a diff and the connection is closed with 1008', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const { server, events } = await serve(rec);
    const c = await openClient(`${server.url}/ws`);
    c.ws.send('{"op":"hello","n":2}');
    const closed = await c.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/unexpected message/);
    expect(c.received).toEqual([]);
    expect(server.unexpected).toHaveLength(1);
    expect(server.unexpected[0]).toMatchObject({
      session: 'ws-1',
      index: 0,
      received: '{"op":"hello","n":2}',
      expected: HELLO,
      diffs: [{ path: '$.n', expected: 1, actual: 2 }],
    });
    expect(events.some((e) => e.type === 'unexpected' && e.unexpected.diffs[0]!.path === '$.n')).toBe(true);
    expect(server.matched()).toBe(0);
  });

  it("onUnexpected 'ignore': the wrong message gets no answer, the connection stays open, the right one is answered", async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const { server } = await serve(rec, { onUnexpected: 'ignore' });
    const c = await openClient(`${server.url}/ws`);
    c.ws.send('{"op":"nope"}');
    c.ws.send(Buffer.from([9]));
    // Messages are ordered on the connection: had the wrong ones been answered, that answer would come first.
    const answer = await c.ask(HELLO);
    expect(c.received).toHaveLength(1);
    expect(answer.text).toBe(serverTexts(rec)[0]);
    expect(server.unexpected.map((u) => [u.index, u.received])).toEqual([
      [0, '{"op":"nope"}'],
      [0, '1 bytes'],
    ]);
    expect(server.unexpected[0]!.diffs.map((d) => d.path)).toEqual(['$.op', '$.n']);
    expect(server.unexpected[1]!.diffs).toEqual([{ path: '$', expected: 'a text message', actual: 'a binary message' }]);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    await closeClient(c);
  });

  it('ignore rules apply to client messages; a message after the last expected one is unexpected', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const { server } = await serve(rec, { ignore: ['$.n', '$.items[*]'] });
    const c = await openClient(`${server.url}/ws`);
    expect(JSON.parse((await c.ask('{"op":"hello","n":42}')).text)).toMatchObject({ data: { op: 'hello', n: 1 } });
    await c.ask(BYTES);
    expect(JSON.parse((await c.ask('{"op":"bye","items":[7,8,9]}')).text)).toMatchObject({ data: { op: 'bye' } });
    c.ws.send('{"op":"extra"}');
    expect((await c.closed).code).toBe(1008);
    expect(server.unexpected).toHaveLength(1);
    expect(server.unexpected[0]!.diffs).toEqual([{ path: '$', expected: 'no more client messages', actual: '{"op":"extra"}' }]);
    expect(server.matched()).toBe(3);
  });

  it('the recorded server close is replayed: code and reason', async () => {
    const backend = await demoBackend();
    const { rec } = await recordPolicyClose(backend);
    const { server } = await serve(rec);
    const c = await openClient(`${server.url}/ws`);
    expect(await c.closed).toEqual({ code: 1008, reason: 'Authentication required: Use Authorization header' });
    expect(server.unexpected).toEqual([]);
  });

  it('the recorded subprotocol is negotiated', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(backend.url, async (wsUrl) => {
      const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`), ['chat.v2', 'chat.v1']);
      expect(c.ws.protocol).toBe('chat.v2');
      await c.ask('{"x":1}');
      await closeClient(c);
    });
    expect(rec.sessions[0]!.open.protocol).toBe('chat.v2');
    const { server } = await serve(rec);
    const c = await openClient(`${server.url}/ws`, ['chat.v2']);
    expect(c.ws.protocol).toBe('chat.v2');
    await c.ask('{"x":1}');
    await closeClient(c);
  });

  it('several sessions: each connection plays the next unused one for its path (consume-once)', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(backend.url, async (wsUrl) => {
      for (const n of [1, 2]) {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask(JSON.stringify({ n }));
        await closeClient(c);
      }
    });
    const { server, events } = await serve(rec);
    for (const n of [1, 2]) {
      const c = await openClient(`${server.url}/ws`);
      expect(JSON.parse((await c.ask(JSON.stringify({ n }))).text)).toMatchObject({ data: { n } });
      await closeClient(c);
    }
    expect(events.filter((e) => e.type === 'connection').map((e) => (e as { session: string }).session)).toEqual(['ws-1', 'ws-2']);
    expect(server.unexpected).toEqual([]);
  });

  it('matched() counts the matched client messages over all connections', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const { server } = await serve(rec);
    for (let i = 0; i < 2; i++) {
      const c = await openClient(`${server.url}/ws`);
      await c.ask(HELLO);
      await closeClient(c);
    }
    await until(() => server.matched() === 2, 'two matches', { seen: () => `${server.matched()} matched` });
  });

  it('a recording with no tunnelled session cannot be served: a clear error', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(backend.url, async (wsUrl) => {
      await expect(openClient(wsUrl('/nope'))).rejects.toThrow(/404/);
    });
    await expect(createReplayServer(rec)).rejects.toThrow(/no tunnelled session/);
  });
});
