/**
 * The frame tap against real ws peers on loopback: close codes and who closed, as the
 * session summary and the close findings report them.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { isData, proxyTo, tapSink } from '../support/tap.js';
import { wsClient } from '../support/ws-client.js';

afterEach(runDeferred);

type CloseAction =
  | { by: 'client'; code: number; reason: string }
  | { by: 'server'; code: number; reason: string }
  | { by: 'server-empty' }
  | { by: 'server-drop' };

/**
 * The client sends three messages; the backend answers with two; the client acknowledges
 * (a fourth message); then the action. Counts are deterministic.
 */
async function closeScenario(action: CloseAction) {
  const { wss, url } = await startWsServer({ perMessageDeflate: false });
  const tap = tapSink();
  const tp = await proxyTo(url, tap);
  wss.on('connection', (ws) => {
    let n = 0;
    ws.on('message', () => {
      n++;
      if (n === 3) {
        ws.send('answer 1');
        ws.send('answer 2');
      }
      if (n === 4 && action.by === 'server') ws.close(action.code, action.reason);
      if (n === 4 && action.by === 'server-empty') ws.close();
      if (n === 4 && action.by === 'server-drop') ws.terminate();
    });
  });
  const ws = wsClient(tp.wsUrl('/ws'));
  let got = 0;
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on('message', () => {
    got++;
    if (got === 2) {
      ws.send('ack');
      if (action.by === 'client') ws.close(action.code, action.reason);
    }
  });
  await once(ws, 'open');
  ws.send('one');
  ws.send('two');
  ws.send('three');
  const clientSaw = await closed;
  const { end } = await tp.nextEnd();
  expect(end.ws).toBeDefined();
  const closeFrames = action.by === 'server-drop' ? 0 : 1;
  expect(end.ws!.traffic.client.messages).toBe(4 + closeFrames);
  expect(end.ws!.traffic.server.messages).toBe(2 + closeFrames);
  expect(tap.msgs.filter((m) => m.from === 'client' && isData(m)).map((m) => m.data.toString())).toEqual(['one', 'two', 'three', 'ack']);
  expect(tap.msgs.filter((m) => m.from === 'server' && isData(m)).map((m) => m.data.toString())).toEqual(['answer 1', 'answer 2']);
  expect(end.findings.filter((f) => f.code === 'protocol-error')).toEqual([]);
  const closeFindings = end.findings.filter((f) => f.code.startsWith('close-'));
  return { clientSaw, close: end.ws!.close, closeFindings, tap };
}

describe('frame tap: close codes and who closed', () => {
  it('the client closes with 1000: initiator client, clean, no close finding', async () => {
    const r = await closeScenario({ by: 'client', code: 1000, reason: 'bye now' });
    expect(r.clientSaw.code).toBe(1000);
    expect(r.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'bye now', clean: true });
    expect(r.close.meaning).toMatch(/normal/);
    expect(r.close.handshakeMs).toBeGreaterThanOrEqual(0);
    expect(r.closeFindings).toEqual([]);
  });

  it('the server closes with 4001 "bye": initiator server, application-defined, no close finding', async () => {
    const r = await closeScenario({ by: 'server', code: 4001, reason: 'bye' });
    expect(r.clientSaw).toEqual({ code: 4001, reason: 'bye' });
    expect(r.close).toMatchObject({ initiator: 'server', code: 4001, reason: 'bye', clean: true });
    expect(r.close.meaning).toMatch(/application/);
    expect(r.closeFindings).toEqual([]);
    // Both close frames decoded, the server's first.
    expect(r.tap.msgs.filter((m) => m.kind === 'close').map((m) => [m.from, m.closeCode, m.closeReason])).toEqual([
      ['server', 4001, 'bye'],
      ['client', 4001, 'bye'],
    ]);
  });

  it('the backend closes with 1008 and an auth reason: close-policy with the reason', async () => {
    const reason = 'Authentication required: Use Authorization header';
    const r = await closeScenario({ by: 'server', code: 1008, reason });
    expect(r.clientSaw).toEqual({ code: 1008, reason });
    expect(r.close).toMatchObject({ initiator: 'server', code: 1008, reason, clean: true });
    expect(r.closeFindings.map((f) => f.code)).toEqual(['close-policy']);
    expect(r.closeFindings[0]!.message).toContain(reason);
    expect(r.closeFindings[0]!.message).toContain('server');
    expect(r.closeFindings[0]!.hint).toMatch(/auth/i);
  });

  it('the backend drops the TCP connection without a close frame: 1006, initiator none, close-abnormal', async () => {
    const r = await closeScenario({ by: 'server-drop' });
    expect(r.clientSaw.code).toBe(1006);
    expect(r.close).toMatchObject({ initiator: 'none', code: 1006, clean: false });
    expect(r.closeFindings.map((f) => f.code)).toEqual(['close-abnormal']);
    expect(r.tap.msgs.filter((m) => m.kind === 'close')).toEqual([]);
  });

  it('the server closes with an empty close frame: code 1005, clean, no close finding', async () => {
    const r = await closeScenario({ by: 'server-empty' });
    expect(r.clientSaw.code).toBe(1005);
    expect(r.close).toMatchObject({ initiator: 'server', code: 1005, reason: '', clean: true });
    expect(r.closeFindings).toEqual([]);
  });

  it('the server closes with 1011: close-error', async () => {
    const r = await closeScenario({ by: 'server', code: 1011, reason: 'internal error' });
    expect(r.clientSaw.code).toBe(1011);
    expect(r.close).toMatchObject({ initiator: 'server', code: 1011, reason: 'internal error', clean: true });
    expect(r.closeFindings.map((f) => f.code)).toEqual(['close-error']);
    expect(r.closeFindings[0]!.message).toContain('1011');
  });
});
