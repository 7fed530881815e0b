/**
 * Acting on the wire with clients that are not ours. Chromium negotiates permessage-deflate
 * with context takeover: after a dropped and an injected message it must keep decoding every
 * later compressed message, and it must see the close code wstap sends. socket.io-client must
 * reconnect after `cut` and after `close=1011`.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startWsServer } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { chromiumForFile, servePage } from '../support/peers/chromium.js';
import { until } from '../support/wait.js';

const getBrowser = chromiumForFile();
afterEach(runDeferred);

const token = (i: number): string => createHash('sha256').update(String(i)).digest('hex').slice(0, 32);
/** Message i repeats the token of message i - 1: with context takeover, its compressed form refers back to it. */
const chatty = (i: number): string => JSON.stringify({ seq: i, token: token(i), previous: token(i - 1), note: 'the same words again and again' });

describe('acting on a permessage-deflate session (Chromium)', () => {
  it('after a dropped, an injected and an edited message Chromium keeps decoding every compressed message, and sees the close code wstap sends', async () => {
    const backend = await startWsServer({ perMessageDeflate: { threshold: 0 } });
    backend.wss.on('connection', (ws) => {
      ws.on('message', (d) => {
        if (d.toString() !== 'go') return;
        let i = 1;
        const next = (): void => {
          if (i > 10) return;
          ws.send(chatty(i++));
          setTimeout(next, 15);
        };
        next();
      });
    });
    const tp = await openTestProxy({ target: backend.url, faults: ['drop to=client match=seq.:3,'], intercept: ['to=client match=seq.:6,'] });
    const app = await servePage(getBrowser(), '<!doctype html><title>app</title>');
    defer(() => app.close());
    await app.page.evaluate((url) => {
      const w = globalThis as unknown as { got: string[]; wsClosed?: { code: number; reason: string }; ext: string };
      w.got = [];
      const ws = new WebSocket(url);
      ws.onopen = () => {
        w.ext = ws.extensions;
        ws.send('go');
      };
      ws.onmessage = (e) => w.got.push(String(e.data));
      ws.onclose = (e) => {
        w.wsClosed = { code: e.code, reason: e.reason };
      };
    }, `ws://127.0.0.1:${tp.port}/chat`);
    const got = async (): Promise<string[]> => app.page.evaluate(() => (globalThis as unknown as { got: string[] }).got);
    await until(async () => ((await got()).some((m) => m.includes('"seq":5,')) ? true : undefined), 'message 5');
    await tp.proxy.send('ws-1', 'client', 'injected by wstap');
    // Message 6 is held at the breakpoint, then released edited.
    const held = await tp.proxy.breakpoints.next();
    expect(JSON.parse(held.data.toString()).seq).toBe(6);
    tp.proxy.breakpoints.release(held.id, { action: 'forward', text: 'edited by wstap' });
    await until(async () => ((await got()).some((m) => m.includes('"seq":10,')) ? true : undefined), 'message 10', { timeoutMs: 5000 });
    await tp.proxy.closeSession('ws-1', 'client', 4003, 'wstap says bye');
    await until(async () => app.page.evaluate(() => (globalThis as unknown as { wsClosed?: unknown }).wsClosed), 'the close');
    const page = await app.page.evaluate(() => {
      const w = globalThis as unknown as { got: string[]; wsClosed: { code: number; reason: string }; ext: string };
      return { got: w.got, closed: w.wsClosed, ext: w.ext };
    });
    expect(page.ext).toContain('permessage-deflate');
    const data = page.got.filter((m) => m.startsWith('{'));
    expect(data).toEqual([1, 2, 4, 5, 7, 8, 9, 10].map(chatty));
    expect(page.got).toContain('injected by wstap');
    // The edited message arrives in place of message 6, between 5 and 7 (the injected one may come between too).
    const at = (m: string): number => page.got.indexOf(m);
    expect(at('edited by wstap')).toBeGreaterThan(at(chatty(5)));
    expect(at('edited by wstap')).toBeLessThan(at(chatty(7)));
    expect(page.closed).toEqual({ code: 4003, reason: 'wstap says bye' });
  });
});

describe('socket.io-client reconnects after wstap acts', () => {
  async function socketIoBackend(): Promise<string> {
    const httpServer = http.createServer();
    const server = new Server(httpServer, { perMessageDeflate: { threshold: 0 } });
    server.on('connection', (socket) => socket.on('echo', (x: unknown, ack?: (a: unknown) => void) => ack?.(x)));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => server.close(() => r())));
    return `http://127.0.0.1:${(httpServer.address() as { port: number }).port}`;
  }

  it.each([
    ['cut match=before path=/socket.io/**', 1006],
    ['close=1011:overloaded match=before path=/socket.io/**', 1011],
  ])('%s: the socket disconnects, reconnects over a new WebSocket and works again', async (rule) => {
    const tp = await openTestProxy({ target: await socketIoBackend() });
    const id = tp.proxy.fault(rule);
    const socket = io(tp.url, { transports: ['websocket'], reconnectionDelay: 50, reconnectionDelayMax: 100 });
    defer(() => void socket.disconnect());
    const events: string[] = [];
    socket.on('connect', () => events.push('connect'));
    socket.on('disconnect', (reason) => {
      events.push(`disconnect: ${reason}`);
      // One fault is the scenario; the reconnected session is left alone.
      tp.proxy.faults.remove(id);
    });
    await until(() => (events.includes('connect') ? true : undefined), 'the first connect');
    // The rule acts on this event's message.
    socket.emit('echo', 'before');
    await until(() => (events.filter((e) => e === 'connect').length >= 2 ? true : undefined), 'the reconnect', {
      seen: () => events,
      timeoutMs: 10_000,
    });
    expect(events.find((e) => e.startsWith('disconnect'))).toBe('disconnect: transport close');
    expect(await socket.timeout(2000).emitWithAck('echo', 'after the reconnect')).toBe('after the reconnect');
    const ended = await tp.nextEnd();
    expect(Object.keys(ended.end.altered ?? {})).toEqual([rule.split('=')[0]!.split(' ')[0]!]);
  });
});
