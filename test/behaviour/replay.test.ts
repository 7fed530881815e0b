/**
 * Replay (issue 4): recordings made through wstap from real sessions, replayed as a
 * client against the same backend (a match, with $.server_ts ignored) and against a
 * changed one (a diff that names the JSON path), and served as a mock backend to real
 * clients (ordered, consume-once; an unexpected message is reported and closed with
 * 1008, or ignored). Then the same through the real bin: replay, serve, report.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import type { Recording } from '../../src/recording/format.js';
import type { SessionReport } from '../../src/recording/report.js';
import { formatReplay, replayRecording, type ReplayResult } from '../../src/replay/replay-client.js';
import { createReplayServer, type ReplayServer, type ReplayServerEvent, type ReplayServerOptions } from '../../src/replay/replay-server.js';
import { fakeJwt, refusedPort } from '../support/helpers.js';
import { closeClient, defer, ensureBuilt, openClient, recordThroughProxy, runBin, runDeferred, startBin, tmpFile, until } from '../support/recording.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

// --- backends ------------------------------------------------------------------------

async function demoBackend(env: Record<string, string> = {}): Promise<DemoBackend> {
  const b = await startDemoBackend({ env });
  defer(() => b.close());
  return b;
}

/** A ws backend (deflate on) on 127.0.0.1; `onConnection` scripts it. */
async function wsBackend(onConnection: (ws: ServerSocket, req: http.IncomingMessage) => void): Promise<{ port: number; wsUrl: string }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: true });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    onConnection(ws, req);
  });
  defer(
    () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  );
  const port = (wss.address() as { port: number }).port;
  return { port, wsUrl: `ws://127.0.0.1:${port}` };
}

/** The demo backend's protocol, changed: the echo says "reply" and carries a new field. */
function changedEcho(ws: ServerSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return ws.send(data, { binary: true });
    let parsed: unknown = data.toString();
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      // plain text
    }
    ws.send(JSON.stringify({ type: 'reply', data: parsed, server_ts: Date.now(), v: 2 }));
  });
}

// --- recordings ----------------------------------------------------------------------

const HELLO = '{"op":"hello","n":1}';
const BYE = '{"op":"bye","items":[1,2,3]}';
const BYTES = Buffer.from([1, 2, 3, 254]);

