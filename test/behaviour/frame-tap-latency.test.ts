/**
 * The frame tap against real ws peers on loopback: latency. Answers paired with their
 * requests by id (out of order, or in order without one, or by a configured path), pongs
 * with pings, and the percentiles of the session summary.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { sessionEndEntry } from '../../src/log/entries.js';
import { formatSessionEnd, NO_COLORS, pairing } from '../../src/log/pretty.js';
import { endView } from '../../src/views/views.js';
import type { Percentiles } from '../../src/session/summary.js';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import type { TestProxy } from '../support/helpers.js';
import { proxyTo, tapSink, type Tap } from '../support/tap.js';
import { until } from '../support/wait.js';
import { wsClient } from '../support/ws-client.js';

afterEach(runDeferred);

function expectPercentiles(p: Percentiles | undefined, count?: number): void {
  expect(p).toBeDefined();
  expect(Object.keys(p!).sort()).toEqual(['count', 'max', 'p50', 'p95', 'p99']);
  if (count !== undefined) expect(p!.count).toBe(count);
  else expect(p!.count).toBeGreaterThan(0);
  for (const k of ['p50', 'p95', 'p99', 'max'] as const) {
    expect(Number.isFinite(p![k])).toBe(true);
    expect(p![k]).toBeGreaterThanOrEqual(0);
    expect(p![k]).toBeLessThan(5000);
  }
}

function expectLatencyValue(ms: number | undefined): void {
  expect(typeof ms).toBe('number');
  expect(Number.isFinite(ms)).toBe(true);
  expect(ms!).toBeGreaterThanOrEqual(0);
  expect(ms!).toBeLessThan(5000);
}

/**
 * A JSON request/response backend: answers `{id, ...}` with `{id, result}` after ~20 ms.
 * Requests marked `hold` wait for the next request; the pair is answered in reverse order.
 * With `meta`, the answer carries the same meta (and a different top-level id).
 */
async function jsonBackend(): Promise<string> {
  const { wss, url } = await startWsServer({ perMessageDeflate: false });
  wss.on('connection', (ws) => {
    let held: Record<string, unknown> | undefined;
    const answer = (req: Record<string, unknown>): void => {
      const res = req['meta']
        ? { id: 'server-chosen', meta: req['meta'], result: 'ok' }
        : { id: req['id'], result: `answer to ${String(req['id'])}` };
      setTimeout(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(res));
      }, 20);
    };
    ws.on('message', (d) => {
      const req = JSON.parse(d.toString()) as Record<string, unknown>;
      if (req['hold']) {
        held = req;
        return;
      }
      if (held) {
        answer(req);
        const first = held;
        held = undefined;
        // The earlier request is answered after the later one.
        setTimeout(() => answer(first), 10);
        return;
      }
      answer(req);
    });
  });
  return url;
}

/** A proxy with a tap sink in front of url, and an open ws client whose received texts collect in answers. */
async function openThroughTap(
  url: string,
  extra: { correlate?: string } = {},
): Promise<{ tap: Tap; tp: TestProxy; ws: WebSocket; answers: string[] }> {
  const tap = tapSink();
  const tp = await proxyTo(url, tap, extra);
  const ws = wsClient(tp.wsUrl('/ws'));
  const answers: string[] = [];
  ws.on('message', (d) => answers.push(d.toString()));
  await once(ws, 'open');
  return { tap, tp, ws, answers };
}

