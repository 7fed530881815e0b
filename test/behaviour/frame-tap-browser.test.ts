/**
 * The frame tap with a real browser: headless Chromium (Debian's package, never a
 * download) loads a page from 127.0.0.1, whose script talks to a ws backend through
 * the proxy. The session must show the page's Origin, permessage-deflate negotiated,
 * every message both ways decoded exactly as the page sent and received it, and the close.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import type { WsMessage } from '../../src/session/message.js';
import { echo, startWsServer } from '../support/backends.js';
import { chromiumForFile } from '../support/peers/chromium.js';
import { defer, runDeferred } from '../support/cleanup.js';
import { isData, proxyTo, tapSink } from '../support/tap.js';

// Chromium missing (or not starting) fails these tests: .ci/run installs it.
const getBrowser = chromiumForFile();

afterEach(runDeferred);

/** The page. Its script opens the WebSocket, sends, collects the echoes, closes, and reports. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>wstap browser test</title></head>
<body>
<script>
function toBase64(buf) {
  const bytes = new Uint8Array(buf);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function utf8Base64(text) { return toBase64(new TextEncoder().encode(text)); }

// Opens the WebSocket, sends every message, resolves once as many echoes came back.
window.exchange = (wsUrl, messages) => new Promise((resolve, reject) => {
  const ws = new WebSocket(wsUrl);
  ws.binaryType = 'arraybuffer';
  const sent = [];
  const received = [];
  let closed = false;
  window.current = { ws, closed: new Promise((r) => { ws.onclose = (ev) => { closed = true; r({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean }); }; }) };
  ws.onerror = () => { if (!closed) reject(new Error('WebSocket error')); };
  ws.onopen = () => {
    for (const m of messages) {
      if (m.kind === 'text') { ws.send(m.text); sent.push({ kind: 'text', data: utf8Base64(m.text) }); }
      else {
        const bytes = new Uint8Array(m.length);
        for (let i = 0; i < m.length; i++) bytes[i] = (i * m.step + m.seed) & 0xff;
        ws.send(bytes.buffer);
        sent.push({ kind: 'binary', data: toBase64(bytes.buffer) });
      }
    }
  };
  ws.onmessage = (ev) => {
    received.push(typeof ev.data === 'string' ? { kind: 'text', data: utf8Base64(ev.data) } : { kind: 'binary', data: toBase64(ev.data) });
    if (received.length === messages.length) resolve({ sent, received, extensions: ws.extensions });
  };
});

// Closes the WebSocket of the last exchange with 1000 and reports how it closed.
window.closeNow = () => { window.current.ws.close(1000, 'page done'); return window.current.closed; };

// Sends one message and reports how the connection closed.
window.sendAndWaitForClose = (wsUrl, text) => new Promise((resolve) => {
  const ws = new WebSocket(wsUrl);
  ws.onopen = () => ws.send(text);
  ws.onclose = (ev) => resolve({ code: ev.code, reason: ev.reason, wasClean: ev.wasClean });
});
</script>
</body></html>`;

interface PageResult {
  sent: { kind: 'text' | 'binary'; data: string }[];
  received: { kind: 'text' | 'binary'; data: string }[];
  extensions: string;
}

type PageMessage = { kind: 'text'; text: string } | { kind: 'binary'; length: number; step: number; seed: number };

async function pageServer(): Promise<{ url: string; port: number }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/' || req.url?.startsWith('/?')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  defer(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, port };
}

/** A ws backend with deflate on: an echo, unless onConnection scripts it. */
async function echoBackend(onConnection: (ws: WebSocket) => void = echo): Promise<string> {
  const { wss, url } = await startWsServer({ perMessageDeflate: true });
  wss.on('connection', onConnection);
  return url;
}

