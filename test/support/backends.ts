/**
 * Backends the tests put behind wstap, on 127.0.0.1 and ephemeral ports, closed after the
 * test (see cleanup.ts): the guide's demo backend and plain ws servers.
 */
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { defer } from './cleanup.js';
import { switchingHead } from './helpers.js';

/** The demo backend (its environment as given: {} means no auth bypass); closed after the test. */
export async function demoBackend(env: Record<string, string> = {}): Promise<DemoBackend> {
  const b = await startDemoBackend({ env });
  defer(() => b.close());
  return b;
}

export interface WsServer {
  wss: WebSocketServer;
  port: number;
  /** http://127.0.0.1:port, for --target. */
  url: string;
  /** ws://127.0.0.1:port, for a client or a replay target. */
  wsUrl: string;
}

/** A ws server on 127.0.0.1 (options as given; ws's defaults otherwise); its clients terminated and the server closed after the test. */
export async function startWsServer(options: ServerOptions = {}): Promise<WsServer> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...options });
  await once(wss, 'listening');
  defer(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  const { port } = wss.address() as { port: number };
  return { wss, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` };
}

/** Every message comes back as it was sent (text as text, binary as binary). */
export function echo(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
}

/** What a hashing backend received on one connection after its 101. */
export interface Hashed {
  bytes: number;
  hash: Hash;
}

/**
 * A backend that answers each upgrade with a 101 (plus `extra` header lines, such as
 * permessage-deflate) and hashes what it receives after it, keeping nothing else: the tests
 * of bounded memory compare the bytes at both ends without holding them.
 */
export async function hashingBackend(extra: string[] = []): Promise<{ url: string; got: Hashed[] }> {
  const got: Hashed[] = [];
  const server = net.createServer((socket) => {
    const conn: Hashed = { bytes: 0, hash: createHash('sha256') };
    got.push(conn);
    let head: Buffer | undefined = Buffer.alloc(0);
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      if (head !== undefined) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.write(switchingHead(undefined, extra));
        d = head.subarray(end + 4);
        head = undefined;
      }
      conn.bytes += d.length;
      conn.hash.update(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  defer(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, got };
}