/** One session against the demo backend: JSON, binary, JSON, then a client close 1000. */
async function recordChat(backend: DemoBackend): Promise<{ file: string; rec: Recording }> {
  return recordThroughProxy(backend.url, async (wsUrl) => {
    const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`), [], { headers: { Origin: 'http://localhost:3000' } });
    await c.ask(HELLO);
    await c.ask(BYTES);
    await c.ask(BYE);
    await closeClient(c, 1000, 'done');
  });
}

/** A session the demo backend closes with 1008 (no token). */
async function recordPolicyClose(backend: DemoBackend): Promise<{ file: string; rec: Recording }> {
  return recordThroughProxy(backend.url, async (wsUrl) => {
    const c = await openClient(wsUrl('/ws'));
    await c.closed;
  });
}

const serverTexts = (rec: Recording, i = 0): string[] =>
  rec.sessions[i]!.messages.filter((m) => m.from === 'server' && (m.kind === 'text' || m.kind === 'binary')).map((m) => m.text ?? Buffer.from(m.base64!, 'base64').toString('latin1'));

async function serve(rec: Recording | string, opts: ReplayServerOptions = {}): Promise<{ server: ReplayServer; events: ReplayServerEvent[] }> {
  const events: ReplayServerEvent[] = [];
  const server = await createReplayServer(rec, { ...opts, onReport: (e) => events.push(e) });
  defer(() => server.close());
  return { server, events };
}

const diffsOf = (r: ReplayResult): { index: number; path: string; expected: unknown; actual: unknown }[] =>
  r.sessions.flatMap((s) => s.diffs.map((d) => ({ index: d.index, path: d.path, expected: d.expected, actual: d.actual })));

// --- replay as a client --------------------------------------------------------------

describe('replay as a client (library)', () => {
  it('against the same backend: a match once $.server_ts is ignored', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, ignore: ['$.server_ts'] });
    expect(diffsOf(r)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.sessions).toHaveLength(1);
    expect(r.sessions[0]).toMatchObject({ session: 'ws-1', ok: true, sent: 3, received: 3, close: { code: 1000 } });
    expect(formatReplay(r)).toMatch(/all 1 sessions match/);
  });

  it('against the same backend without --ignore: only $.server_ts differs, in both JSON answers', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}` });
    expect(r.ok).toBe(false);
    const diffs = diffsOf(r);
    expect(diffs.map((d) => [d.index, d.path])).toEqual([
      [0, '$.server_ts'],
      [2, '$.server_ts'],
    ]);
    for (const d of diffs) {
      expect(typeof d.expected).toBe('number');
      expect(typeof d.actual).toBe('number');
    }
  });

  it('against a changed backend: the diff names the session, the message and the JSON paths', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const changed = await wsBackend(changedEcho);
    const r = await replayRecording(rec, { target: changed.wsUrl, ignore: ['$.server_ts'] });
    expect(r.ok).toBe(false);
    expect(r.sessions[0]!.session).toBe('ws-1');
    expect(diffsOf(r)).toEqual([
      { index: 0, path: '$.type', expected: 'echo', actual: 'reply' },
      { index: 0, path: '$.v', expected: undefined, actual: 2 },
      { index: 2, path: '$.type', expected: 'echo', actual: 'reply' },
      { index: 2, path: '$.v', expected: undefined, actual: 2 },
    ]);
    const text = formatReplay(r);
    expect(text).toMatch(/FAIL ws-1/);
    expect(text).toMatch(/server message #1 \$\.type/);
    expect(text).toMatch(/expected: "echo"/);
    expect(text).toMatch(/actual: {3}"reply"/);
    expect(text).toMatch(/1 of 1 sessions differ/);
  });

  it('a changed value deep inside the JSON is named by its full path; $..ts style ignores work', async () => {
    const original = await wsBackend((ws) => ws.on('message', () => ws.send(JSON.stringify({ items: [{ id: 1, ts: 5 }, { id: 2, ts: 6 }] }))));
    const { rec } = await recordThroughProxy(`http://127.0.0.1:${original.port}`, async (wsUrl) => {
      const c = await openClient(wsUrl('/feed'));
      await c.ask('list');
      await closeClient(c);
    });
    const changed = await wsBackend((ws) => ws.on('message', () => ws.send(JSON.stringify({ items: [{ id: 1, ts: 7 }, { id: 3, ts: 8 }] }))));
    const strict = await replayRecording(rec, { target: changed.wsUrl });
    expect(diffsOf(strict).map((d) => d.path)).toEqual(['$.items[0].ts', '$.items[1].id', '$.items[1].ts']);
    const lenient = await replayRecording(rec, { target: changed.wsUrl, ignore: ['$..ts'] });
    expect(diffsOf(lenient)).toEqual([{ index: 0, path: '$.items[1].id', expected: 2, actual: 3 }]);
    expect((await replayRecording(rec, { target: changed.wsUrl, ignore: ['$.items[*].ts', '$.items[1].id'] })).ok).toBe(true);
  });

  it('a session the backend closed with 1008 replays as a match; a backend that no longer closes is a close.code diff', async () => {
    const backend = await demoBackend();
    const { rec } = await recordPolicyClose(backend);
    const same = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}` });
    expect(same.ok).toBe(true);
    expect(same.sessions[0]!.close).toEqual({ code: 1008, reason: 'Authentication required: Use Authorization header' });

    const lenient = await demoBackend({ ALLOW_DEV_AUTH_BYPASS: 'true', WEBSOCKET_AUTH_BYPASS: 'true', ENVIRONMENT: 'development' });
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${lenient.port}`, timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(diffsOf(r)).toEqual([{ index: -1, path: 'close.code', expected: 1008, actual: 1000 }]);
  });

  it('a redacted Authorization header is replaced with --header (headers option)', async () => {
    const token = fakeJwt(600);
    const strict = await wsBackend((ws, req) => {
      if (req.headers.authorization !== `Bearer ${token}`) return ws.close(1008, 'bad token');
      ws.on('message', (d) => ws.send(`ok ${d.toString()}`));
    });
    const { rec } = await recordThroughProxy(`http://127.0.0.1:${strict.port}`, async (wsUrl) => {
      const c = await openClient(wsUrl('/ws'), [], { headers: { Authorization: `Bearer ${token}` } });
      expect((await c.ask('ping-1')).text).toBe('ok ping-1');
      await closeClient(c);
    });
    expect(rec.sessions[0]!.open.request.headers.find((h) => h.name === 'Authorization')!.value).toBe('Bearer [redacted]');

    const without = await replayRecording(rec, { target: strict.wsUrl, timeoutMs: 500 });
    expect(without.ok).toBe(false);
    expect(without.sessions[0]!.close?.code).toBe(1008);
    const withHeader = await replayRecording(rec, { target: strict.wsUrl, headers: { Authorization: `Bearer ${token}` } });
    expect(diffsOf(withHeader)).toEqual([]);
    expect(withHeader.ok).toBe(true);
  });

  it('a backend that is down: the session fails with a clear error, no exception', async () => {
    const backend = await demoBackend();
    const { rec } = await recordChat(backend);
    const port = await refusedPort();
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${port}`, timeoutMs: 1000 });
    expect(r.ok).toBe(false);
    expect(r.sessions[0]!.error).toMatch(/ECONNREFUSED/);
    expect(diffsOf(r)[0]).toMatchObject({ index: -1, expected: 'a WebSocket connection' });
  });

  it('only the chosen sessions, and a clear error for an unknown id', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(backend.url, async (wsUrl) => {
      for (const n of [1, 2]) {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask(JSON.stringify({ n }));
        await closeClient(c);
      }
    });
    expect(rec.sessions.map((s) => s.id)).toEqual(['ws-1', 'ws-2']);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, sessions: ['ws-2'], ignore: ['$.server_ts'] });
    expect(r.sessions.map((s) => [s.session, s.ok])).toEqual([['ws-2', true]]);
    await expect(replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, sessions: ['ws-9'] })).rejects.toThrow(/no session ws-9.*ws-1, ws-2/);
  });
});

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
    await until(() => server.matched() === 2, 'two matches');
  });

  it('a recording with no tunnelled session cannot be served: a clear error', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(backend.url, async (wsUrl) => {
      await expect(openClient(wsUrl('/nope'))).rejects.toThrow(/404/);
    });
    await expect(createReplayServer(rec)).rejects.toThrow(/no tunnelled session/);
  });
});

// --- recordings made with --record-payloads ----------------------------------------

describe('recordings with partial payloads (--record-payloads)', () => {
  const MULTIBYTE = `a${'é'.repeat(20)}`;

  async function recordCut(backend: DemoBackend): Promise<Recording> {
    const { rec } = await recordThroughProxy(
      backend.url,
      async (wsUrl) => {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask(MULTIBYTE);
        await closeClient(c);
      },
      { payloads: 16 },
    );
    return rec;
  }

  it('serve matches a client message by the recorded start when it was cut (ASCII)', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(
      backend.url,
      async (wsUrl) => {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask(JSON.stringify({ op: 'long', body: 'b'.repeat(100) }));
        await closeClient(c);
      },
      { payloads: 16 },
    );
    const { server } = await serve(rec);
    const c = await openClient(`${server.url}/ws`);
    const answer = await c.ask(JSON.stringify({ op: 'long', body: 'b'.repeat(100) }));
    // The mock can only send what was recorded: the first 16 bytes of the answer.
    expect(answer.text).toBe('{"type":"echo","');
    expect(server.unexpected).toEqual([]);
  });

  // BUG (src/recording/recorder.ts, payloadFields): a text payload cut at N bytes is decoded with
  // toString('utf8'), so a cut inside a multibyte character becomes U+FFFD ("aééééééé\ufffd", 18
  // bytes). The recorded start is then no prefix of the real message: serve rejects the very
  // message that was recorded (1008), and replay compares against bytes that were never sent.
  // Fix: cut text at the last whole UTF-8 character (e.g. back off while (byte & 0xc0) === 0x80),
  // keeping truncated: true.
  it('serve accepts the recorded message when the cut falls inside a multibyte character', async () => {
    const backend = await demoBackend();
    const rec = await recordCut(backend);
    expect(rec.sessions[0]!.messages[0]!.text).not.toContain('\ufffd');
    const { server } = await serve(rec);
    const c = await openClient(`${server.url}/ws`);
    await c.ask(MULTIBYTE);
    expect(server.unexpected).toEqual([]);
  });

  // BUG (src/replay/replay-client.ts, replaySession): a client message recorded truncated is sent
  // as it was recorded, i.e. cut, and the session is reported "ok" when the answers' recorded
  // starts match: a replay that did not send what the client sent passes. Omitted payloads are
  // reported ("the recording has none"); truncated ones should be too (or at least be flagged in
  // the result), e.g. a diff {path: '$', expected: 'a whole recorded payload', actual: 'the
  // recording keeps only the first N bytes (--record-payloads N)'}.
  it('replay does not send a truncated client message as if it were whole', async () => {
    const backend = await demoBackend();
    const rec = await recordCut(backend);
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, timeoutMs: 500 });
    expect(r.ok).toBe(false);
  });

  it('replay of a recording without payloads (none) says so', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(
      backend.url,
      async (wsUrl) => {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask('{"x":1}');
        await closeClient(c);
      },
      { payloads: 'none' },
    );
    const r = await replayRecording(rec, { target: `ws://127.0.0.1:${backend.port}`, timeoutMs: 300 });
    expect(r.ok).toBe(false);
    expect(r.sessions[0]!.sent).toBe(0);
    expect(r.sessions[0]!.diffs[0]).toMatchObject({ index: -1, expected: 'a whole recorded client message', actual: 'the recording has no payloads (--record-payloads none)' });
  });

  // BUG (src/replay/replay-server.ts, createReplayServer): a recording made with
  // --record-payloads none is served as if its payloads were empty: every client message is
  // "unexpected" with expected "" (and the server messages would be sent empty). Fix: refuse it
  // up front with a clear error, e.g. "the recording has no payloads (--record-payloads none):
  // nothing to serve", as replay-client already reports for its client messages.
  it('serve refuses a recording without payloads with a clear error', async () => {
    const backend = await demoBackend();
    const { rec } = await recordThroughProxy(
      backend.url,
      async (wsUrl) => {
        const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
        await c.ask('{"x":1}');
        await closeClient(c);
      },
      { payloads: 'none' },
    );
    await expect(createReplayServer(rec)).rejects.toThrow(/payloads/);
  });
});

