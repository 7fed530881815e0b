/**
 * Recording real sessions through wstap (issue 4): ws and undici clients, the demo
 * backend with permessage-deflate on, the JSON Lines file read back with the loader.
 * Secrets never reach the file; --record-payloads, --record-max-bytes and an unwritable
 * path behave as documented, and proxying goes on whatever happens to the recording.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { wsFixture } from '../../src/replay/fixture.js';
import type { MessageEvent, Recording } from '../../src/recording/format.js';
import { loadRecording } from '../../src/recording/loader.js';
import type { PayloadMode } from '../../src/sinks/recorder.js';
import { fakeJwt, startTestProxy, type TestProxy } from '../support/helpers.js';
import { closeClient, defer, ensureBuilt, openClient, runDeferred, startBinProxy, tmpDir, tmpFile, until } from '../support/recording.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

async function demoBackend(): Promise<DemoBackend> {
  const b = await startDemoBackend({ env: {} });
  defer(() => b.close());
  return b;
}

async function recordingProxy(target: string, record: { file: string; payloads?: PayloadMode; maxBytes?: number }): Promise<TestProxy> {
  const tp = await startTestProxy({ target, record });
  defer(() => tp.close());
  return tp;
}

/** The data messages (text and binary) of a session, as from/kind/payload. */
function dataOf(rec: Recording, i = 0): { from: string; kind: string; text?: string; base64?: string }[] {
  return rec.sessions[i]!.messages
    .filter((m) => m.kind === 'text' || m.kind === 'binary')
    .map((m) => ({ from: m.from, kind: m.kind, ...(m.text !== undefined ? { text: m.text } : {}), ...(m.base64 !== undefined ? { base64: m.base64 } : {}) }));
}

const recordingStopped = (tp: TestProxy): Record<string, unknown>[] => tp.logs.filter((l) => l['event'] === 'recording-stopped');

