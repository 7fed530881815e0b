import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt, openTestProxy, type TestProxy } from '../support/helpers.js';

afterEach(runDeferred);

async function talk(url: string, send: (ws: WebSocket) => void, answers: number): Promise<void> {
  const ws = new WebSocket(url, { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` } });
  await new Promise((r) => ws.once('open', r));
  let got = 0;
  const done = new Promise<void>((r) => ws.on('message', () => ++got >= answers && r()));
  send(ws);
  await done;
  ws.close(1000);
  await new Promise((r) => ws.once('close', r));
}

const messageLines = (tp: TestProxy) => tp.logs.filter((l) => l['event'] === 'message');

describe('message log (debug level)', () => {
  it('one line per message with direction, kind, sizes, a redacted preview and the latency', async () => {
    const backend = await demoBackend();
    const tp = await openTestProxy({ target: backend.url });
    await talk(
      tp.wsUrl(),
      (ws) => {
        ws.ping('p1');
        ws.send(JSON.stringify({ id: 7, token: 'not-a-real-secret-value', text: 'hello' }));
      },
      1,
    );
    await tp.nextEnd();
    const lines = messageLines(tp);
    const sent = lines.find((l) => l['from'] === 'client' && l['kind'] === 'text')!;
    expect(sent['preview']).toContain('"token":"[redacted]"');
    expect(JSON.stringify(tp.logs)).not.toContain('not-a-real-secret-value');
    const echo = lines.find((l) => l['from'] === 'server' && l['kind'] === 'text')!;
    expect(echo['latencyMs']).toEqual(expect.any(Number));
    expect(lines.some((l) => l['kind'] === 'ping')).toBe(true);
    expect(lines.some((l) => l['kind'] === 'pong')).toBe(true);
    expect(lines.filter((l) => l['kind'] === 'close').map((l) => l['closeCode'])).toEqual([1000, 1000]);
    const end = tp.logs.find((l) => l['event'] === 'session-end')!;
    expect(end['close']).toMatchObject({ initiator: 'client', code: 1000, clean: true, meaning: 'normal closure' });
    expect((end['latency'] as { requests: object }).requests).toEqual({
      count: 1,
      p50: expect.any(Number),
      p95: expect.any(Number),
      p99: expect.any(Number),
      max: expect.any(Number),
    });
  });

  it('--hide-control leaves pings and pongs out; --match keeps only matching text', async () => {
    const backend = await demoBackend();
    const tp = await openTestProxy({ target: backend.url, hideControl: true, match: /needle/ });
    await talk(
      tp.wsUrl(),
      (ws) => {
        ws.ping('p1');
        ws.send('hay');
        ws.send('a needle here');
      },
      2,
    );
    await tp.nextEnd();
    const lines = messageLines(tp);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => String(l['preview']).includes('needle'))).toBe(true);
    expect(lines.some((l) => l['kind'] === 'ping' || l['kind'] === 'pong')).toBe(false);
  });
});
