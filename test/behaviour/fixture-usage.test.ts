/**
 * wstap as a vitest user uses it: a recording kept beside the test (fixtures/chat.jsonl,
 * recorded once through wstap from the demo backend), served in replay mode, and a plain
 * ws client that asserts on what arrived. Nothing else from the test suite is used.
 */
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { wsFixture, type WsFixture } from '../../src/replay/index.js';

const recording = fileURLToPath(new URL('../fixtures/chat.jsonl', import.meta.url));

let fixture: WsFixture | undefined;
let client: WebSocket | undefined;

afterEach(async () => {
  client?.terminate();
  client = undefined;
  await fixture?.close();
  fixture = undefined;
});

/** Connects and collects every message as parsed JSON. */
async function connect(url: string): Promise<{ ws: WebSocket; inbox: unknown[]; next(): Promise<unknown>; closed: Promise<number> }> {
  const ws = new WebSocket(url);
  client = ws;
  const inbox: unknown[] = [];
  const waiting: ((m: unknown) => void)[] = [];
  let taken = 0;
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as unknown;
    inbox.push(m);
    waiting.shift()?.(m);
  });
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    ws,
    inbox,
    next: () => {
      const i = taken++;
      return i < inbox.length ? Promise.resolve(inbox[i]) : new Promise((resolve) => waiting.push(resolve));
    },
    closed,
  };
}

describe('a chat client against a recorded backend (wsFixture, replay mode)', () => {
  it('gets the recorded answers to its messages', async () => {
    fixture = await wsFixture({ recording, mode: 'replay' });
    expect(fixture.mode).toBe('replay');
    const chat = await connect(`${fixture.url}/ws`);

    chat.ws.send(JSON.stringify({ type: 'hello', user: 'ada' }));
    expect(await chat.next()).toMatchObject({ type: 'echo', data: { type: 'hello', user: 'ada' } });

    chat.ws.send(JSON.stringify({ type: 'message', room: 'general', text: 'hi there' }));
    const answer = await chat.next();
    expect(answer).toMatchObject({ type: 'echo', data: { type: 'message', room: 'general', text: 'hi there' } });
    // Exactly what the backend said when the recording was made, server_ts included.
    expect(answer).toEqual({ type: 'echo', data: { type: 'message', room: 'general', text: 'hi there' }, server_ts: 1795699871347 });

    chat.ws.close(1000, 'bye');
    expect(await chat.closed).toBe(1000);
    expect(chat.inbox).toHaveLength(2);
    expect(fixture.unexpected).toEqual([]);
  });

  it('a message the recording does not expect: the fixture reports it and closes with 1008', async () => {
    fixture = await wsFixture({ recording, mode: 'replay' });
    const chat = await connect(`${fixture.url}/ws`);
    chat.ws.send(JSON.stringify({ type: 'hello', user: 'grace' }));
    expect(await chat.closed).toBe(1008);
    expect(chat.inbox).toEqual([]);
    expect(fixture.unexpected).toHaveLength(1);
    expect(fixture.unexpected[0]!.diffs).toEqual([{ path: '$.user', expected: 'ada', actual: 'grace' }]);
  });

  it('with ignore rules, fields that vary from run to run do not matter', async () => {
    fixture = await wsFixture({ recording, mode: 'replay', ignore: ['$.user'] });
    const chat = await connect(`${fixture.url}/ws`);
    chat.ws.send(JSON.stringify({ type: 'hello', user: 'grace' }));
    expect(await chat.next()).toMatchObject({ type: 'echo', data: { user: 'ada' } });
    expect(fixture.unexpected).toEqual([]);
  });

  it("with onUnexpected 'ignore', a stray message is noted and the conversation goes on", async () => {
    fixture = await wsFixture({ recording, mode: 'replay', onUnexpected: 'ignore' });
    const chat = await connect(`${fixture.url}/ws`);
    chat.ws.send(JSON.stringify({ type: 'typing' }));
    chat.ws.send(JSON.stringify({ type: 'hello', user: 'ada' }));
    expect(await chat.next()).toMatchObject({ type: 'echo', data: { user: 'ada' } });
    expect(chat.inbox).toHaveLength(1);
    expect(fixture.unexpected.map((u) => u.received)).toEqual(['{"type":"typing"}']);
  });
});
