/**
 * Application protocols in the live view, in real Chromium: a real Socket.IO server and
 * client and a plain WebSocket session through wstap. The list has a protocol column and a
 * protocol filter; a Socket.IO session's page shows each message's protocol line, links each
 * ack to its emit, filters on event names, and lists the operations with their latency.
 */
import http from 'node:http';
import type { Page } from 'playwright-core';
import { Server } from 'socket.io';
import { io } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SessionHistory } from '../../src/sinks/history.js';
import { startWsServer } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { openTestProxy } from '../support/helpers.js';
import { chromiumForFile } from '../support/peers/chromium.js';
import { until } from '../support/wait.js';

const getBrowser = chromiumForFile();

afterEach(runDeferred);

async function openPage(url: string): Promise<Page> {
  const context = await getBrowser().newContext({ viewport: { width: 1500, height: 900 } });
  defer(() => context.close());
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

describe('application protocols in the live view (Chromium)', () => {
  it('a protocol column and filter in the list; protocol lines, ack links, an event-name filter and the operations on the session page', async () => {
    // Socket.IO on the backend's /socket.io/, a plain echo WebSocket on another backend.
    const httpServer = http.createServer();
    const sio = new Server(httpServer);
    sio.on('connection', (socket) => socket.on('echo', (v: unknown, ack: (a: unknown) => void) => setTimeout(() => ack(v), 5)));
    await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', () => r()));
    defer(() => new Promise<void>((r) => sio.close(() => r())));
    const history = new SessionHistory();
    const tp = await openTestProxy({ target: `http://127.0.0.1:${(httpServer.address() as { port: number }).port}`, history, sinks: [history] });
    const plain = await startWsServer();
    const tpPlain = await openTestProxy({ target: plain.url, history, sinks: [history], sessionIdPrefix: 'plain' });

    const socket = io(tp.url, { transports: ['websocket'], reconnection: false });
    defer(() => void socket.disconnect());
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('connect_error', reject));
    for (const v of [1, 2, 3]) expect(await socket.emitWithAck('echo', { v })).toEqual({ v });
    socket.emit('note', 'no ack');
    const ws = new WebSocket(tpPlain.wsUrl('/ws'));
    defer(() => ws.terminate());
    await new Promise((r) => ws.once('open', r));

    const view = `http://127.0.0.1:${tp.port}/__wstap/`;
    const page = await openPage(view);
    const sioRow = page.locator('tr[data-session="ws-1"]');
    await sioRow.waitFor();
    expect(await sioRow.locator('td.proto').textContent()).toBe('socket.io');
    await page.locator('tr[data-session="plain-1"]').waitFor();
    expect(await page.locator('tr[data-session="plain-1"] td.proto').textContent()).toBe('');
    // The protocol filter: only the Socket.IO session, and the choice is in the address.
    await page.getByLabel('filter by protocol').selectOption('socket.io');
    await until(async () => (await page.locator('tbody tr').count()) === 1, 'one row left');
    expect(page.url()).toContain('protocol=socket.io');
    await page.getByLabel('filter by protocol').selectOption('none');
    await until(async () => (await page.locator('tbody tr[data-session="plain-1"]').count()) === 1, 'the plain session alone');

    // The session's page: each message's protocol line, beside its payload.
    await page.goto(`${view}sessions/ws-1`);
    const apps = page.locator('.row .c-app');
    await until(async () => (await apps.allTextContents()).includes('socket.io emit "note"'), 'the protocol lines', {
      seen: () => apps.allTextContents(),
    });
    const texts = await apps.allTextContents();
    expect(texts).toEqual(
      expect.arrayContaining(['socket.io connect /', 'socket.io connected /', 'socket.io emit "echo" [ack 0]', 'socket.io ack 0', 'socket.io ack 2']),
    );
    // An ack links back to its emit, with the time between them.
    const ack = page.locator('.row', { has: page.locator('.c-app', { hasText: /^socket\.io ack 1$/ }) });
    const emitSeq = await page
      .locator('.row', { has: page.locator('.c-app', { hasText: 'socket.io emit "echo" [ack 1]' }) })
      .getAttribute('data-seq');
    expect(await ack.locator('.c-lat').textContent()).toMatch(new RegExp(`^↩#${emitSeq} \\d`));
    // The filter finds messages by what they mean: the event name.
    await page.getByTestId('message-filter').fill('emit "echo"');
    await until(async () => (await page.locator('.row').count()) === 3, 'the three echo emits', { seen: () => apps.allTextContents() });
    // The operations, timed in the page while the session is open.
    const ops = page.getByTestId('operations');
    await until(async () => ((await ops.textContent()) ?? '').includes('emit echo'), 'the operations panel', { seen: () => ops.textContent() });
    const echoRow = ops.locator('tr', { hasText: 'emit echo' });
    expect(await echoRow.locator('td').nth(1).textContent()).toBe('3');
    expect(await ops.locator('h2').textContent()).toContain('socket.io');

    // Closed: the session's summary, with what was never answered.
    socket.disconnect();
    await until(async () => ((await ops.textContent()) ?? '').includes('unanswered'), 'the summary at the end', { seen: () => ops.textContent() });
    expect(await ops.locator('h2').textContent()).toContain('detected by path');
    expect(await ops.locator('tr', { hasText: 'emit echo' }).locator('td').nth(1).textContent()).toBe('3');
  });
});