describe('recording a real session (demo backend, permessage-deflate on)', () => {
  it('a ws client: header, open (101, deflate), every message both ways in order, the close', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file });
    const token = fakeJwt(600);
    const c = await openClient(tp.wsUrl('/ws?room=7'), [], { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${token}` } });
    const first = await c.ask('{"op":"hello","n":1}');
    const second = await c.ask(Buffer.from([0, 1, 2, 250, 255]));
    const third = await c.ask('plain text');
    expect(await closeClient(c, 1000, 'done')).toEqual({ code: 1000, reason: 'done' });
    await tp.nextEnd();
    await tp.close();

    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    expect(rec.header).toMatchObject({ type: 'header', format: 'wstap-recording', version: 1, payloads: 'full', target: backend.url });
    expect(rec.sessions).toHaveLength(1);
    const s = rec.sessions[0]!;
    expect(s.open).toMatchObject({ outcome: 'tunnel', request: { method: 'GET', path: '/ws?room=7' }, response: { status: 101 } });
    expect(s.open.extensions).toMatch(/^permessage-deflate/);
    expect(s.open.client).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(s.open.request.headers.find((h) => h.name === 'Origin')?.value).toBe('http://localhost:3000');

    expect(dataOf(rec)).toEqual([
      { from: 'client', kind: 'text', text: '{"op":"hello","n":1}' },
      { from: 'server', kind: 'text', text: first.text },
      { from: 'client', kind: 'binary', base64: Buffer.from([0, 1, 2, 250, 255]).toString('base64') },
      { from: 'server', kind: 'binary', base64: second.data.toString('base64') },
      { from: 'client', kind: 'text', text: 'plain text' },
      { from: 'server', kind: 'text', text: third.text },
    ]);
    expect(JSON.parse(first.text)).toMatchObject({ type: 'echo', data: { op: 'hello', n: 1 } });
    // Compressed both ways: deflate was negotiated and the tap inflated every message.
    const data = s.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
    expect(data.every((m) => m.compressed)).toBe(true);
    expect(data[0]!.size).toBe(Buffer.byteLength('{"op":"hello","n":1}'));
    // Times are ordered and relative to the session's start.
    const ts = s.messages.map((m) => m.t);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    expect(ts[0]!).toBeGreaterThanOrEqual(0);

    const closes = s.messages.filter((m) => m.kind === 'close');
    expect(closes.map((m) => [m.from, m.closeCode, m.text])).toEqual([
      ['client', 1000, 'done'],
      ['server', 1000, 'done'],
    ]);
    expect(s.close).toBeDefined();
    expect(s.close!.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'done', clean: true });
    expect(s.close!.messages!.client.messages).toBeGreaterThanOrEqual(3);
    expect(s.close!.note).toBeUndefined();
  });

  it('an undici client: the session and its messages are recorded the same way', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file });
    const ws = new UndiciWebSocket(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    defer(() => ws.close());
    ws.binaryType = 'arraybuffer';
    const got: (string | Buffer)[] = [];
    ws.addEventListener('message', (ev) => got.push(typeof ev.data === 'string' ? ev.data : Buffer.from(ev.data as ArrayBuffer)));
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('undici WebSocket failed to open')));
    });
    ws.send('{"from":"undici"}');
    await until(() => got.length === 1, 'the echo');
    ws.send(new Uint8Array([9, 8, 7]));
    await until(() => got.length === 2, 'the binary echo');
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (ev) => resolve(ev.code)));
    ws.close(1000, 'bye');
    expect(await closed).toBe(1000);
    await tp.nextEnd();
    await tp.close();

    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    const s = rec.sessions[0]!;
    expect(s.open.extensions).toMatch(/^permessage-deflate/);
    expect(s.open.request.path).toBe('/ws?token=[redacted]');
    expect(dataOf(rec)).toEqual([
      { from: 'client', kind: 'text', text: '{"from":"undici"}' },
      { from: 'server', kind: 'text', text: got[0] as string },
      { from: 'client', kind: 'binary', base64: Buffer.from([9, 8, 7]).toString('base64') },
      { from: 'server', kind: 'binary', base64: Buffer.from([9, 8, 7]).toString('base64') },
    ]);
    expect(s.close!.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'bye', clean: true });
  });

  it('a session the backend closes with 1008 (no token) is recorded with its close and the findings', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file });
    const c = await openClient(tp.wsUrl('/ws'));
    expect(await c.closed).toEqual({ code: 1008, reason: 'Authentication required: Use Authorization header' });
    await tp.nextEnd();
    await tp.close();
    const s = loadRecording(file).sessions[0]!;
    expect(s.open.findings.map((f) => f.code)).toContain('auth-missing');
    expect(s.close!.close).toMatchObject({ initiator: 'server', code: 1008, reason: 'Authentication required: Use Authorization header' });
    expect(s.close!.findings.map((f) => f.code)).toContain('close-policy');
    expect(s.messages.filter((m) => m.kind === 'close').map((m) => m.from)).toEqual(['server', 'client']);
  });

  it('a refused upgrade (403, disallowed Origin) is recorded as an open event with the answer, no messages', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file });
    await expect(openClient(tp.wsUrl('/ws'), [], { headers: { Origin: 'http://evil.test' } })).rejects.toThrow(/403/);
    await tp.nextHandshake();
    await tp.close();
    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    expect(rec.sessions).toHaveLength(1);
    expect(rec.sessions[0]!.open).toMatchObject({ outcome: 'rejected', response: { status: 403 } });
    expect(rec.sessions[0]!.messages).toEqual([]);
  });
});

describe('payloads as recorded', () => {
  /** A plain ws echo backend, no compression: what the client sends comes back as it was. */
  async function echoBackend(): Promise<string> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    await new Promise((r) => wss.once('listening', r));
    defer(() => new Promise<void>((r) => wss.close(() => r())));
    return `http://127.0.0.1:${(wss.address() as { port: number }).port}`;
  }

  const awkward = [
    '{"id":1,"say":"\\"quoted\\" and \\\\ back"}',
    Array.from({ length: 32 }, (_, c) => String.fromCharCode(c)).join('') + '\u007f end',
    'é 中文 😀 \u2028 \u2029 mixed',
    '"'.repeat(300),
    'x'.repeat(70_000) + '"tail"',
    `{"token":"fake-${randomBytes(6).toString('hex')}","n":2}`,
    '',
  ];

  it('many messages in one burst and messages larger than the write buffer: every line whole and in order', async () => {
    const file = tmpFile();
    const tp = await recordingProxy(await echoBackend(), { file });
    const c = await openClient(tp.wsUrl('/ws'));
    // 400 texts of 2 KB sent at once (far more than one 256 KB buffer in one turn), then
    // a 600 KB text with quotes to escape and a 500 KB binary message (its base64 is 680 KB).
    const texts = Array.from({ length: 400 }, (_, i) => `{"i":${i},"s":"${'"q" '.repeat(500)}"}`);
    for (const t of texts) c.ws.send(t);
    const bigText = `{"big":"${'say \\"hi\\" '.repeat(60_000)}"}`;
    const bigBinary = randomBytes(500_000);
    c.ws.send(bigText);
    c.ws.send(bigBinary);
    await c.message(402);
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    for (const from of ['client', 'server']) {
      const got = dataOf(rec).filter((m) => m.from === from);
      expect(got.map((m) => m.text ?? m.base64)).toEqual([...texts, bigText, bigBinary.toString('base64')]);
    }
  });

  for (const payloads of ['full', 30] as PayloadMode[]) {
    it(`texts JSON must escape, binary and empty messages are read back as sent (--record-payloads ${payloads})`, async () => {
      const file = tmpFile();
      const tp = await recordingProxy(await echoBackend(), { file, payloads });
      const c = await openClient(tp.wsUrl('/ws'));
      for (const text of awkward) expect((await c.ask(text)).text).toBe(text);
      const bin = randomBytes(100);
      expect((await c.ask(bin)).data.equals(bin)).toBe(true);
      expect((await c.ask(Buffer.alloc(0))).data.length).toBe(0);
      await closeClient(c);
      await tp.nextEnd();
      await tp.close();

      const rec = loadRecording(file);
      expect(rec.warnings).toEqual([]);
      const limit = typeof payloads === 'number' ? payloads : Infinity;
      const cut = (text: string): string => {
        const b = Buffer.from(text.replace(/"token":"[^"]*"/, '"token":"[redacted]"'), 'utf8');
        return b.length > limit ? new TextDecoder().decode(b.subarray(0, limit)).replace(/\uFFFD+$/, '') : b.toString('utf8');
      };
      const expected: { kind: string; text?: string; base64?: string }[] = [...awkward.map((t) => ({ kind: 'text', text: cut(t) })), { kind: 'binary', base64: bin.subarray(0, Math.min(100, limit)).toString('base64') }, { kind: 'binary' }];
      for (const from of ['client', 'server']) {
        const got = dataOf(rec).filter((m) => m.from === from).map(({ from: _, ...m }) => m);
        expect(got.map((m) => ({ ...m, text: m.text === '' ? undefined : m.text }))).toEqual(expected.map((m) => ({ ...m, text: m.text === '' ? undefined : m.text })));
      }
      const messages = rec.sessions[0]!.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
      const longer = [...awkward.map((t) => Buffer.byteLength(t.replace(/"token":"[^"]*"/, '"token":"[redacted]"'))), 100, 0].filter((n) => n > limit).length;
      expect(messages.filter((m) => m.truncated).length).toBe(2 * longer);
      if (typeof payloads === 'number') expect(longer).toBeGreaterThanOrEqual(4);
      // Every line is what JSON.stringify writes for its own content: no odd escapes.
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      for (const line of lines) expect(JSON.stringify(JSON.parse(line))).toBe(line);
    });
  }
});

describe('no secret reaches the recording', () => {
  it('Authorization, ?token=, Cookie, a token subprotocol and a JSON "token" field are all redacted', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file });
    const headerToken = fakeJwt(600);
    const queryToken = fakeJwt(900);
    const cookieValue = `fake-cookie-${randomBytes(12).toString('hex')}`;
    const protocolToken = `fake-proto-${randomBytes(12).toString('hex')}`;
    const payloadToken = `fake-payload-${randomBytes(12).toString('hex')}`;
    const c = await openClient(tp.wsUrl(`/ws?token=${queryToken}&room=1`), ['access_token', protocolToken], {
      headers: { Authorization: `Bearer ${headerToken}`, Cookie: `sid=${cookieValue}; theme=dark`, Origin: 'http://localhost:3000' },
    });
    expect(c.ws.protocol).toBe('access_token');
    const echo = await c.ask(JSON.stringify({ type: 'auth', token: payloadToken, note: 'kept' }));
    // The backend echoed the secret back: the server message carries it too.
    expect(echo.text).toContain(payloadToken);
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const text = readFileSync(file, 'utf8');
    const secrets = [headerToken, queryToken, cookieValue, protocolToken, payloadToken];
    for (const secret of secrets) expect(text).not.toContain(secret);
    // Nor any part of the JWTs beyond their (public) header segment.
    for (const jwt of [headerToken, queryToken]) for (const part of jwt.split('.').slice(1)) expect(text).not.toContain(part);

    // What is kept: the names, the scheme, the shape of things.
    const s = loadRecording(file).sessions[0]!;
    const header = (name: string): string | undefined => s.open.request.headers.find((h) => h.name.toLowerCase() === name)?.value;
    expect(s.open.request.path).toBe('/ws?token=[redacted]&room=1');
    expect(header('authorization')).toBe('Bearer [redacted]');
    expect(header('cookie')).toMatch(/^sid=\[redacted\]; theme=/);
    expect(header('sec-websocket-protocol')).toBe('access_token, [redacted]');
    expect(s.open.protocol).toBe('access_token');
    const sent = s.messages.find((m) => m.from === 'client' && m.kind === 'text')!;
    expect(JSON.parse(sent.text!)).toEqual({ type: 'auth', token: '[redacted]', note: 'kept' });
  });

  // BUG (src/recording/recorder.ts, handshake()): the chosen subprotocol is redacted on its own
  // (redactHeaders of one 'sec-websocket-protocol' value), where a token entry is not recognisable,
  // and the response headers go through redactHeaders too: a backend that answers with the token
  // entry gets it written twice (open.protocol and response.headers). The log sink already does it
  // right (chosenProtocol() in src/log/entries.ts); the recorder should use the same rule.
  it('a backend that answers with the token subprotocol itself: the token is not in the file', async () => {
    // Some servers echo the token entry back as the chosen subprotocol.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (offered) => [...offered][1] ?? false });
    defer(() => new Promise<void>((r) => wss.close(() => r())));
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
    const port = (wss.address() as { port: number }).port;
    const file = tmpFile();
    const tp = await recordingProxy(`http://127.0.0.1:${port}`, { file });
    const protocolToken = `fake-proto-${randomBytes(12).toString('hex')}`;
    const c = await openClient(tp.wsUrl('/ws'), ['access_token', protocolToken]);
    expect(c.ws.protocol).toBe(protocolToken);
    await c.ask('hi');
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();
    expect(readFileSync(file, 'utf8')).not.toContain(protocolToken);
  });
});

describe('--record-payloads', () => {
  it('none: sizes are kept, payloads are not', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file, payloads: 'none' });
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    await c.ask(JSON.stringify({ marker }));
    await c.ask(Buffer.from(marker));
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(marker);
    expect(text).not.toContain(Buffer.from(marker).toString('base64'));
    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    expect(rec.header.payloads).toBe('none');
    const data = rec.sessions[0]!.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
    expect(data).toHaveLength(4);
    for (const m of data) {
      expect(m.omitted).toBe(true);
      expect(m.text).toBeUndefined();
      expect(m.base64).toBeUndefined();
      expect(m.size).toBeGreaterThan(0);
    }
    expect(data[0]!.size).toBe(Buffer.byteLength(JSON.stringify({ marker })));
  });

  it('a byte limit: each payload keeps its first N bytes and is marked truncated; short ones are whole', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file, payloads: 16 });
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    const long = JSON.stringify({ text: 'a'.repeat(100) });
    await c.ask(long);
    const bin = Buffer.from(Array.from({ length: 40 }, (_, i) => i));
    await c.ask(bin);
    await c.ask(Buffer.from([1, 2, 3]));
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const rec = loadRecording(file);
    expect(rec.header.payloads).toBe(16);
    const data = rec.sessions[0]!.messages.filter((m) => m.kind === 'text' || m.kind === 'binary');
    const [sentText, , sentBin, , sentSmall, echoedSmall] = data as [MessageEvent, MessageEvent, MessageEvent, MessageEvent, MessageEvent, MessageEvent];
    expect(sentText).toMatchObject({ text: long.slice(0, 16), truncated: true, size: long.length });
    expect(sentBin).toMatchObject({ base64: bin.subarray(0, 16).toString('base64'), truncated: true, size: 40 });
    expect(sentSmall).toMatchObject({ base64: Buffer.from([1, 2, 3]).toString('base64'), size: 3 });
    expect(sentSmall.truncated).toBeUndefined();
    expect(echoedSmall.truncated).toBeUndefined();
    for (const m of data) expect(Buffer.from(m.text ?? m.base64 ?? '', m.text !== undefined ? 'utf8' : 'base64').length).toBeLessThanOrEqual(16);
  });

  // BUG (src/recording/recorder.ts, payloadFields): the payload is cut to N bytes first and
  // redacted after; a cut inside a secret's value leaves `"token":"<start of the secret>` with
  // no closing quote, which the redaction pattern does not match, so the start of the secret
  // is written. Fix: redact the whole text first, then cut the redacted text.
  it('a byte limit that cuts a "token" value does not write the start of the secret', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const tp = await recordingProxy(backend.url, { file, payloads: 40 });
    const secret = `fake-secret-${randomBytes(16).toString('hex')}`;
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    await c.ask(JSON.stringify({ token: secret }));
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();
    const text = readFileSync(file, 'utf8');
    // '{"token":"' is 10 bytes: the cut at 40 keeps 30 bytes of the secret.
    expect(text).not.toContain(secret.slice(0, 20));
  });
});

