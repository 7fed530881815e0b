/**
 * Message hooks through a real proxy: real ws clients and servers with permessage-deflate on
 * (context takeover, the default, and without it), hooks that drop, edit and inject; the
 * receivers must keep decoding every later message. And a session that no hook takes stays
 * byte-faithful beside one that a hook took.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer, type PerMessageDeflateOptions } from 'ws';
import type { HookMessage, MessageHandler, MessageHook, SessionControl } from '../../src/tunnel/hooks.js';
import { encodeFrame } from '../../src/wire/ws-frame.js';
import {
  KEY,
  frame,
  hasHead,
  rawClient,
  sleep,
  startRawBackend,
  startTestProxy,
  switchingHead,
  upgradeHead,
  type RawConnection,
  type TestProxy,
} from '../support/helpers.js';
import { until } from '../support/wait.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const token = (side: string, i: number): string => createHash('sha256').update(`${side}${i}`).digest('hex').slice(0, 32);
/** Message i of a side: it repeats the token of message i - 1, so its compression refers back to it (with context takeover). */
const chatty = (side: string, i: number): string =>
  JSON.stringify({ from: side, seq: i, token: token(side, i), previous: token(side, i - 1), note: 'the same words again and again' });

const COUNT = 6;

interface Peers {
  tp: TestProxy;
  /** What each receiver decoded, in order. */
  atServer: string[];
  atClient: string[];
  /** Errors and closes the peers saw (none expected). */
  trouble: string[];
  client: WebSocket;
  /** The backend's Sec-WebSocket-Extensions answer. */
  extensions: string;
}

