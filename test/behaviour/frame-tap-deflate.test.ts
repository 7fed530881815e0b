/**
 * The frame tap against real WebSocket peers (ws and undici) on loopback: every message
 * both ways decoded exactly as the endpoints sent and received it, with and without
 * permessage-deflate in its parameter combinations.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { WebSocket as UndiciWebSocket } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import type { PerMessageDeflateOptions, RawData, ServerOptions } from 'ws';
import type { WsMessage } from '../../src/session/message.js';
import { startWsServer } from '../support/backends.js';
import { defer, runDeferred } from '../support/cleanup.js';
import type { TestProxy } from '../support/helpers.js';
import { fp, isData, proxyTo, tapSink, words, type Tap } from '../support/tap.js';
import { until } from '../support/wait.js';
import { wsClient } from '../support/ws-client.js';

afterEach(runDeferred);

/** A message as an endpoint sent it: one part, or several fragments (ws send with fin false). */
interface Outgoing {
  kind: 'text' | 'binary';
  parts: (string | Buffer)[];
}

const asBuffer = (p: string | Buffer): Buffer => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p);

/** About twenty messages: repeated text (context takeover matters), binary, 200 KB, empty, fragmented, non-ASCII. */
function script(tag: string): Outgoing[] {
  const repeated = `${tag}: {"type":"update","channel":"prices","symbol":"ACME","bid":101.25,"ask":101.5} `.repeat(6);
  const out: Outgoing[] = [];
  for (let i = 0; i < 6; i++) out.push({ kind: 'text', parts: [repeated + i] });
  out.push({ kind: 'text', parts: [repeated] }, { kind: 'text', parts: [repeated] });
  out.push({ kind: 'binary', parts: [Buffer.from([0, 1, 2, 3, 255, 254, 0, 0, 128])] });
  out.push({ kind: 'binary', parts: [Buffer.alloc(3000, tag)] });
  out.push({ kind: 'binary', parts: [randomBytes(700)] });
  out.push({ kind: 'text', parts: [words(200 * 1024, tag.charCodeAt(0))] });
  out.push({ kind: 'binary', parts: [randomBytes(200 * 1024)] });
  out.push({ kind: 'text', parts: [''] });
  out.push({ kind: 'binary', parts: [Buffer.alloc(0)] });
  out.push({ kind: 'text', parts: [`${tag} fragment one, `, `${tag} fragment two, `, `${tag} fragment three`] });
  out.push({ kind: 'binary', parts: [Buffer.from('0102', 'hex'), randomBytes(70_000), Buffer.from('0304', 'hex')] });
  out.push({ kind: 'text', parts: ['ends with an empty fragment', ''] });
  out.push({ kind: 'text', parts: [`héllo wörld ✓ 🌍 ${tag} `.repeat(10)] });
  out.push({ kind: 'text', parts: [`${repeated}last`] });
  return out;
}

function sendAll(ws: WebSocket, msgs: Outgoing[], opts: { compress?: boolean } = {}): void {
  for (const m of msgs) {
    m.parts.forEach((p, i) => {
      ws.send(p, { binary: m.kind === 'binary', fin: i === m.parts.length - 1, ...opts });
    });
  }
}

interface Received {
  kind: 'text' | 'binary';
  data: string;
}
const received = (data: RawData, isBinary: boolean): Received => ({ kind: isBinary ? 'binary' : 'text', data: fp(data as Buffer) });
const sentAsReceived = (m: Outgoing): Received => ({ kind: m.kind, data: fp(Buffer.concat(m.parts.map(asBuffer))) });

/** What the sink should have decoded for a message an endpoint sent. */
function expectedDecoded(m: Outgoing, compressed: boolean) {
  const data = Buffer.concat(m.parts.map(asBuffer));
  return { kind: m.kind, data: fp(data), size: data.length, compressed, frames: m.parts.length, truncated: false };
}
const decoded = (m: WsMessage) => ({
  kind: m.kind,
  data: fp(m.data),
  size: m.size,
  compressed: m.compressed,
  frames: m.frames,
  truncated: m.truncated,
});

// --- every message both ways ----------------------------------------------------------

interface ExchangeResult {
  tp: TestProxy;
  tap: Tap;
  clientScript: Outgoing[];
  serverScript: Outgoing[];
  clientGot: Received[];
  serverGot: Received[];
}

