/**
 * Backends the tests put behind wstap, on 127.0.0.1 and ephemeral ports, closed after the
 * test (see cleanup.ts): the guide's demo backend and plain ws servers.
 */
import { once } from 'node:events';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { startDemoBackend, type DemoBackend } from '../../src/demo/backend.js';
import { defer } from './cleanup.js';

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
