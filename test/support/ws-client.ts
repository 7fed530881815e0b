/** A plain ws client for the tests, terminated after the test (see cleanup.ts). */
import type { ClientRequestArgs } from 'node:http';
import WebSocket from 'ws';
import { defer } from './cleanup.js';

/** A ws client (not waited for: listen for 'open'); errors are left to the test's own listeners. */
export function wsClient(url: string, opts: WebSocket.ClientOptions | ClientRequestArgs = {}): WebSocket {
  const ws = new WebSocket(url, opts);
  ws.on('error', () => {});
  defer(() => ws.terminate());
  return ws;
}