/** A ws client and a ws backend exchange their scripts through the proxy, then the client closes with 1000. */
async function exchange(server: ServerOptions, client: WebSocket.ClientOptions): Promise<ExchangeResult> {
  const { wss, url } = await startWsServer(server);
  const tap = tapSink();
  const tp = await proxyTo(url, tap);
  const clientScript = script('C');
  const serverScript = script('S');
  const serverGot: Received[] = [];
  const clientGot: Received[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (d, isBinary) => serverGot.push(received(d, isBinary)));
    sendAll(ws, serverScript);
  });
  const ws = wsClient(tp.wsUrl('/ws'), client);
  ws.on('message', (d, isBinary) => clientGot.push(received(d, isBinary)));
  await once(ws, 'open');
  sendAll(ws, clientScript);
  await until(() => serverGot.length === clientScript.length && clientGot.length === serverScript.length, 'both scripts delivered', {
    seen: () => `server got ${serverGot.length} of ${clientScript.length}, client got ${clientGot.length} of ${serverScript.length}`,
  });
  ws.close(1000, 'done');
  await once(ws, 'close');
  return { tp, tap, clientScript, serverScript, clientGot, serverGot };
}

async function expectExact(r: ExchangeResult, compressed: boolean): Promise<void> {
  const { session, end } = await r.tp.nextEnd();
  // The endpoints got what the other sent (the proxy forwarded faithfully) ...
  expect(r.serverGot).toEqual(r.clientScript.map(sentAsReceived));
  expect(r.clientGot).toEqual(r.serverScript.map(sentAsReceived));
  // ... and the tap decoded exactly that, in order, per direction.
  const fromClient = r.tap.msgs.filter((m) => m.from === 'client' && isData(m)).map(decoded);
  const fromServer = r.tap.msgs.filter((m) => m.from === 'server' && isData(m)).map(decoded);
  expect(fromClient).toEqual(r.clientScript.map((m) => expectedDecoded(m, compressed)));
  expect(fromServer).toEqual(r.serverScript.map((m) => expectedDecoded(m, compressed)));
  // The close handshake, decoded.
  const closes = r.tap.msgs.filter((m) => m.kind === 'close').map((m) => [m.from, m.closeCode, m.closeReason]);
  expect(closes).toEqual([
    ['client', 1000, 'done'],
    ['server', 1000, 'done'],
  ]);
  expect(r.tap.msgs.every((m) => m.kind !== 'ping' && m.kind !== 'pong')).toBe(true);
  // No protocol error, nowhere.
  expect(r.tap.findings.filter((f) => f.code === 'protocol-error')).toEqual([]);
  expect(session.findings.filter((f) => f.code === 'protocol-error' || f.code.startsWith('close-'))).toEqual([]);
  expect(end.findings).toEqual([]);
  expect(end.ws).toBeDefined();
  expect(end.ws!.traffic.client).toMatchObject({ messages: r.clientScript.length + 1 });
  expect(end.ws!.traffic.server).toMatchObject({ messages: r.serverScript.length + 1 });
  expect(end.ws!.traffic.client.blind).toBeUndefined();
  expect(end.ws!.traffic.server.blind).toBeUndefined();
  expect(end.ws!.close).toMatchObject({ initiator: 'client', code: 1000, reason: 'done', clean: true });
}