async function newPage(url: string): Promise<Page> {
  const context = await getBrowser().newContext();
  defer(() => context.close());
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

describe('frame tap with headless Chromium', () => {
  it('a page exchanges text and binary through the proxy: Origin, deflate, every message, close 1000', async () => {
    const target = await echoBackend();
    const tap = tapSink();
    const tp = await proxyTo(target, tap);
    const site = await pageServer();
    const page = await newPage(site.url);
    const messages: PageMessage[] = [
      { kind: 'text', text: 'hello from the browser' },
      { kind: 'text', text: JSON.stringify({ type: 'subscribe', channel: 'prices', symbols: ['ACME', 'INIT', 'WSTAP'] }) },
      { kind: 'text', text: JSON.stringify({ type: 'subscribe', channel: 'prices', symbols: ['ACME', 'INIT', 'WSTAP'] }) },
      { kind: 'binary', length: 4, step: 85, seed: 0 },
      { kind: 'text', text: 'héllo wörld ✓ 🌍 '.repeat(20) },
      { kind: 'binary', length: 100_000, step: 7, seed: 3 },
      { kind: 'text', text: 'x'.repeat(70_000) },
      { kind: 'text', text: '' },
      { kind: 'binary', length: 0, step: 1, seed: 0 },
      { kind: 'text', text: 'last' },
    ];
    const result = (await page.evaluate(
      ([url, msgs]) => (globalThis as unknown as { exchange(u: string, m: unknown): Promise<unknown> }).exchange(url, msgs),
      [tp.wsUrl('/ws'), messages] as const,
    )) as PageResult;

    // The page's view: every message echoed, deflate on.
    expect(result.sent).toHaveLength(messages.length);
    expect(result.received).toEqual(result.sent);
    expect(result.extensions).toMatch(/permessage-deflate/);

    // The page closes at once: the tap, which inflates in the background, must still count the
    // last compressed messages in the session summary (the same end of a session is checked
    // deterministically with raw peers in frame-tap-protocol.test.ts).
    const close = (await page.evaluate(() => (globalThis as unknown as { closeNow(): Promise<unknown> }).closeNow())) as {
      code: number;
      reason: string;
      wasClean: boolean;
    };
    expect(close).toEqual({ code: 1000, reason: 'page done', wasClean: true });

    const { session, end } = await tp.nextEnd();
    expect(session.handshake.origins).toEqual([`http://127.0.0.1:${site.port}`]);
    expect(session.handshake.offeredExtensions.join(', ')).toMatch(/permessage-deflate/);
    expect(session.upstream?.chosenExtensions).toMatch(/^permessage-deflate/);
    expect(end.findings).toEqual([]);
    expect(tap.findings).toEqual([]);

    // The tap's view equals the page's, both ways, in order.
    const view = (m: WsMessage) => ({ kind: m.kind, data: m.data.toString('base64') });
    const fromClient = tap.msgs.filter((m) => m.from === 'client' && isData(m));
    const fromServer = tap.msgs.filter((m) => m.from === 'server' && isData(m));
    expect(fromClient.map(view)).toEqual(result.sent);
    expect(fromServer.map(view)).toEqual(result.received);
    for (const m of [...fromClient, ...fromServer]) {
      expect(m.size).toBe(m.data.length);
      expect(m.truncated).toBe(false);
    }
    // Chromium compresses what it sends once deflate is negotiated; so does ws (context takeover).
    expect(fromClient.some((m) => m.compressed)).toBe(true);
    expect(fromServer.every((m) => m.compressed)).toBe(true);

    expect(end.ws!.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'page done', clean: true });
    expect(end.ws!.traffic.client.messages).toBe(messages.length + 1);
    expect(end.ws!.traffic.server.messages).toBe(messages.length + 1);
  });

  it('the backend closes with 1008: the page sees 1008 and the session has close-policy', async () => {
    const reason = 'Authentication required: Use Authorization header';
    const target = await echoBackend((ws) => ws.once('message', () => ws.close(1008, reason)));
    const tap = tapSink();
    const tp = await proxyTo(target, tap);
    const site = await pageServer();
    const page = await newPage(site.url);
    const closed = (await page.evaluate(
      ([url, text]) => (globalThis as unknown as { sendAndWaitForClose(u: string, t: string): Promise<unknown> }).sendAndWaitForClose(url, text),
      [tp.wsUrl('/ws'), 'hello'] as const,
    )) as { code: number; reason: string; wasClean: boolean };
    expect(closed).toEqual({ code: 1008, reason, wasClean: true });

    const { session, end } = await tp.nextEnd();
    expect(session.handshake.origins).toEqual([`http://127.0.0.1:${site.port}`]);
    expect(end.ws!.close).toMatchObject({ initiator: 'server', code: 1008, reason, clean: true });
    const policy = end.findings.filter((f) => f.code === 'close-policy');
    expect(policy).toHaveLength(1);
    expect(policy[0]!.message).toContain(reason);
    expect(tap.msgs.filter((m) => m.from === 'client' && m.kind === 'text').map((m) => m.data.toString())).toEqual(['hello']);
  });
});
