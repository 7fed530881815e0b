/**
 * startProxy as a composition root: it adds no sink of its own, runs without a logger, reports
 * each event once to the sinks it is handed (a user's log sink is not doubled), keeps a failing
 * sink from the others, and answers everything under /__wstap/ itself (never forwarded).
 * Real sockets on 127.0.0.1; a real ws backend and client.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { startProxy, type ProxyOptions, type ProxyServer } from '../../src/proxy/server.js';
import type { Session, SessionEnd } from '../../src/session/session.js';
import type { SessionSink } from '../../src/sinks/bus.js';
import { createLogSink } from '../../src/sinks/log-sink.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

/** A ws echo backend that also counts the plain HTTP requests it gets. */
async function backend(): Promise<{ url: string; httpRequests: string[] }> {
  const httpRequests: string[] = [];
  const server = http.createServer((req, res) => {
    httpRequests.push(`${req.method} ${req.url}`);
    res.end('from the backend');
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  defer(
    () =>
      new Promise<void>((r) => {
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, httpRequests };
}

async function proxy(opts: Omit<ProxyOptions, 'port' | 'hosts'>): Promise<ProxyServer> {
  const p = await startProxy({ port: 0, hosts: ['127.0.0.1'], ...opts });
  defer(() => p.close(200));
  return p;
}

async function roundTrip(url: string, text: string): Promise<string> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(text);
  const reply = await new Promise<string>((resolve) => ws.once('message', (d) => resolve(d.toString())));
  ws.close(1000, 'done');
  await new Promise((resolve) => ws.once('close', resolve));
  return reply;
}

/** A sink that keeps what it gets; wantsFrames asks for decoding (the close summary). */
function capture(wantsFrames = false): { sink: SessionSink; handshakes: Session[]; ends: { session: Session; end: SessionEnd }[] } {
  const handshakes: Session[] = [];
  const ends: { session: Session; end: SessionEnd }[] = [];
  const sink: SessionSink = {
    name: 'capture',
    wantsFrames,
    handshake: (s) => void handshakes.push(s),
    end: (session, end) => void ends.push({ session, end }),
  };
  return { sink, handshakes, ends };
}

function jsonLogger(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info', base: undefined }, stream), lines };
}

describe('startProxy composes what it is handed', () => {
  it('no sinks and no logger: traffic passes, nothing is reported, nothing breaks', async () => {
    const b = await backend();
    const p = await proxy({ target: b.url });
    expect(await roundTrip(`ws://127.0.0.1:${p.port}/ws`, 'hello')).toBe('hello');
  });

  it("a user's log sink writes one handshake line and one session-end line per session", async () => {
    const b = await backend();
    const { logger, lines } = jsonLogger();
    const p = await proxy({ target: b.url, logger, sinks: [createLogSink(logger)] });
    await roundTrip(`ws://127.0.0.1:${p.port}/ws`, 'once');
    await until(() => lines.some((l) => l['event'] === 'session-end'), 'the session-end line', { seen: () => lines.map((l) => l['event']) });
    expect(lines.filter((l) => l['event'] === 'handshake')).toHaveLength(1);
    expect(lines.filter((l) => l['event'] === 'session-end')).toHaveLength(1);
  });

  it('the emitted session is complete and frozen; its end carries the findings of the close', async () => {
    const b = await backend();
    const c = capture(true);
    const p = await proxy({ target: b.url, sinks: [c.sink] });
    await roundTrip(`ws://127.0.0.1:${p.port}/ws`, 'x');
    await until(() => c.ends.length === 1, 'the session end', { seen: () => `${c.ends.length} ends` });
    const s = c.handshakes[0]!;
    expect(s.outcome).toBe('tunnel');
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.findings)).toBe(true);
    expect(() => (s.findings as unknown as unknown[]).push({})).toThrow();
    expect(c.ends[0]!.session).toBe(s);
    expect(c.ends[0]!.end.ws?.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'done', clean: true });
    expect(c.ends[0]!.end.findings).toEqual([]);
  });

  it('with no sink that wants frames, nothing is decoded: the end has no close summary', async () => {
    const b = await backend();
    const c = capture(false);
    const p = await proxy({ target: b.url, sinks: [c.sink] });
    await roundTrip(`ws://127.0.0.1:${p.port}/ws`, 'x');
    await until(() => c.ends.length === 1, 'the session end', { seen: () => `${c.ends.length} ends` });
    expect(c.ends[0]!.end.ws).toBeUndefined();
    expect(c.ends[0]!.end.bytes.clientToServer).toBeGreaterThan(0);
  });

  it('a sink that throws is switched off with one log line; the other sinks still get every event', async () => {
    const b = await backend();
    const { logger, lines } = jsonLogger();
    const c = capture();
    const broken: SessionSink = {
      name: 'broken',
      handshake: () => {
        throw new Error('boom');
      },
    };
    const p = await proxy({ target: b.url, logger, sinks: [broken, c.sink] });
    for (const text of ['a', 'b']) expect(await roundTrip(`ws://127.0.0.1:${p.port}/ws`, text)).toBe(text);
    await until(() => c.ends.length === 2, 'both session ends', { seen: () => `${c.ends.length} ends` });
    expect(c.handshakes).toHaveLength(2);
    expect(lines.filter((l) => l['event'] === 'sink-failed')).toEqual([expect.objectContaining({ sink: 'broken', err: 'Error: boom' })]);
  });
});

describe('the routes under /__wstap/', () => {
  async function get(p: ProxyServer, path: string, method = 'GET'): Promise<{ status: number; body: string; allow?: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: p.port, path, method }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ...(res.headers.allow ? { allow: res.headers.allow } : {}) }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('health answers; an unknown path is a 404 of wstap; a wrong method a 405; none reaches the backend', async () => {
    const b = await backend();
    const p = await proxy({ target: b.url });
    const health = await get(p, '/__wstap/health');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', target: { reachable: true } });
    const unknown = await get(p, '/__wstap/nothing-here?x=1');
    expect(unknown.status).toBe(404);
    // With no history (no live view), health and the control API: breakpoints, fault rules, and what changes sessions.
    expect(JSON.parse(unknown.body)).toMatchObject({
      error: 'wstap: no such endpoint: /__wstap/nothing-here',
      endpoints: [
        'GET /__wstap/health',
        'GET /__wstap/api/held',
        'POST /__wstap/api/held/',
        'GET /__wstap/api/intercepts',
        'POST /__wstap/api/intercepts',
        'DELETE /__wstap/api/intercepts/',
        'GET /__wstap/api/faults',
        'POST /__wstap/api/faults',
        'DELETE /__wstap/api/faults/',
        'POST /__wstap/api/sessions/',
      ],
    });
    const wrong = await get(p, '/__wstap/health', 'POST');
    expect(wrong).toMatchObject({ status: 405, allow: 'GET' });
    expect(b.httpRequests).toEqual([]);
    // Everything else is forwarded.
    expect(await get(p, '/api/x')).toMatchObject({ status: 200, body: 'from the backend' });
    expect(b.httpRequests).toEqual(['GET /api/x']);
  });
});