interface DeflateCase {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

const DEFLATE_CASES: DeflateCase[] = [
  ...[9, 10, 11, 12, 13, 14, 15].map((bits) => ({
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: bits,
    clientMaxWindowBits: bits,
  })),
  { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
  { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 15 },
  // Mixed: takeover off in one direction only, different windows per direction.
  { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 14 },
  { serverNoContextTakeover: false, clientNoContextTakeover: true, serverMaxWindowBits: 15, clientMaxWindowBits: 9 },
];

describe('frame tap with ws peers: every message decoded both ways', () => {
  it.each(DEFLATE_CASES)(
    'permessage-deflate server_no_context_takeover=$serverNoContextTakeover client_no_context_takeover=$clientNoContextTakeover server_max_window_bits=$serverMaxWindowBits client_max_window_bits=$clientMaxWindowBits',
    async (c) => {
      const pmd: PerMessageDeflateOptions = { threshold: 0, ...c };
      const r = await exchange({ perMessageDeflate: pmd }, { perMessageDeflate: pmd });
      const hs = await r.tp.nextHandshake();
      // The parameters really were negotiated as the case says.
      const ext = hs.upstream?.chosenExtensions ?? '';
      expect(ext).toMatch(/^permessage-deflate/);
      expect(ext).toContain(`server_max_window_bits=${c.serverMaxWindowBits}`);
      expect(ext).toContain(`client_max_window_bits=${c.clientMaxWindowBits}`);
      expect(ext.includes('server_no_context_takeover')).toBe(c.serverNoContextTakeover);
      expect(ext.includes('client_no_context_takeover')).toBe(c.clientNoContextTakeover);
      await expectExact(r, true);
    },
  );

  it('without permessage-deflate on either side: same messages, compressed false', async () => {
    const r = await exchange({ perMessageDeflate: false }, { perMessageDeflate: false });
    const hs = await r.tp.nextHandshake();
    expect(hs.upstream?.chosenExtensions).toBeUndefined();
    expect(hs.handshake.offeredExtensions).toEqual([]);
    await expectExact(r, false);
  });

  it('the client offers permessage-deflate and the backend declines: nothing is compressed', async () => {
    const r = await exchange({ perMessageDeflate: false }, {});
    const hs = await r.tp.nextHandshake();
    expect(hs.handshake.offeredExtensions.join(',')).toMatch(/permessage-deflate/);
    expect(hs.upstream?.chosenExtensions).toBeUndefined();
    await expectExact(r, false);
  });
});

describe('frame tap with undici WebSocket as the client', () => {
  it('text and binary both ways decode to what each side sent and received', async () => {
    const { wss, url } = await startWsServer({ perMessageDeflate: true });
    const tap = tapSink();
    const tp = await proxyTo(url, tap);
    const clientSends: (string | Buffer)[] = ['hello from undici', Buffer.from([1, 2, 3, 250]), 'x'.repeat(5000), randomBytes(20_000), ''];
    const serverSends: Outgoing[] = [
      { kind: 'text', parts: ['hello from ws'] },
      { kind: 'binary', parts: [Buffer.from([9, 8, 7])] },
      { kind: 'text', parts: [words(50_000, 7)] },
      { kind: 'binary', parts: [Buffer.alloc(30_000, 0x5a)] },
      { kind: 'text', parts: ['frag-a ', 'frag-b'] },
    ];
    const serverGot: Received[] = [];
    wss.on('connection', (ws) => {
      ws.on('message', (d, isBinary) => serverGot.push(received(d, isBinary)));
      sendAll(ws, serverSends);
    });
    const clientGot: Received[] = [];
    const ws = new UndiciWebSocket(tp.wsUrl('/ws'));
    defer(() => ws.close());
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (ev) => {
      const d = ev.data as string | ArrayBuffer;
      clientGot.push(typeof d === 'string' ? { kind: 'text', data: fp(Buffer.from(d, 'utf8')) } : { kind: 'binary', data: fp(Buffer.from(d)) });
    });
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener('open', () => resolve());
      ws.addEventListener('error', () => reject(new Error('undici WebSocket failed to open')));
    });
    for (const m of clientSends) ws.send(typeof m === 'string' ? m : new Uint8Array(m));
    await until(() => serverGot.length === clientSends.length && clientGot.length === serverSends.length, 'messages both ways', {
      seen: () => `server got ${serverGot.length} of ${clientSends.length}, client got ${clientGot.length} of ${serverSends.length}`,
    });
    const closed = new Promise<{ code: number }>((resolve) => ws.addEventListener('close', (ev) => resolve({ code: ev.code })));
    ws.close(1000);
    expect((await closed).code).toBe(1000);

    const { session, end } = await tp.nextEnd();
    expect(session.handshake.offeredExtensions.join(',')).toMatch(/permessage-deflate/);
    expect(session.upstream?.chosenExtensions).toMatch(/^permessage-deflate/);
    const clientAsSent: Outgoing[] = clientSends.map((m) => ({ kind: typeof m === 'string' ? 'text' : 'binary', parts: [m] }));
    expect(serverGot).toEqual(clientAsSent.map(sentAsReceived));
    expect(clientGot).toEqual(serverSends.map(sentAsReceived));
    // undici 7 inflates what it receives but never compresses what it sends.
    expect(tap.msgs.filter((m) => m.from === 'client' && isData(m)).map(decoded)).toEqual(clientAsSent.map((m) => expectedDecoded(m, false)));
    expect(tap.msgs.filter((m) => m.from === 'server' && isData(m)).map(decoded)).toEqual(serverSends.map((m) => expectedDecoded(m, true)));
    expect(tap.findings).toEqual([]);
    expect(end.ws!.close).toMatchObject({ initiator: 'client', code: 1000, clean: true });
  });
});
