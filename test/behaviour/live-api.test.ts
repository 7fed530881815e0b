/**
 * The live view's API (issue 13, part 2): the sessions, a session, its messages (paged), the
 * event stream, a session as a recording and as a HAR, all redacted; a foreign Host refused;
 * bounded history with a visible count of what was let go. A real ws backend, real ws clients
 * through a real proxy, HTTP requests on 127.0.0.1; nothing mocked.
 */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRecording } from '../../src/recording/loader.js';
import {
  type FindingGroup,
  type HistoryEvent,
  type HistoryMessage,
  type HistoryOptions,
  type SessionDetail,
  SessionHistory,
  type SessionSummary,
} from '../../src/sinks/history.js';
import { startWsServer } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { atLeast, expectSameBytes, openTunnel } from '../support/fidelity.js';
import { fakeJwt, frame, openTestProxy, proxyInFront, startRawBackend, type TestProxy } from '../support/helpers.js';
import { closeClient, openClient } from '../support/recording.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

/** GET on the proxy with a chosen Host: status, headers and body. */
function get(
  tp: TestProxy,
  path: string,
  host = `127.0.0.1:${tp.port}`,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: tp.port, path, headers: { Host: host } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

const getJson = async <T>(tp: TestProxy, path: string): Promise<T> => JSON.parse((await get(tp, path)).body) as T;

type StreamEvent = { name: string; data: unknown };

/** The event stream, parsed as it comes: each event's name and data; `messages` flattens the batches. */
function events(tp: TestProxy, query = ''): { got: StreamEvent[]; names: string[]; messages: HistoryMessage[] } {
  const got: StreamEvent[] = [];
  const names: string[] = [];
  const messages: HistoryMessage[] = [];
  const req = http.get({ host: '127.0.0.1', port: tp.port, path: `/__wstap/api/events${query}` }, (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (name && data) {
          names.push(name);
          got.push({ name, data: JSON.parse(data) });
          if (name === 'messages') messages.push(...(JSON.parse(data) as HistoryMessage[]));
        }
      }
    });
  });
  req.on('error', () => {});
  defer(() => req.destroy());
  return { got, names, messages };
}

async function rig(opts: HistoryOptions = {}): Promise<{ tp: TestProxy; history: SessionHistory }> {
  const backend = await startWsServer();
  backend.wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(binary ? d : `echo ${d.toString()}`, { binary })));
  const history = new SessionHistory(opts);
  const tp = await openTestProxy({ target: backend.url, history, sinks: [history] });
  return { tp, history };
}

