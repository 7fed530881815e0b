/**
 * Counts that agree: the bytes a backend sends together with its 101 are counted (a 1008 close
 * right after the upgrade is not "↓ 0 B"), message counts say which are data and which are
 * control frames, and a latency line never says "paired by id" when no answer carried one.
 * Raw sockets on loopback and a real ws backend.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closePayload } from '../../src/wire/ws-frame.js';
import { pairing } from '../../src/log/pretty.js';
import { runDeferred } from '../support/cleanup.js';
import { frame, hasHead, openRawBackend, openRawClient, openTestProxy, switchingHead, upgradeHead } from '../support/helpers.js';
import { startWsServer } from '../support/backends.js';

afterEach(runDeferred);

describe('counts', () => {
  it('a close frame sent in the same write as the 101 is counted in the bytes and the messages', async () => {
    const close = frame(0x8, closePayload(1008, 'Authentication required'));
    const backend = await openRawBackend((c) => {
      void c.waitFor(hasHead).then(() => c.socket.end(Buffer.concat([Buffer.from(switchingHead()), close])));
    });
    const tp = await openTestProxy({ target: backend.url });
    const client = await openRawClient(tp.port);
    client.socket.write(upgradeHead('/ws'));
    await client.waitFor((all) => all.includes(close));
    client.socket.end();
    const { end } = await tp.nextEnd();
    expect(end.bytes.serverToClient).toBe(close.length);
    expect(end.ws!.close).toMatchObject({ initiator: 'server', code: 1008 });
    expect(end.ws!.traffic.server).toMatchObject({ messages: 1, data: 0, control: 1 });
    const line = tp.logs.find((l) => l['event'] === 'session-end')!;
    expect(String(line['msg'])).toMatch(new RegExp(`↓ ${close.length} B`));
  });

  it('data and control messages are counted apart, and the totals add up', async () => {
    const server = await startWsServer();
    server.wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
    const tp = await openTestProxy({ target: server.url });
    const ws = new WebSocket(tp.wsUrl('/ws'));
    await new Promise((r) => ws.once('open', r));
    ws.ping('p');
    await new Promise((r) => ws.once('pong', r));
    ws.send('one');
    await new Promise((r) => ws.once('message', r));
    ws.close(1000);
    const { end } = await tp.nextEnd();
    const c = end.ws!.traffic.client;
    expect(c).toMatchObject({ data: 1, control: 2, messages: 3 });
    expect(end.ws!.traffic.server).toMatchObject({ data: 1, control: 2, messages: 3 });
  });

  it('a latency line says "paired in order" when no answer carried the id, never "paired by id (0 of 1)"', () => {
    expect(pairing(1, 'id', 1)).toBe(' paired in order (no answer carried a matching id)');
    expect(pairing(3, 'id', 1)).toBe(' paired by id (2 of 3; 1 without a matching id, in order)');
    expect(pairing(3, 'id', undefined)).toBe(' paired by id');
  });
});