describe('--record-max-bytes', () => {
  it('stops the recording with one log line at the limit; proxying goes on', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const maxBytes = 4000;
    const tp = await recordingProxy(backend.url, { file, maxBytes });
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    for (let i = 0; i < 30; i++) {
      const reply = await c.ask(JSON.stringify({ i, pad: 'x'.repeat(200) }));
      expect(JSON.parse(reply.text)).toMatchObject({ type: 'echo', data: { i } });
    }
    await closeClient(c);
    // A second session after the stop is proxied as well.
    const d = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    expect(JSON.parse((await d.ask('{"after":"stop"}')).text)).toMatchObject({ data: { after: 'stop' } });
    await closeClient(d);
    await tp.nextEnd(2);
    await tp.close();

    const stopped = recordingStopped(tp);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!['level']).toBe(40);
    expect(String(stopped[0]!['msg'])).toContain('--record-max-bytes 4000');
    expect(String(stopped[0]!['msg'])).toMatch(/proxying goes on/);
    const size = statSync(file).size;
    expect(size).toBeLessThanOrEqual(maxBytes);
    expect(size).toBeGreaterThan(0);
    // What was written is whole: every line complete, no torn line.
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const rec = loadRecording(file);
    expect(rec.warnings).toEqual([]);
    expect(rec.sessions).toHaveLength(1);
    const count = rec.sessions[0]!.messages.length;
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThan(60);
    expect(text).not.toContain('"after"');
  });

  it('through the real bin: one recording-stopped log line, and the session still echoes', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file, '--record-max-bytes', '3k']);
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    for (let i = 0; i < 20; i++) expect(JSON.parse((await c.ask(JSON.stringify({ i, pad: 'y'.repeat(200) }))).text)).toMatchObject({ data: { i } });
    await closeClient(c);
    await bin.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    const stopped = bin.json().filter((l) => l['event'] === 'recording-stopped');
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!['file']).toBe(file);
    expect(statSync(file).size).toBeLessThanOrEqual(3 * 1024);
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
    expect(loadRecording(file).warnings).toEqual([]);
  });

  it('through the real bin: --record-payloads none writes no payload', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file, '--record-payloads', 'none']);
    const marker = `marker-${randomBytes(8).toString('hex')}`;
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    await c.ask(marker);
    await closeClient(c);
    await bin.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(marker);
    const rec = loadRecording(file);
    expect(rec.header.payloads).toBe('none');
    expect(rec.sessions[0]!.messages.filter((m) => m.kind === 'text').every((m) => m.omitted === true)).toBe(true);
  });
});

