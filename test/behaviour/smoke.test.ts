import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { fakeJwt, startTestProxy, type TestProxy } from '../support/helpers.js';

let backend: DemoBackend | undefined;
let tp: TestProxy | undefined;
afterEach(async () => {
  await tp?.close();
  await backend?.close();
});

describe('smoke', () => {
  it('relays a ws session through the proxy and logs the handshake', async () => {
    backend = await startDemoBackend({ env: {} });
    tp = await startTestProxy({ target: backend.url });
    const ws = new WebSocket(tp.wsUrl('/ws'), { headers: { Origin: 'http://localhost:3000', Authorization: `Bearer ${fakeJwt(600)}` } });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.on('open', () => ws.send('{"hello":1}'));
      ws.on('message', (d) => resolve(d.toString()));
      ws.on('error', reject);
    });
    expect(JSON.parse(reply)).toMatchObject({ type: 'echo', data: { hello: 1 } });
    ws.close();
    const s = await tp.nextHandshake(1);
    expect(s.outcome).toBe('tunnel');
    expect(s.findings).toEqual([]);
    const end = await tp.nextEnd(1);
    expect(end.end.bytes.clientToServer).toBeGreaterThan(0);
  });
});
