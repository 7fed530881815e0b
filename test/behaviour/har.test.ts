/**
 * HAR (issue 4): a real recording exported with recordingToHar, written as JSON and read
 * back from a .har file gives the same sessions and messages; the HAR has Chrome's
 * WebSocket extension (_resourceType, _webSocketMessages, _webSocketClose). A HAR in the
 * shape Chrome DevTools saves is served to a real client. `wstap export` writes one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DemoBackend } from '../../src/demo/backend.js';
import type { Recording } from '../../src/recording/format.js';
import { harToRecording, recordingToHar, type Har } from '../../src/recording/har.js';
import { loadRecording } from '../../src/recording/loader.js';
import { createReplayServer } from '../../src/replay/replay-server.js';
import { demoBackend } from '../support/backends.js';
import { fakeJwt } from '../support/helpers.js';
import { closeClient, defer, ensureBuilt, openClient, recordThroughProxy, runBin, runDeferred, tmpFile } from '../support/recording.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

const BYTES = Buffer.from([0, 1, 2, 200, 255]);

/** Two real sessions: a chat closed by the client (1000), and one the backend closes with 1008. */
async function recordTwo(backend: DemoBackend): Promise<{ file: string; rec: Recording }> {
  return recordThroughProxy(backend.url, async (wsUrl) => {
    const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}&room=7`), [], { headers: { Origin: 'http://localhost:3000' } });
    await c.ask('{"op":"hello","text":"héllo wörld"}');
    await c.ask(BYTES);
    await closeClient(c, 1000, 'done');
    const d = await openClient(wsUrl('/ws'));
    await d.closed;
  });
}

/** What a HAR keeps of a session: the handshake, the data messages and the close code. */
function essence(rec: Recording): unknown[] {
  return rec.sessions.map((s) => ({
    path: s.open.request.path,
    headers: s.open.request.headers,
    status: s.open.response?.status,
    responseHeaders: s.open.response?.headers,
    extensions: s.open.extensions,
    messages: s.messages
      .filter((m) => m.kind === 'text' || m.kind === 'binary')
      .map((m) => ({ from: m.from, kind: m.kind, text: m.text, base64: m.base64, size: m.size })),
    close: s.close?.close ? { code: s.close.close.code, reason: s.close.close.reason } : undefined,
  }));
}

describe('HAR export and import round trip', () => {
  it('recordingToHar → JSON → a .har file → loadRecording: the same sessions and messages', async () => {
    const backend = await demoBackend();
    const { rec } = await recordTwo(backend);
    const har = recordingToHar(rec, '9.9.9-test');
    const harFile = tmpFile('session.har');
    writeFileSync(harFile, JSON.stringify(har, null, 2));

    const back = loadRecording(harFile);
    expect(back.warnings).toEqual([]);
    expect(back.sessions).toHaveLength(2);
    expect(essence(back)).toEqual(essence(rec));
    // harToRecording on the text gives the same.
    expect(essence(harToRecording(readFileSync(harFile, 'utf8'), harFile))).toEqual(essence(rec));
    // The times survive (to the microsecond that JSON and seconds allow).
    const t0 = rec.sessions[0]!.messages.filter((m) => m.kind !== 'close').map((m) => m.t);
    const t1 = back.sessions[0]!.messages.map((m) => m.t);
    t1.forEach((t, i) => {
      expect(t).toBeCloseTo(t0[i]!, 2);
    });
    // Served from the HAR, the first session plays as recorded.
    const server = await createReplayServer(harFile);
    defer(() => server.close());
    const c = await openClient(`${server.url}/ws`);
    expect(JSON.parse((await c.ask('{"op":"hello","text":"héllo wörld"}')).text)).toMatchObject({ type: 'echo', data: { text: 'héllo wörld' } });
    const bin = await c.ask(BYTES);
    expect(bin.binary).toBe(true);
    expect(bin.data.equals(BYTES)).toBe(true);
    expect(server.unexpected).toEqual([]);
  });

  it("the HAR has Chrome's WebSocket fields: _resourceType, _webSocketMessages (send/receive, epoch seconds, opcode 1|2, text or base64), _webSocketClose", async () => {
    const backend = await demoBackend();
    const { rec } = await recordTwo(backend);
    const har = JSON.parse(JSON.stringify(recordingToHar(rec, '9.9.9-test'))) as Har;
    expect(har.log.version).toBe('1.2');
    expect(har.log.creator).toEqual({ name: 'wstap', version: '9.9.9-test' });
    expect(har.log.entries).toHaveLength(2);
    const [chat, refused] = har.log.entries as [Har['log']['entries'][number], Har['log']['entries'][number]];
    const s = rec.sessions[0]!;

    expect(chat._resourceType).toBe('websocket');
    expect(chat.request.method).toBe('GET');
    expect(chat.request.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/ws\?token=\[redacted\]&room=7$/);
    expect(chat.request.httpVersion).toBe('HTTP/1.1');
    expect(chat.request.queryString).toEqual([
      { name: 'token', value: '[redacted]' },
      { name: 'room', value: '7' },
    ]);
    expect(chat.response.status).toBe(101);
    expect(chat.response.statusText).toBe('Switching Protocols');
    expect(new Date(chat.startedDateTime).getTime()).toBe(s.open.ts);

    const msgs = chat._webSocketMessages;
    expect(msgs.map((m) => [m.type, m.opcode])).toEqual([
      ['send', 1],
      ['receive', 1],
      ['send', 2],
      ['receive', 2],
    ]);
    expect(msgs[0]!.data).toBe('{"op":"hello","text":"héllo wörld"}');
    expect(JSON.parse(msgs[1]!.data)).toMatchObject({ type: 'echo' });
    expect(msgs[2]!.data).toBe(BYTES.toString('base64'));
    expect(msgs[3]!.data).toBe(BYTES.toString('base64'));
    // Epoch seconds (a float), within the session, in order.
    const endSeconds = s.close!.ts / 1000;
    for (const m of msgs) {
      expect(m.time).toBeGreaterThanOrEqual(s.open.ts / 1000);
      expect(m.time).toBeLessThanOrEqual(endSeconds);
    }
    expect([...msgs].map((m) => m.time).sort((a, b) => a - b)).toEqual(msgs.map((m) => m.time));
    expect(chat._webSocketClose).toMatchObject({ code: 1000, reason: 'done' });
    expect(chat._webSocketClose!.timestamp).toBeGreaterThanOrEqual(s.open.ts / 1000);
    expect(chat._webSocketClose!.timestamp).toBeLessThan(s.open.ts / 1000 + 60);

    expect(refused._webSocketMessages).toEqual([]);
    expect(refused._webSocketClose).toMatchObject({ code: 1008, reason: 'Authentication required: Use Authorization header' });
  });

  it('the HAR holds no secret (the recording is redacted before export)', async () => {
    const backend = await demoBackend();
    const token = fakeJwt(600);
    const { rec } = await recordThroughProxy(backend.url, async (wsUrl) => {
      const c = await openClient(wsUrl(`/ws?access_token=${token}`), [], {
        headers: { Authorization: `Bearer ${token}`, Cookie: `session=${token}` },
      });
      await c.ask(JSON.stringify({ token }));
      await closeClient(c);
    });
    const text = JSON.stringify(recordingToHar(rec, 'x'));
    expect(text).not.toContain(token);
    for (const part of token.split('.').slice(1)) expect(text).not.toContain(part);
  });
});

describe('the close after a HAR round trip', () => {
  // Guards who closed across a HAR round trip: recordingToHar exports the close's initiator and
  // harToRecording reads it back ('server' only when it is absent). Otherwise a session the client
  // closed comes back as one the server closes, and served from the HAR the mock backend would
  // close the connection itself right after its last message, which the original backend never did.
  it('a session the client closed is not closed by the mock server after the round trip', async () => {
    const backend = await demoBackend();
    const { rec } = await recordTwo(backend);
    expect(rec.sessions[0]!.close!.close!.initiator).toBe('client');
    const harFile = tmpFile('session.har');
    writeFileSync(harFile, JSON.stringify(recordingToHar(rec, 'x')));
    expect(loadRecording(harFile).sessions[0]!.close!.close!.initiator).toBe('client');
  });

  // The same bug as seen by a client of the mock backend.
  it('served from the round-tripped HAR, the connection stays open after the last answer (the client closes)', async () => {
    const backend = await demoBackend();
    const { rec } = await recordTwo(backend);
    const harFile = tmpFile('session.har');
    writeFileSync(harFile, JSON.stringify(recordingToHar(rec, 'x')));
    const server = await createReplayServer(harFile);
    defer(() => server.close());
    const c = await openClient(`${server.url}/ws`);
    await c.ask('{"op":"hello","text":"héllo wörld"}');
    await c.ask(BYTES);
    // Frames are ordered: a close sent by the server after its last message arrives before this pong.
    const first = await new Promise<string>((resolve) => {
      if (c.ws.readyState !== c.ws.OPEN) return resolve('close');
      c.ws.once('pong', () => resolve('pong'));
      c.ws.once('close', () => resolve('close'));
      c.ws.ping();
    });
    expect(first).toBe('pong');
  });
});

describe('wstap export (the real bin)', () => {
  it('writes a HAR that loads back to the same sessions', async () => {
    const backend = await demoBackend();
    const { file, rec } = await recordTwo(backend);
    const out = tmpFile('out.har');
    const r = await runBin(['export', file, '--har', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`wrote ${out}: 2 WebSocket session(s)\n`);
    const har = JSON.parse(readFileSync(out, 'utf8')) as Har;
    expect(har.log.entries.map((e) => e._resourceType)).toEqual(['websocket', 'websocket']);
    expect(essence(loadRecording(out))).toEqual(essence(rec));
    // The exported HAR is itself a valid input to report.
    const report = await runBin(['report', out, '--json']);
    expect(report.code).toBe(0);
    expect((JSON.parse(report.stdout) as unknown[]).length).toBe(2);
  });

  it('exits 2 for a missing input', async () => {
    const r = await runBin(['export', tmpFile('nope.jsonl'), '--har', tmpFile('x.har')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such file/);
  });

  it('exits 2 without --har', async () => {
    const r = await runBin(['export', tmpFile('nope.jsonl')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--har/);
  });
});

// --- a HAR as Chrome DevTools saves it ------------------------------------------------

/** Epoch seconds of the page load in the hand-written HAR (2025-01-15T10:00:00Z). */
const T0 = Date.UTC(2025, 0, 15, 10, 0, 0) / 1000;

/** The shape of DevTools' "Save all as HAR": a page, an ordinary request, and a WebSocket entry. */
function chromeHar(): unknown {
  const header = (name: string, value: string): { name: string; value: string } => ({ name, value });
  return {
    log: {
      version: '1.2',
      creator: { name: 'WebInspector', version: '537.36' },
      pages: [
        {
          startedDateTime: '2025-01-15T09:59:59.500Z',
          id: 'page_1',
          title: 'http://localhost:3000/',
          pageTimings: { onContentLoad: 120.4, onLoad: 180.9 },
        },
      ],
      entries: [
        {
          _initiator: { type: 'other' },
          _priority: 'VeryHigh',
          _resourceType: 'document',
          cache: {},
          connection: '31',
          pageref: 'page_1',
          request: {
            method: 'GET',
            url: 'http://localhost:3000/',
            httpVersion: 'HTTP/1.1',
            headers: [header('Host', 'localhost:3000'), header('Accept', 'text/html')],
            queryString: [],
            cookies: [],
            headersSize: 320,
            bodySize: 0,
          },
          response: {
            status: 200,
            statusText: 'OK',
            httpVersion: 'HTTP/1.1',
            headers: [header('Content-Type', 'text/html')],
            cookies: [],
            content: { size: 15, mimeType: 'text/html', text: '<!doctype html>' },
            redirectURL: '',
            headersSize: 120,
            bodySize: 15,
            _transferSize: 135,
            _error: null,
          },
          serverIPAddress: '127.0.0.1',
          startedDateTime: '2025-01-15T09:59:59.500Z',
          time: 4.2,
          timings: { blocked: 0.8, dns: -1, ssl: -1, connect: -1, send: 0.1, wait: 2.9, receive: 0.4, _blocked_queueing: 0.5 },
        },
        {
          _initiator: {
            type: 'script',
            stack: {
              callFrames: [{ functionName: 'connect', scriptId: '17', url: 'http://localhost:3000/app.js', lineNumber: 12, columnNumber: 16 }],
            },
          },
          _priority: null,
          _resourceType: 'websocket',
          cache: {},
          connection: '47',
          pageref: 'page_1',
          request: {
            method: 'GET',
            url: 'ws://localhost:8000/ws?room=lobby',
            httpVersion: 'HTTP/1.1',
            headers: [
              header('Host', 'localhost:8000'),
              header('Connection', 'Upgrade'),
              header('Pragma', 'no-cache'),
              header('Cache-Control', 'no-cache'),
              header('User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'),
              header('Upgrade', 'websocket'),
              header('Origin', 'http://localhost:3000'),
              header('Sec-WebSocket-Version', '13'),
              header('Accept-Encoding', 'gzip, deflate, br, zstd'),
              header('Accept-Language', 'en-US,en;q=0.9'),
              header('Sec-WebSocket-Key', 'x3JJHMbDL1EzLkh9GBhXDw=='),
              header('Sec-WebSocket-Extensions', 'permessage-deflate; client_max_window_bits'),
            ],
            queryString: [{ name: 'room', value: 'lobby' }],
            cookies: [],
            headersSize: 540,
            bodySize: 0,
          },
          response: {
            status: 101,
            statusText: 'Switching Protocols',
            httpVersion: 'HTTP/1.1',
            headers: [
              header('Upgrade', 'websocket'),
              header('Connection', 'Upgrade'),
              header('Sec-WebSocket-Accept', 'HSmrc0sMlYUkAGmm5OPpG2HaGWk='),
              header('Sec-WebSocket-Extensions', 'permessage-deflate'),
            ],
            cookies: [],
            content: { size: 0, mimeType: 'x-unknown' },
            redirectURL: '',
            headersSize: 129,
            bodySize: 0,
            _transferSize: 129,
            _error: null,
          },
          serverIPAddress: '127.0.0.1',
          startedDateTime: '2025-01-15T10:00:00.000Z',
          time: 2.7,
          timings: { blocked: 0.6, dns: -1, ssl: -1, connect: -1, send: 0, wait: 2.1, receive: 0, _blocked_queueing: 0.3 },
          _webSocketMessages: [
            { type: 'receive', time: T0 + 0.012345, opcode: 1, data: '{"type":"welcome","room":"lobby","users":1}' },
            { type: 'send', time: T0 + 0.5, opcode: 1, data: '{"type":"join","user":"ada"}' },
            { type: 'receive', time: T0 + 0.503, opcode: 1, data: '{"type":"joined","user":"ada","users":2}' },
            { type: 'receive', time: T0 + 0.504, opcode: 1, data: '{"type":"history","messages":[]}' },
            { type: 'send', time: T0 + 1.25, opcode: 2, data: Buffer.from([1, 2, 3]).toString('base64') },
            { type: 'receive', time: T0 + 1.26, opcode: 2, data: Buffer.from([4, 5, 6, 255]).toString('base64') },
          ],
        },
      ],
    },
  };
}

describe('a HAR saved by Chrome DevTools', () => {
  it('imports: the WebSocket entry becomes a session, the ordinary request is skipped', () => {
    const rec = harToRecording(JSON.stringify(chromeHar()), 'chrome.har');
    expect(rec.sessions).toHaveLength(1);
    const s = rec.sessions[0]!;
    expect(s.open).toMatchObject({
      outcome: 'tunnel',
      request: { method: 'GET', path: '/ws?room=lobby' },
      response: { status: 101 },
      extensions: 'permessage-deflate',
    });
    expect(s.messages.map((m) => [m.from, m.kind])).toEqual([
      ['server', 'text'],
      ['client', 'text'],
      ['server', 'text'],
      ['server', 'text'],
      ['client', 'binary'],
      ['server', 'binary'],
    ]);
    expect(s.messages[0]!.t).toBeCloseTo(12.345, 1);
    expect(s.messages[5]!.base64).toBe(Buffer.from([4, 5, 6, 255]).toString('base64'));
    expect(s.close).toBeUndefined();
  });

  it('is served by createReplayServer to a real client, in order', async () => {
    const file = tmpFile('chrome.har');
    writeFileSync(file, JSON.stringify(chromeHar(), null, 2));
    const server = await createReplayServer(file);
    defer(() => server.close());
    const c = await openClient(`${server.url}/ws?room=lobby`, [], { headers: { Origin: 'http://localhost:3000' } });
    expect(c.ws.extensions).toMatch(/permessage-deflate/);
    expect((await c.message(1)).text).toBe('{"type":"welcome","room":"lobby","users":1}');
    c.ws.send('{"type":"join","user":"ada"}');
    expect((await c.message(2)).text).toBe('{"type":"joined","user":"ada","users":2}');
    expect((await c.message(3)).text).toBe('{"type":"history","messages":[]}');
    const bin = await c.ask(Buffer.from([1, 2, 3]));
    expect(bin.binary).toBe(true);
    expect([...bin.data]).toEqual([4, 5, 6, 255]);
    expect(c.received).toHaveLength(4);
    expect(server.unexpected).toEqual([]);
    expect(server.matched()).toBe(2);
    // No close recorded: the connection stays open until the client closes it.
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    expect(await closeClient(c)).toEqual({ code: 1000, reason: 'done' });
  });

  it('a wrong message against the HAR is reported with the JSON path', async () => {
    const file = tmpFile('chrome.har');
    writeFileSync(file, JSON.stringify(chromeHar()));
    const server = await createReplayServer(file);
    defer(() => server.close());
    const c = await openClient(`${server.url}/ws?room=lobby`);
    await c.message(1);
    c.ws.send('{"type":"join","user":"bob"}');
    expect((await c.closed).code).toBe(1008);
    expect(server.unexpected[0]!.diffs).toEqual([{ path: '$.user', expected: 'ada', actual: 'bob' }]);
  });

  it('wstap report reads it', async () => {
    const file = tmpFile('chrome.har');
    writeFileSync(file, JSON.stringify(chromeHar()));
    const r = await runBin(['report', file, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([
      expect.objectContaining({ session: 'har-1', path: '/ws?room=lobby', status: 101, messages: { client: 2, server: 4 }, close: null }),
    ]);
  });

  it('a HAR without WebSocket entries, or not JSON: a clear error', () => {
    const har = chromeHar() as { log: { entries: unknown[] } };
    har.log.entries = har.log.entries.slice(0, 1);
    expect(() => harToRecording(JSON.stringify(har), 'page.har')).toThrow(/page\.har has no WebSocket entries/);
    expect(() => harToRecording('{"log": ', 'cut.har')).toThrow(/cut\.har is not valid JSON/);
    expect(() => harToRecording('{"log": {}}', 'empty.har')).toThrow(/empty\.har is not a HAR file/);
  });
});