describe('an unwritable record path', () => {
  it('a folder that does not exist: one clear error log line; the proxy still proxies', async () => {
    const backend = await demoBackend();
    const file = path.join(tmpDir(), 'no-such-folder', 'deeper', 'session.jsonl');
    const tp = await recordingProxy(backend.url, { file });
    await until(() => recordingStopped(tp).length > 0, 'the recording-stopped line');
    const c = await openClient(tp.wsUrl(`/ws?token=${fakeJwt(600)}`));
    for (let i = 0; i < 3; i++) expect(JSON.parse((await c.ask(JSON.stringify({ i }))).text)).toMatchObject({ data: { i } });
    await closeClient(c);
    await tp.nextEnd();
    await tp.close();

    const stopped = recordingStopped(tp);
    expect(stopped).toHaveLength(1);
    expect(stopped[0]!['level']).toBe(50);
    expect(stopped[0]!['file']).toBe(file);
    expect(String(stopped[0]!['msg'])).toContain(file);
    expect(String(stopped[0]!['msg'])).toMatch(/folder does not exist/);
    expect(String(stopped[0]!['msg'])).toMatch(/proxying goes on/);
    // Nothing else about the recording was logged (no error per event).
    expect(tp.logs.filter((l) => (l['level'] as number) >= 50)).toHaveLength(1);
    expect(existsSync(file)).toBe(false);
  });

  it('through the real bin: the error line is printed and the proxy runs on', async () => {
    const backend = await demoBackend();
    const file = path.join(tmpDir(), 'missing', 'session.jsonl');
    const { bin, port } = await startBinProxy(['--target', backend.url, '--record', file]);
    const line = await bin.waitForJson((l) => l['event'] === 'recording-stopped', 'the recording-stopped line');
    expect(line['level']).toBe(50);
    expect(String(line['msg'])).toMatch(/folder does not exist/);
    const c = await openClient(`ws://127.0.0.1:${port}/ws?token=${fakeJwt(600)}`);
    expect(JSON.parse((await c.ask('{"still":"proxying"}')).text)).toMatchObject({ data: { still: 'proxying' } });
    await closeClient(c);
    await bin.waitForJson((l) => l['event'] === 'session-end', 'the session-end line');
    expect(bin.json().filter((l) => l['event'] === 'recording-stopped')).toHaveLength(1);
    bin.proc.kill('SIGTERM');
    expect((await bin.exited).code).toBe(0);
  });
});