describe('the live view API', () => {
  it('a session appears in the list, its detail is annotated and redacted, its messages come in pages', async () => {
    const { tp } = await rig();
    const token = fakeJwt(600);
    const c = await openClient(tp.wsUrl(`/ws?token=${token}&room=7`), [], {
      headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${token}` },
    });
    for (let i = 1; i <= 5; i++) await c.ask(JSON.stringify({ id: i, token }));
    await closeClient(c, 1000, 'bye');
    await tp.nextEnd();

    const list = await getJson<{ sessions: SessionSummary[] }>(tp, '/__wstap/api/sessions');
    expect(list.sessions).toHaveLength(1);
    const s = list.sessions[0]!;
    expect(s).toMatchObject({
      id: 'ws-1',
      path: '/ws?token=[redacted]&room=7',
      origins: ['http://localhost:3000'],
      status: 101,
      outcome: 'tunnel',
      open: false,
    });
    expect(s.messages.client.messages).toBe(6); // five texts and the close
    expect(s.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'bye' });

    const detail = await getJson<SessionDetail>(tp, '/__wstap/api/sessions/ws-1');
    expect(detail.handshake.requestHeaders).toContainEqual({ name: 'Authorization', value: 'Bearer [redacted]' });
    expect(detail.kept).toEqual({ first: 1, last: 12, dropped: 0 });

    const page1 = await getJson<{ messages: { seq: number; from: string; text?: string }[]; more: boolean }>(
      tp,
      '/__wstap/api/sessions/ws-1/messages?limit=4',
    );
    expect(page1.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4]);
    expect(page1.more).toBe(true);
    expect(page1.messages[0]).toMatchObject({ from: 'client', text: '{"id":1,"token":"[redacted]"}' });
    const page2 = await getJson<{ messages: { seq: number }[]; more: boolean }>(tp, '/__wstap/api/sessions/ws-1/messages?after=10&limit=100');
    expect(page2.messages.map((m) => m.seq)).toEqual([11, 12]);
    expect(page2.more).toBe(false);

    for (const path of ['/__wstap/api/sessions', '/__wstap/api/sessions/ws-1', '/__wstap/api/sessions/ws-1/messages']) {
      const r = await get(tp, path);
      for (const part of token.split('.').slice(1)) expect(r.body, path).not.toContain(part);
      expect(r.headers['content-security-policy'], path).toBe("default-src 'none'");
      expect(r.headers['access-control-allow-origin'], path).toBeUndefined();
    }
    expect((await get(tp, '/__wstap/api/sessions/ws-9')).status).toBe(404);
  });

  it('the event stream carries the session, its messages (in batches, numbered) and its end as they happen', async () => {
    const { tp } = await rig();
    const stream = events(tp);
    await until(() => tp.proxy.stats().clientSockets > 0 || undefined, 'the stream to connect');
    const c = await openClient(tp.wsUrl('/live'));
    await c.ask('one');
    await c.ask('two');
    await closeClient(c);
    await until(() => stream.names.includes('end') || undefined, 'the end event', { seen: () => stream.names });
    // Messages come in batches; every batch is sent before the end.
    expect(stream.names.join(' ')).toMatch(/^session( messages)+ end$/);
    expect(stream.messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(stream.messages.slice(0, 4).map((m) => m.text)).toEqual(['one', 'echo one', 'two', 'echo two']);
    // An answer names the request it answers.
    expect(stream.messages.slice(0, 4).map((m) => m.answers)).toEqual([undefined, 1, undefined, 3]);
    const end = stream.got.at(-1)!.data as Extract<HistoryEvent, { type: 'end' }>;
    expect(end.session).toMatchObject({ id: 'ws-1', open: false, close: { code: 1000 } });
  });

  it('the stream can follow one session, or none with their counts each second; the findings come grouped by code', async () => {
    const { tp } = await rig();
    const one = events(tp, '?session=ws-2');
    const none = events(tp, '?messages=none');
    await until(() => (tp.proxy.stats().clientSockets > 1 ? true : undefined), 'the streams to connect');
    const a = await openClient(tp.wsUrl('/a'), [], { headers: { Origin: 'http://a.test' } });
    const b = await openClient(tp.wsUrl('/b'));
    await a.ask('from a');
    await b.ask('from b');
    await b.ask('again b');
    await until(() => (one.messages.length >= 4 ? true : undefined), 'the messages of ws-2', { seen: () => one.messages });
    expect(one.messages.every((m) => m.session === 'ws-2')).toBe(true);
    expect(one.names).toContain('session');
    await until(() => (none.names.includes('activity') ? true : undefined), 'an activity event', { seen: () => none.names });
    expect(none.names).not.toContain('messages');
    const activity = none.got.find((e) => e.name === 'activity')!.data as { sessions: { id: string; messages: { client: { messages: number } } }[] };
    expect(activity.sessions.map((s) => s.id).sort()).toEqual(['ws-1', 'ws-2']);
    await closeClient(a);
    await closeClient(b);
    await tp.nextEnd();
    await tp.nextEnd();
    const { findings } = await getJson<{ findings: FindingGroup[] }>(tp, '/__wstap/api/findings');
    const missing = findings.find((f) => f.code === 'origin-missing');
    expect(missing).toMatchObject({ severity: 'info', sessions: ['ws-2'] });
    expect(missing!.hint.length).toBeGreaterThan(10);
    expect(findings.find((f) => f.code === 'auth-missing')?.sessions).toEqual(['ws-2', 'ws-1']);
  });

  it('a session as a recording and as a HAR: loadable, the same messages, redacted', async () => {
    const { tp } = await rig();
    const token = fakeJwt(600);
    const c = await openClient(tp.wsUrl(`/ws?access_token=${token}`));
    await c.ask('{"op":"hi"}');
    await closeClient(c);
    await tp.nextEnd();
    const jsonl = await get(tp, '/__wstap/api/sessions/ws-1.jsonl');
    expect(jsonl.headers['content-disposition']).toBe('attachment; filename="ws-1.jsonl"');
    const rec = parseRecording(jsonl.body, 'ws-1.jsonl');
    expect(rec.sessions[0]!.messages.filter((m) => m.kind === 'text').map((m) => m.text)).toEqual(['{"op":"hi"}', 'echo {"op":"hi"}']);
    expect(jsonl.body).not.toContain(token.split('.')[1]);
    const har = await get(tp, '/__wstap/api/sessions/ws-1.har');
    const entries = (JSON.parse(har.body) as { log: { entries: { _webSocketMessages: unknown[]; request: { url: string } }[] } }).log.entries;
    expect(entries[0]!._webSocketMessages).toHaveLength(2);
    expect(entries[0]!.request.url).toContain('access_token=[redacted]');
  });

  it('bounded: the oldest messages and sessions go, and the API says how many', async () => {
    const { tp } = await rig({ messagesPerSession: 3, sessions: 2 });
    for (const n of [1, 2, 3]) {
      const c = await openClient(tp.wsUrl(`/s${n}`));
      for (let i = 0; i < 3; i++) await c.ask(`m${i}`);
      await closeClient(c);
      await tp.nextEnd();
    }
    const list = await getJson<{ sessions: SessionSummary[]; evicted: { sessions: number; messages: number } }>(tp, '/__wstap/api/sessions');
    expect(list.sessions.map((s) => s.id)).toEqual(['ws-3', 'ws-2']);
    expect(list.evicted.sessions).toBe(1);
    const page = await getJson<{ messages: { seq: number }[]; dropped: number }>(tp, '/__wstap/api/sessions/ws-3/messages');
    // Six data messages and the two close frames: the last three kept.
    expect(page.messages.map((m) => m.seq)).toEqual([6, 7, 8]);
    expect(page.dropped).toBe(5);
  });

  it('bounded by bytes: payloads written over by newer ones go, counted as dropped; what is kept is intact', async () => {
    const { tp } = await rig({ bytes: 8 * 1024 });
    const c = await openClient(tp.wsUrl('/big'));
    const texts = Array.from({ length: 10 }, (_, i) => `${i}`.repeat(1000));
    for (const t of texts) await c.ask(t);
    const page = await getJson<{ messages: { seq: number; text?: string }[]; dropped: number }>(tp, '/__wstap/api/sessions/ws-1/messages');
    // 8 KiB holds the last eight 1 KB payloads (four round trips); the twelve before them are gone.
    expect(page.messages.map((m) => m.text)).toEqual(texts.slice(6).flatMap((t) => [t, `echo ${t}`]));
    expect(page.dropped).toBe(12);
    expect(page.messages[0]!.seq).toBe(13);
    await closeClient(c);
  });

  it('the observer changes nothing: with the history on, bytes out equal bytes in both ways, and the API has every message', async () => {
    const history = new SessionHistory();
    const { backend, tp } = await proxyInFront(await startRawBackend(), { history, sinks: [history] });
    const { client, conn, request, response } = await openTunnel(tp, backend);
    const fromClient = [
      frame(1, 'hello', { mask: true }),
      frame(1, 'frag-', { fin: false, mask: true }),
      frame(9, 'ping', { mask: true }),
      frame(0, 'ment', { mask: true }),
      frame(2, Buffer.alloc(9000, 7), { mask: true }),
    ];
    const fromServer = [frame(1, 'welcome'), frame(2, Buffer.alloc(70_000, 3)), frame(10, 'pong')];
    for (const f of fromClient) client.socket.write(f);
    for (const f of fromServer) conn.socket.write(f);
    const up = Buffer.concat([request, ...fromClient]);
    const down = Buffer.concat([response, ...fromServer]);
    expectSameBytes(await conn.waitFor(atLeast(up.length)), up);
    expectSameBytes(await client.waitFor(atLeast(down.length)), down);
    await until(() => (history.messages('ws-1', 0, 100)?.messages.length ?? 0) >= 7 || undefined, 'seven messages in the history');
    const kept = history.messages('ws-1', 0, 100)!.messages;
    expect(kept.map((m) => [m.from, m.kind])).toEqual(
      expect.arrayContaining([
        ['client', 'text'],
        ['client', 'ping'],
        ['client', 'binary'],
        ['server', 'text'],
        ['server', 'binary'],
        ['server', 'pong'],
      ]),
    );
    expect(kept.filter((m) => m.from === 'client' && m.kind === 'text').map((m) => m.text)).toEqual(['hello', 'frag-ment']);
  });

  it('a foreign Host is refused (DNS rebinding); IP addresses, localhost and the health check are not', async () => {
    const { tp } = await rig();
    const foreign = await get(tp, '/__wstap/api/sessions', 'evil.example:8001');
    expect(foreign.status).toBe(421);
    expect(foreign.body).toContain('not this proxy');
    expect(tp.logs.some((l) => l['event'] === 'control-refused')).toBe(true);
    for (const host of [`localhost:${tp.port}`, `127.0.0.1:${tp.port}`, `[::1]:${tp.port}`, 'app.localhost'])
      expect((await get(tp, '/__wstap/api/sessions', host)).status, host).toBe(200);
    expect((await get(tp, '/__wstap/health', 'wstap:8001')).status).toBe(200);
  });
});
