/**
 * Recording real sessions through wstap (issue 4): ws and undici clients against the demo
 * backend with permessage-deflate on; the header, the open event, every message both ways in
 * order, the close and the findings; a refused upgrade.
 * Real sockets on 127.0.0.1, ephemeral ports; the JSON Lines file is read back with the loader.
 */
import { WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadRecording } from '../../src/recording/loader.js';
import { demoBackend } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { fakeJwt } from '../support/helpers.js';
import { ensureBuilt } from '../support/process.js';
import { closeClient, dataOf, openClient, recordingProxy } from '../support/recording.js';
import { tmpFile } from '../support/temp.js';
import { until } from '../support/wait.js';

beforeAll(ensureBuilt, 120_000);
afterEach(runDeferred);

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
    await until(() => got.length === 1, 'the echo', { seen: () => got });
    ws.send(new Uint8Array([9, 8, 7]));
    await until(() => got.length === 2, 'the binary echo', { seen: () => got });
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