// --- the real bin --------------------------------------------------------------------

describe('wstap replay (the real bin)', () => {
  it('exits 0 on a match, with --ignore $.server_ts', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const r = await runBin(['replay', file, '--target', `ws://127.0.0.1:${backend.port}`, '--ignore', '$.server_ts']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok {3}ws-1: sent 3, received 3, closed 1000/m);
    expect(r.stdout).toMatch(/all 1 sessions match/);
  });

  it('exits 1 on a mismatch with a readable diff: session, message index, JSON path, expected, actual', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const changed = await wsBackend(changedEcho);
    const r = await runBin(['replay', file, '--target', changed.wsUrl, '--ignore', '$.server_ts']);
    expect(r.code).toBe(1);
    const out = r.stdout;
    expect(out).toMatch(/FAIL ws-1/);
    expect(out).toMatch(/server message #1 \$\.type\n\s+expected: "echo"\n\s+actual: {3}"reply"/);
    expect(out).toMatch(/server message #1 \$\.v\n/);
    expect(out).toMatch(/server message #3 \$\.type/);
    expect(out).toMatch(/1 of 1 sessions differ/);
  });

  it('--json prints the result as JSON', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const r = await runBin(['replay', file, '--target', `ws://127.0.0.1:${backend.port}`, '--json']);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout) as ReplayResult;
    expect(result.ok).toBe(false);
    expect(result.sessions[0]!.diffs.map((d) => [d.session, d.index, d.path])).toEqual([
      ['ws-1', 0, '$.server_ts'],
      ['ws-1', 2, '$.server_ts'],
    ]);
  });

  // BUG (src/replay/replay-client.ts, replaySession, the 'unexpected-response' handler): with a
  // listener on 'unexpected-response', ws leaves aborting the request to the caller; the handler
  // only calls res.resume(), so the socket stays open for as long as the backend keeps the
  // connection alive, and `wstap replay` prints its result but does not exit (Node's default
  // keepAliveTimeout: ~5 s; here 30 s). Fix: call ws.terminate() (or req.destroy()) in that handler.
  it('a backend that refuses the upgrade (401, keep-alive): exits 1 with the status, without hanging', async () => {
    const refuser = http.createServer((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'text/plain' });
      res.end('no\n');
    });
    refuser.keepAliveTimeout = 30_000;
    await new Promise<void>((r) => refuser.listen(0, '127.0.0.1', () => r()));
    defer(
      () =>
        new Promise<void>((r) => {
          refuser.closeAllConnections();
          refuser.close(() => r());
        }),
    );
    const port = (refuser.address() as { port: number }).port;
    const file = tmpFile();
    writeFileSync(file, readFileSync(new URL('../fixtures/chat.jsonl', import.meta.url)));
    const r = await runBin(['replay', file, '--target', `ws://127.0.0.1:${port}`], 4000);
    expect(r.stdout).toMatch(/answered the upgrade with 401 \(recorded: 101\)/);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
  });

  it('exits 2 for a missing file', async () => {
    const missing = tmpFile('missing.jsonl');
    const r = await runBin(['replay', missing, '--target', 'ws://127.0.0.1:9']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(missing);
    expect(r.stderr).toMatch(/no such file/);
    expect(r.stdout).toBe('');
  });

  it('exits 2 for a bad --ignore path, with one line that names it', async () => {
    const file = tmpFile();
    writeFileSync(file, readFileSync(new URL('../fixtures/chat.jsonl', import.meta.url)));
    const r = await runBin(['replay', file, '--target', 'ws://127.0.0.1:9', '--ignore', '$.server_ts[x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/server_ts\[x/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('exits 2 without --target', async () => {
    const r = await runBin(['replay', tmpFile()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--target/);
  });

  it('exits 2 for a --target that is no ws:// URL', async () => {
    const r = await runBin(['replay', tmpFile(), '--target', 'ftp://x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/ws:\/\//);
  });
});

describe('wstap serve (the real bin)', () => {
  it('prints its URL; a client plays the session; SIGTERM exits 0 when nothing was unexpected', async () => {
    const backend = await demoBackend();
    const { file, rec } = await recordChat(backend);
    const bin = startBin(['serve', file, '--port', '0']);
    const [, url] = await bin.waitForText(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const c = await openClient(`${url}/ws`);
    expect((await c.ask(HELLO)).text).toBe(serverTexts(rec)[0]);
    await c.ask(BYTES);
    await c.ask(BYE);
    await closeClient(c);
    await bin.waitForText(/all 3 of 3 client messages matched/);
    expect(bin.stdout()).toMatch(/connection on \/ws: playing session ws-1/);
    bin.proc.kill('SIGTERM');
    expect(await bin.exited).toEqual({ code: 0, signal: null });
  });

  it('reports an unexpected message with its diff and exits 1', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const bin = startBin(['serve', file, '--port', '0']);
    const [, url] = await bin.waitForText(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const c = await openClient(`${url}/ws`);
    c.ws.send('{"op":"hello","n":99}');
    expect((await c.closed).code).toBe(1008);
    await bin.waitForText(/unexpected client message #1/);
    expect(bin.stdout()).toMatch(/\$\.n: expected 1, got 99/);
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(1);
  });

  it('--on-unexpected ignore keeps the connection', async () => {
    const backend = await demoBackend();
    const { file } = await recordChat(backend);
    const bin = startBin(['serve', file, '--port', '0', '--on-unexpected', 'ignore']);
    const [, url] = await bin.waitForText(/on (ws:\/\/127\.0\.0\.1:\d+)/);
    const c = await openClient(`${url}/ws`);
    c.ws.send('{"wrong":true}');
    expect(JSON.parse((await c.ask(HELLO)).text)).toMatchObject({ data: { op: 'hello', n: 1 } });
    expect(c.received).toHaveLength(1);
    await closeClient(c);
    bin.proc.kill('SIGTERM');
    await bin.exited;
  });

  it('exits 2 for a file that is not a recording', async () => {
    const file = tmpFile('notes.txt');
    writeFileSync(file, 'hello\nworld\n');
    const r = await runBin(['serve', file, '--port', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^wstap: .*(is not a wstap recording|line 1)/);
    // What the message should also say (the file, and that it is no recording) is checked in recording-crash.test.ts.
  });
});

describe('wstap report (the real bin)', () => {
  it('a table with one row per session, and --json', async () => {
    const backend = await demoBackend();
    const { file } = await recordThroughProxy(backend.url, async (wsUrl) => {
      const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`));
      await c.ask(HELLO);
      await c.ask(BYE);
      await closeClient(c, 1000, 'done');
      const d = await openClient(wsUrl('/ws'));
      await d.closed;
    });
    const table = await runBin(['report', file]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^session\s+client\s+path\s+status/);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^ws-1\s+127\.0\.0\.1:\d+\s+\/ws\?token=\[redacted\]\s+101\s+2\/2\s+client 1000 "done"/);
    expect(lines[3]).toMatch(/^ws-2 .*101\s+0\/0\s+server 1008 "Authentication required/);
    expect(lines[3]).toMatch(/auth-missing/);
    expect(lines[3]).toMatch(/close-policy/);

    const json = await runBin(['report', file, '--json']);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as SessionReport[];
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ session: 'ws-1', path: '/ws?token=[redacted]', status: 101, outcome: 'tunnel', messages: { client: 2, server: 2 }, close: { by: 'client', code: 1000, reason: 'done', clean: true } });
    expect(rows[0]!.latency).not.toBeNull();
    expect(rows[1]).toMatchObject({ session: 'ws-2', close: { by: 'server', code: 1008 }, messages: { client: 0, server: 0 } });
    expect(rows[1]!.findings).toEqual(expect.arrayContaining(['auth-missing', 'close-policy']));
  });

  it('exits 2 for a missing file', async () => {
    const r = await runBin(['report', tmpFile('nope.jsonl')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such file/);
  });
});
