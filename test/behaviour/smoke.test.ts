import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { demoBackend } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { fakeJwt, openTestProxy } from '../support/helpers.js';

afterEach(runDeferred);

describe('smoke', () => {
  it('relays a ws session through the proxy and logs the handshake', async () => {
    const backend = await demoBackend();
    const tp = await openTestProxy({ target: backend.url });
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
