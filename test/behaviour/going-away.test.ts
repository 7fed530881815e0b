/**
 * wstap's own ends are wstap's: when it shuts down with sessions open, each side gets a close
 * frame with 1001 Going Away where wstap knows the stream is at a frame boundary, and the
 * session's end says wstap closed it, never a crash of either side (no close-abnormal). Real ws
 * peers, and raw sockets for a stream cut in the middle of a frame; the message path (sessions a
 * message hook took), compressed, with a message a hook still holds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { MessageHook } from '../../src/tunnel/hooks.js';
import { closePayload } from '../../src/wire/ws-frame.js';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { frame, hasHead, openRawBackend, openRawClient, readEnded, startTestProxy, switchingHead, upgradeHead } from '../support/helpers.js';
import { until } from '../support/wait.js';

afterEach(runDeferred);

/** The client's close and the server's, once both came: each must be wstap's 1001. */
async function bothGotGoingAway(closed: Promise<{ code: number; reason: string }>, atServer: { code: number; reason: string }[]): Promise<void> {
  expect(await closed).toEqual({ code: 1001, reason: 'wstap is shutting down' });
  await until(() => atServer[0], 'the server to see the close');
  expect(atServer[0]).toEqual({ code: 1001, reason: 'wstap is shutting down' });
}

describe('wstap shuts down with sessions open', () => {
  it('both ws peers get 1001 "wstap is shutting down"; the end says wstap closed it, and blames nobody', async () => {
    const server = await startWsServer();
    const atServer: { code: number; reason: string }[] = [];
    server.wss.on('connection', (ws) => {
      ws.on('message', (d) => ws.send(d));
      ws.on('close', (code, reason) => void atServer.push({ code, reason: reason.toString() }));
    });
    const tp = await startTestProxy({ target: server.url });
    const ws = new WebSocket(tp.wsUrl('/ws'));
    await new Promise((r) => ws.once('open', r));
    ws.send('hello');
    await new Promise((r) => ws.once('message', r));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    await tp.proxy.close(0);
    await bothGotGoingAway(closed, atServer);
    const { end } = await tp.nextEnd();
    expect(end).toMatchObject({ endedBy: 'proxy', how: 'shutdown' });
    expect(end.ws!.close).toMatchObject({ initiator: 'wstap', code: 1001, reason: 'wstap is shutting down' });
    expect(end.findings).toEqual([]);
    const line = tp.logs.find((l) => l['event'] === 'session-end')!;
    expect(String(line['msg'])).toMatch(/closed by wstap: 1001 "wstap is shutting down"/);
  });

  it('a stream cut in the middle of a frame gets no frame of wstap in it: only the side at a boundary gets the 1001', async () => {
    const backend = await openRawBackend((c) => {
      void c.waitFor(hasHead).then((head) => {
        const key = /sec-websocket-key:\s*(\S+)/i.exec(head.toString('latin1'))![1]!;
        c.socket.write(switchingHead(key));
      });
    });
    const tp = await startTestProxy({ target: backend.url });
    const client = await openRawClient(tp.port);
    client.socket.write(upgradeHead('/ws'));
    await client.waitFor(hasHead);
    // The first two bytes of a masked 10-byte text frame: the client→server stream stops mid-frame.
    const partial = frame(0x1, 'abcdefghij', { mask: true }).subarray(0, 2);
    client.socket.write(partial);
    const conn = await backend.connection(0);
    await conn.waitFor((all) => all.subarray(all.indexOf('\r\n\r\n') + 4).length >= 2);
    await tp.proxy.close(0);
    await readEnded(client.socket);
    const toClient = client.received().subarray(client.received().indexOf('\r\n\r\n') + 4);
    expect(toClient).toEqual(frame(0x8, closePayload(1001, 'wstap is shutting down')));
    const toServer = conn.received().subarray(conn.received().indexOf('\r\n\r\n') + 4);
    expect(toServer).toEqual(partial);
  });

  /** Ws peers through a proxy whose hook takes every session; the server echoes, both record the close they got. */
  async function messagePathSession(hook: MessageHook) {
    const server = await startWsServer({ perMessageDeflate: true });
    const atServer: { code: number; reason: string }[] = [];
    const serverGot: string[] = [];
    server.wss.on('connection', (ws) => {
      ws.on('message', (d) => {
        serverGot.push(d.toString());
        ws.send(d);
      });
      ws.on('close', (code, reason) => void atServer.push({ code, reason: reason.toString() }));
    });
    const tp = await startTestProxy({ target: server.url, hooks: [hook] });
    const ws = new WebSocket(tp.wsUrl('/ws'));
    ws.on('error', () => {});
    await new Promise((r) => ws.once('open', r));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
    return { tp, ws, closed, atServer, serverGot };
  }

  it('the message path, compressed: both ws peers get 1001 behind what went before; the end says wstap closed it', async () => {
    const passAll: MessageHook = { name: 'pass', forSession: () => () => undefined };
    const { tp, ws, closed, atServer } = await messagePathSession(passAll);
    expect((await tp.nextHandshake()).upstream?.chosenExtensions).toMatch(/permessage-deflate/);
    ws.send('hello '.repeat(50));
    expect((await new Promise<Buffer>((r) => ws.once('message', r))).toString()).toBe('hello '.repeat(50));
    await tp.proxy.close(0);
    await bothGotGoingAway(closed, atServer);
    const { end } = await tp.nextEnd();
    expect(end).toMatchObject({ endedBy: 'proxy', how: 'shutdown' });
    expect(end.ws!.close).toMatchObject({ initiator: 'wstap', code: 1001, reason: 'wstap is shutting down' });
    expect(end.findings).toEqual([]);
  });

  it('a message a hook still holds at shutdown is not waited for: it is dropped, the server gets the 1001 at once', async () => {
    const holdSecond: MessageHook = {
      name: 'hold',
      forSession: () => (m) => (m.from === 'client' && m.data.toString() === 'held' ? new Promise(() => {}) : undefined),
    };
    const { tp, ws, closed, atServer, serverGot } = await messagePathSession(holdSecond);
    ws.send('first');
    await new Promise((r) => ws.once('message', r));
    ws.send('held');
    ws.send('behind');
    await tp.proxy.close(0);
    await bothGotGoingAway(closed, atServer);
    // A 1001 (not the 1006 of a connection cut after the linger): the close did not wait for the hook.
    expect(serverGot).toEqual(['first']);
  });
});