/** A ws server that sends COUNT messages when the client's first one arrives, a proxy with `hooks` before it, a ws client that sends COUNT messages. */
async function exchange(hooks: MessageHook[], pmd: PerMessageDeflateOptions): Promise<Peers> {
  const atServer: string[] = [];
  const atClient: string[] = [];
  const trouble: string[] = [];
  const server = http.createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0, ...pmd } });
  wss.on('connection', (ws) => {
    // The server starts once the client spoke (a greeting sent with the 101 has a test of its own below).
    ws.on('message', (d) => {
      if (atServer.push(String(d)) === 1) for (let i = 0; i < COUNT; i++) ws.send(chatty('server', i));
    });
    ws.on('error', (err) => void trouble.push(`server error: ${err.message}`));
    ws.on('close', (code) => void (code !== 1005 && code !== 1000 && trouble.push(`server close ${code}`)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  cleanups.push(() => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
  const tp = await startTestProxy({ target: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, hooks });
  cleanups.push(() => tp.close());
  const client = new WebSocket(tp.wsUrl('/ws'), { perMessageDeflate: { threshold: 0 } });
  cleanups.push(() => client.terminate());
  client.on('message', (d) => void atClient.push(String(d)));
  client.on('error', (err) => void trouble.push(`client error: ${err.message}`));
  client.on('close', (code) => void (code !== 1005 && code !== 1000 && trouble.push(`client close ${code}`)));
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  for (let i = 0; i < COUNT; i++) client.send(chatty('client', i));
  const extensions = (await tp.nextHandshake()).upstream?.chosenExtensions ?? '';
  return { tp, atServer, atClient, trouble, client, extensions };
}

/** A hook that takes every session with one handler, and keeps its session control. */
function hookWith(handler: (m: HookMessage, control: SessionControl) => ReturnType<MessageHandler>): MessageHook {
  return { name: 'test', forSession: (_s, control) => (m) => handler(m, control) };
}

const seq = (side: string, indexes: number[]): string[] => indexes.map((i) => chatty(side, i));

async function received(p: Peers, server: number, client: number): Promise<void> {
  await until(() => p.atServer.length >= server && p.atClient.length >= client, `${server} messages at the server and ${client} at the client`, {
    seen: () => `server has ${p.atServer.length}, client has ${p.atClient.length}; trouble: ${p.trouble.join(', ')}`,
  });
  // The frame tap decoded what the receivers got (it reads the bytes as written), without a protocol error.
  const logged = (from: string): number => p.tp.logs.filter((l) => l['event'] === 'message' && l['from'] === from && l['kind'] !== 'close').length;
  await until(() => logged('client') >= p.atServer.length && logged('server') >= p.atClient.length, 'the message lines of what the receivers got', {
    seen: () =>
      `client ${logged('client')} lines for ${p.atServer.length} at the server, server ${logged('server')} for ${p.atClient.length} at the client`,
  });
  // Nothing more arrives, and nobody complains: a real-time wait for a negative.
  await sleep(50);
  expect([logged('client'), logged('server')]).toEqual([p.atServer.length, p.atClient.length]);
  expect(p.tp.logs.filter((l) => l['event'] === 'finding').map((l) => (l['finding'] as { code: string }).code)).not.toContain('protocol-error');
}

describe.each([
  ['context takeover', {}],
  ['no context takeover', { serverNoContextTakeover: true, clientNoContextTakeover: true }],
])('message hooks on permessage-deflate with %s', (_name, pmd: PerMessageDeflateOptions) => {
  it('the receivers decode every later message after a dropped compressed message, both ways', async () => {
    const p = await exchange([hookWith((m) => (m.index === 2 ? { action: 'drop' } : undefined))], pmd);
    expect(p.extensions).toContain('permessage-deflate');
    if (pmd.serverNoContextTakeover)
      expect(p.extensions).toMatch(/server_no_context_takeover.*client_no_context_takeover|client_no_context_takeover.*server_no_context_takeover/);
    await received(p, COUNT - 1, COUNT - 1);
    expect(p.atServer).toEqual(seq('client', [0, 1, 3, 4, 5]));
    expect(p.atClient).toEqual(seq('server', [0, 1, 3, 4, 5]));
    expect(p.trouble).toEqual([]);
  });

  it('the receivers decode every later message after an edited message, both ways', async () => {
    const p = await exchange(
      [hookWith((m) => (m.index === 1 ? { action: 'replace', with: [{ kind: 'text', data: `edited ${m.from}` }] } : undefined))],
      pmd,
    );
    await received(p, COUNT, COUNT);
    expect(p.atServer).toEqual([chatty('client', 0), 'edited client', ...seq('client', [2, 3, 4, 5])]);
    expect(p.atClient).toEqual([chatty('server', 0), 'edited server', ...seq('server', [2, 3, 4, 5])]);
    expect(p.trouble).toEqual([]);
  });

  it('the receivers decode every later message after an injected one, both ways', async () => {
    const p = await exchange(
      [
        hookWith((m, control) => {
          if (m.index === 2)
            control.send(m.from === 'client' ? 'server' : 'client', {
              kind: 'text',
              data: `injected to the ${m.from === 'client' ? 'server' : 'client'}`,
            });
          return undefined;
        }),
      ],
      pmd,
    );
    await received(p, COUNT + 1, COUNT + 1);
    expect(p.atServer).toEqual([...seq('client', [0, 1, 2]), 'injected to the server', ...seq('client', [3, 4, 5])]);
    expect(p.atClient).toEqual([...seq('server', [0, 1, 2]), 'injected to the client', ...seq('server', [3, 4, 5])]);
    expect(p.trouble).toEqual([]);
  });
});

describe('message hooks through the proxy', () => {
  it('a delayed, dropped and added mix on a compressed session: order kept, every message decoded', async () => {
    const p = await exchange(
      [
        // A slow hook (real time on purpose): the first message of each direction is delayed.
        hookWith((m) => (m.index === 0 ? sleep(100).then(() => undefined) : undefined)),
        hookWith((m) =>
          m.index === 3 ? { action: 'drop' } : m.index === 4 ? { action: 'pass', add: [{ kind: 'binary', data: Buffer.from('added') }] } : undefined,
        ),
      ],
      {},
    );
    await received(p, COUNT, COUNT);
    expect(p.atServer).toEqual([...seq('client', [0, 1, 2, 4]), 'added', chatty('client', 5)]);
    expect(p.atClient).toEqual([...seq('server', [0, 1, 2, 4]), 'added', chatty('server', 5)]);
    expect(p.trouble).toEqual([]);
  });

  it('a hook that throws is logged, and its messages pass', async () => {
    const p = await exchange(
      [
        hookWith(() => {
          throw new Error('hook bug');
        }),
      ],
      {},
    );
    await received(p, COUNT, COUNT);
    expect(p.atServer).toEqual(seq('client', [0, 1, 2, 3, 4, 5]));
    expect(p.tp.logs.filter((l) => l['event'] === 'hook-failed')).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Byte fidelity beside a hooked session

interface RawSession {
  client: RawConnection;
  server: RawConnection;
}

async function rawSession(tp: TestProxy, nextConnection: () => Promise<RawConnection>, path: string): Promise<RawSession> {
  const client = await rawClient(tp.port);
  cleanups.push(() => client.socket.destroy());
  const head = upgradeHead(path, ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits']);
  const connection = nextConnection();
  client.socket.write(head);
  const server = await connection;
  await server.waitFor(hasHead);
  const answer = switchingHead(KEY, ['Sec-WebSocket-Extensions: permessage-deflate']);
  server.socket.write(answer);
  await client.waitFor((b) => b.length >= answer.length);
  return { client, server };
}

describe('a session no hook takes', () => {
  it('stays byte-faithful, as does a session whose hook passes everything, through the same proxy', async () => {
    const taken: string[] = [];
    const handled: string[] = [];
    const hook: MessageHook = {
      name: 'only /hooked',
      forSession(s) {
        if (s.handshake.request.target !== '/hooked') return undefined;
        taken.push(s.handshake.request.target);
        return (m) => void handled.push(`${m.from} ${m.kind}`);
      },
    };
    const connections: ((c: RawConnection) => void)[] = [];
    const backend = await startRawBackend((c) => connections.shift()?.(c));
    cleanups.push(() => backend.close());
    const tp = await startTestProxy({ target: backend.url, hooks: [hook] });
    cleanups.push(() => tp.close());
    const next = (): Promise<RawConnection> => new Promise((r) => connections.push(r));
    // Compressed-looking frames (RSV1), fragments, control frames between them, odd masking keys.
    const fromClient = Buffer.concat([
      encodeFrame({ opcode: 1, payload: Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), rsv1: true, mask: Buffer.from([0, 0, 0, 0]) }),
      encodeFrame({ opcode: 2, payload: Buffer.alloc(300, 1), fin: false, mask: true }),
      encodeFrame({ opcode: 9, payload: 'ping', mask: true }),
      encodeFrame({ opcode: 0, payload: Buffer.alloc(70_000, 2), mask: true }),
    ]);
    const fromServer = Buffer.concat([
      frame(1, 'plain'),
      frame(1, Buffer.from([0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), { rsv1: true }),
      frame(10, ''),
    ]);
    for (const path of ['/plain', '/hooked']) {
      const s = await rawSession(tp, next, path);
      const serverStart = s.server.received().length;
      const clientStart = s.client.received().length;
      s.client.socket.write(fromClient);
      s.server.socket.write(fromServer);
      await s.server.waitFor((b) => b.length >= serverStart + fromClient.length);
      await s.client.waitFor((b) => b.length >= clientStart + fromServer.length);
      expect(s.server.received().subarray(serverStart).equals(fromClient), path).toBe(true);
      expect(s.client.received().subarray(clientStart).equals(fromServer), path).toBe(true);
    }
    expect(taken).toEqual(['/hooked']);
    expect(handled.filter((h) => h.startsWith('client'))).toEqual(['client text', 'client ping', 'client binary']);
    expect(handled.filter((h) => h.startsWith('server'))).toEqual(['server text', 'server text', 'server pong']);
  });
});

describe('bytes that come with the 101', () => {
  it('a greeting in the same write as the 101 goes through the hooks like any later message', async () => {
    const backend = await startRawBackend((c) => {
      void c.waitFor(hasHead).then((head) => {
        const key = /sec-websocket-key:\s*(\S+)/i.exec(head.toString('latin1'))![1]!;
        c.socket.write(Buffer.concat([Buffer.from(switchingHead(key)), frame(0x1, 'hello'), frame(0x1, 'again')]));
      });
    });
    cleanups.push(() => backend.close());
    const upper = hookWith((m) =>
      m.from === 'server' && m.kind === 'text' ? { action: 'replace', with: [{ kind: 'text', data: m.data.toString().toUpperCase() }] } : undefined,
    );
    const tp = await startTestProxy({ target: backend.url, hooks: [upper] });
    cleanups.push(() => tp.close());
    const client = new WebSocket(tp.wsUrl('/ws'), { perMessageDeflate: false });
    cleanups.push(() => client.terminate());
    const got: string[] = [];
    client.on('message', (d) => void got.push(String(d)));
    await new Promise((r) => client.once('open', r));
    await until(() => got.length >= 2, 'the two greeting messages at the client', { seen: () => got });
    expect(got).toEqual(['HELLO', 'AGAIN']);
  });
});