describe('frame tap: latency', () => {
  it('pairs JSON answers with their requests by id (out of order), pings with pongs; summaries at the end', async () => {
    const url = await jsonBackend();
    const { tap, tp, ws, answers } = await openThroughTap(url);
    ws.send(JSON.stringify({ id: 'r1', hold: true, method: 'slow' }));
    ws.send(JSON.stringify({ id: 'r2', method: 'fast' }));
    await until(() => answers.length === 2, 'two answers', { seen: () => answers });
    ws.send(JSON.stringify({ id: 'r3', method: 'next' }));
    await until(() => answers.length === 3, 'third answer', { seen: () => answers });
    ws.ping('abc');
    await once(ws, 'pong');
    ws.close(1000);
    await once(ws, 'close');
    const { end } = await tp.nextEnd();

    // The backend answered r2 before r1.
    expect(answers.map((a) => (JSON.parse(a) as { id: string }).id)).toEqual(['r2', 'r1', 'r3']);
    const responses = tap.msgs.filter((m) => m.from === 'server' && m.kind === 'text');
    expect(responses).toHaveLength(3);
    for (const m of responses) {
      const id = (JSON.parse(m.data.toString()) as { id: string }).id;
      expect(m.latency).toMatchObject({ to: 'request', key: id });
      expectLatencyValue(m.latency!.ms);
    }
    expect(tap.msgs.filter((m) => m.from === 'client').every((m) => m.latency === undefined)).toBe(true);

    const pong = tap.msgs.find((m) => m.kind === 'pong');
    expect(pong).toMatchObject({ from: 'server', latency: { to: 'ping' } });
    expect(pong!.data.toString()).toBe('abc');
    expectLatencyValue(pong!.latency!.ms);
    expect(tap.msgs.find((m) => m.kind === 'ping')).toMatchObject({ from: 'client' });

    const lat = end.ws!.latency;
    expect(lat.correlation).toBe('id');
    expectPercentiles(lat.requests, 3);
    expectPercentiles(lat.pings, 1);
    expectPercentiles(lat.proxyAddedMs);
  });

  it('answers without the id are paired in order, and the summary says how many', async () => {
    const { wss, url } = await startWsServer({ perMessageDeflate: false });
    // Answers request 1 by its id; answers request 2 with an event that carries no id.
    wss.on('connection', (ws) =>
      ws.on('message', (d) => {
        const req = JSON.parse(d.toString()) as { id: number };
        ws.send(JSON.stringify(req.id === 1 ? { id: 1, result: 'ok' } : { event: 'subscribed' }));
      }),
    );
    const { tap, tp, ws, answers } = await openThroughTap(url);
    ws.send(JSON.stringify({ id: 1, method: 'get' }));
    await until(() => answers.length === 1, 'first answer', { seen: () => answers });
    ws.send(JSON.stringify({ id: 2, method: 'subscribe' }));
    await until(() => answers.length === 2, 'second answer', { seen: () => answers });
    ws.close(1000);
    await once(ws, 'close');
    const { end } = await tp.nextEnd();

    const responses = tap.msgs.filter((m) => m.from === 'server' && m.kind === 'text');
    expect(responses.map((m) => m.latency?.key)).toEqual(['1', undefined]);
    expect(responses.every((m) => m.latency?.to === 'request')).toBe(true);
    expect(end.ws!.latency.correlation).toBe('id');
    expect(end.ws!.latency.inOrder).toBe(1);
    expectPercentiles(end.ws!.latency.requests, 2);
    expect(pairing(2, 'id', 1)).toBe(' paired by id (1 of 2; 1 without a matching id, in order)');
    expect(pairing(2, 'id', undefined)).toBe(' paired by id');
  });

  it('a --correlate path that no message carries: no request latency, and the summary says the path matched none', async () => {
    const url = await jsonBackend();
    const { tp, ws, answers } = await openThroughTap(url, { correlate: '$.meta.requestId' });
    ws.send(JSON.stringify({ id: 'r1' }));
    ws.send(JSON.stringify({ id: 'r2' }));
    await until(() => answers.length === 2, 'two answers', { seen: () => answers });
    ws.close(1000);
    await once(ws, 'close');
    const { session, end } = await tp.nextEnd();
    expect(end.ws!.latency).toMatchObject({ correlation: '$.meta.requestId', withoutCorrelation: 2 });
    expect(end.ws!.latency.requests).toBeUndefined();
    expect(formatSessionEnd(sessionEndEntry(endView(session, end)), NO_COLORS)).toMatch(
      /--correlate \$\.meta\.requestId matched none of the 2 client messages/,
    );
  });

  it('with correlate $.meta.requestId the pairing uses that path, not a top-level id', async () => {
    const url = await jsonBackend();
    const { tap, tp, ws, answers } = await openThroughTap(url, { correlate: '$.meta.requestId' });
    // The same top-level id on both: only the meta path tells them apart.
    ws.send(JSON.stringify({ id: 'same', hold: true, meta: { requestId: 'a1' } }));
    ws.send(JSON.stringify({ id: 'same', meta: { requestId: 'a2' } }));
    await until(() => answers.length === 2, 'two answers', { seen: () => answers });
    ws.close(1000);
    await once(ws, 'close');
    const { end } = await tp.nextEnd();

    const responses = tap.msgs.filter((m) => m.from === 'server' && m.kind === 'text');
    expect(responses.map((m) => (JSON.parse(m.data.toString()) as { meta: { requestId: string } }).meta.requestId)).toEqual(['a2', 'a1']);
    expect(responses.map((m) => m.latency?.key)).toEqual(['a2', 'a1']);
    for (const m of responses) {
      expect(m.latency?.to).toBe('request');
      expectLatencyValue(m.latency?.ms);
    }
    expect(end.ws!.latency.correlation).toBe('$.meta.requestId');
    expectPercentiles(end.ws!.latency.requests, 2);
    expect(end.ws!.latency.pings).toBeUndefined();
  });
});