describe('wsFixture record and passthrough modes', () => {
  it('record: the real backend answers through wstap and the session is written; replay then serves it', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const rec = await wsFixture({ recording: file, mode: 'record', target: backend.url });
    defer(() => rec.close());
    expect(rec.mode).toBe('record');
    const c = await openClient(`${rec.url}/ws?token=${fakeJwt(600)}`);
    const live = await c.ask('{"q":"live"}');
    expect(JSON.parse(live.text)).toMatchObject({ type: 'echo', data: { q: 'live' } });
    await closeClient(c);
    await rec.close();
    const loaded = loadRecording(file);
    expect(loaded.warnings).toEqual([]);
    expect(dataOf(loaded).map((m) => m.text)).toEqual(['{"q":"live"}', live.text]);

    await backend.close();
    const replay = await wsFixture({ recording: file, mode: 'replay' });
    defer(() => replay.close());
    const d = await openClient(`${replay.url}/ws`);
    expect((await d.ask('{"q":"live"}')).text).toBe(live.text);
    await closeClient(d);
    expect(replay.unexpected).toEqual([]);
  });

  it('passthrough: proxied to the real backend, nothing written', async () => {
    const backend = await demoBackend();
    const file = tmpFile();
    const f = await wsFixture({ recording: file, mode: 'passthrough', target: backend.url });
    defer(() => f.close());
    const c = await openClient(`${f.url}/ws?token=${fakeJwt(600)}`);
    expect(JSON.parse((await c.ask('{"q":"pass"}')).text)).toMatchObject({ data: { q: 'pass' } });
    await closeClient(c);
    await f.close();
    expect(existsSync(file)).toBe(false);
  });

  it('record and passthrough need a target: a clear error', async () => {
    await expect(wsFixture({ recording: tmpFile(), mode: 'record' })).rejects.toThrow(/mode record needs a target/);
  });
});
