/**
 * Shared setup of the replay tests (test/behaviour/replay-*.test.ts, test/cli/replay-bin.test.ts):
 * ws backends, the demo backend's protocol changed, sessions recorded through a real proxy
 * against the demo backend, and a replay server that reports into a list. Everything is
 * closed after the test (cleanup.ts). Real sockets on 127.0.0.1; nothing is mocked.
 */
import type http from 'node:http';
import type { WebSocket as ServerSocket } from 'ws';
import type { DemoBackend } from '../../src/demo/backend.js';
import type { Recording } from '../../src/recording/format.js';
import type { ReplayResult } from '../../src/replay/replay-client.js';
import { createReplayServer, type ReplayServer, type ReplayServerEvent, type ReplayServerOptions } from '../../src/replay/replay-server.js';
import { startWsServer } from './backends.js';
import { defer } from './cleanup.js';
import { fakeJwt } from './helpers.js';
import { closeClient, openClient, recordThroughProxy } from './recording.js';

/** A ws backend (deflate on) on 127.0.0.1; `onConnection` scripts it. */
export async function wsBackend(onConnection: (ws: ServerSocket, req: http.IncomingMessage) => void): Promise<{ port: number; wsUrl: string }> {
  const { wss, port, wsUrl } = await startWsServer({ perMessageDeflate: true });
  wss.on('connection', (ws, req) => {
    ws.on('error', () => {});
    onConnection(ws, req);
  });
  return { port, wsUrl };
}

/** The demo backend's protocol, changed: the echo says "reply" and carries a new field. */
export function changedEcho(ws: ServerSocket): void {
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) return ws.send(data, { binary: true });
    let parsed: unknown = data.toString();
    try {
      parsed = JSON.parse(data.toString());
    } catch {
      // plain text
    }
    ws.send(JSON.stringify({ type: 'reply', data: parsed, server_ts: Date.now(), v: 2 }));
  });
}

export const HELLO = '{"op":"hello","n":1}';
export const BYE = '{"op":"bye","items":[1,2,3]}';
export const BYTES = Buffer.from([1, 2, 3, 254]);

/** One session against the demo backend: JSON, binary, JSON, then a client close 1000. */
export async function recordChat(backend: DemoBackend): Promise<{ file: string; rec: Recording }> {
  return recordThroughProxy(backend.url, async (wsUrl) => {
    const c = await openClient(wsUrl(`/ws?token=${fakeJwt(600)}`), [], { headers: { Origin: 'http://localhost:3000' } });
    await c.ask(HELLO);
    await c.ask(BYTES);
    await c.ask(BYE);
    await closeClient(c, 1000, 'done');
  });
}

/** A session the demo backend closes with 1008 (no token). */
export async function recordPolicyClose(backend: DemoBackend): Promise<{ file: string; rec: Recording }> {
  return recordThroughProxy(backend.url, async (wsUrl) => {
    const c = await openClient(wsUrl('/ws'));
    await c.closed;
  });
}

/** The server's data messages of a recorded session, as text (binary ones as latin1). */
export const serverTexts = (rec: Recording, i = 0): string[] =>
  rec.sessions[i]!.messages.filter((m) => m.from === 'server' && (m.kind === 'text' || m.kind === 'binary')).map(
    (m) => m.text ?? Buffer.from(m.base64!, 'base64').toString('latin1'),
  );

/** A replay server for rec, its reports collected in events; closed after the test. */
export async function serve(rec: Recording | string, opts: ReplayServerOptions = {}): Promise<{ server: ReplayServer; events: ReplayServerEvent[] }> {
  const events: ReplayServerEvent[] = [];
  const server = await createReplayServer(rec, { ...opts, onReport: (e) => events.push(e) });
  defer(() => server.close());
  return { server, events };
}

export const diffsOf = (r: ReplayResult): { index: number; path: string; expected: unknown; actual: unknown }[] =>
  r.sessions.flatMap((s) => s.diffs.map((d) => ({ index: d.index, path: d.path, expected: d.expected, actual: d.actual })));
