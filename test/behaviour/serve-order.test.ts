/**
 * `wstap serve` plays the recorded order: a session that FastAPI closed with 1008
 * "Authentication required" right after accepting is, when served, closed with 1008 right after
 * opening, whether or not the client speaks; a path with no recorded session is refused with a
 * 404 that lists the recorded paths. Recorded through wstap from a real FastAPI/uvicorn backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { loadRecording } from '../../src/recording/loader.js';
import { createReplayServer, type ReplayServer } from '../../src/replay/replay-server.js';
import { closePayload } from '../../src/wire/ws-frame.js';
import { frame, rawClient, startTestProxy, upgradeHead } from '../support/helpers.js';
import { startFastApi, type FastApiBackend } from '../support/peers/fastapi.js';
import { tmpFile } from '../support/temp.js';

let api: FastApiBackend;
let served: ReplayServer;
const file = tmpFile('fastapi.jsonl');

beforeAll(async () => {
  api = await startFastApi();
  const tp = await startTestProxy({ target: api.url, record: { file } });
  // The guide's issue 2: no token, so FastAPI accepts and then closes with 1008. The client had
  // a message on its way (it speaks after the close reached it): the recording has the server's
  // close first, then the client's message.
  const client = await rawClient(tp.port);
  client.socket.write(upgradeHead('/ws', ['Origin: http://localhost:3000']));
  await client.waitFor((all) => all.includes(Buffer.from('Authentication required')));
  client.socket.write(frame(0x1, '{"type":"hello"}', { mask: true }));
  client.socket.end(frame(0x8, closePayload(1008), { mask: true }));
  const { end } = await tp.nextEnd();
  expect(end.ws!.close).toMatchObject({ initiator: 'server', code: 1008, reason: 'Authentication required' });
  client.socket.destroy();
  await tp.close();
  const rec = loadRecording(file);
  expect(rec.sessions[0]!.messages.map((m) => `${m.from} ${m.kind}`)).toEqual(['server close', 'client text', 'client close']);
  served = await createReplayServer(rec);
}, 30_000);
afterAll(async () => {
  await served?.close();
  await api?.close();
});

function connect(path: string): { ws: WebSocket; closed: Promise<{ code: number; reason: string }> } {
  const ws = new WebSocket(`${served.url}${path}`);
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  return { ws, closed };
}

describe('wstap serve plays the recorded order', () => {
  it('a client that does not speak is closed with 1008 right after opening, as FastAPI did', async () => {
    const { closed } = connect('/ws');
    expect(await closed).toEqual({ code: 1008, reason: 'Authentication required' });
    expect(served.unexpected).toEqual([]);
  });

  it('a client that speaks first is closed with 1008 all the same (the close came before any message)', async () => {
    const { ws, closed } = connect('/ws');
    ws.once('open', () => ws.send('{"type":"ping"}'));
    expect(await closed).toMatchObject({ code: 1008, reason: 'Authentication required' });
  });

  it('a path with no recorded session is refused with a 404 that names the recorded paths', async () => {
    const ws = new WebSocket(`${served.url}/other`);
    const status = await new Promise<number>((resolve) => {
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          expect(body).toBe('wstap serve: no recorded session for /other (recorded: /ws)\n');
          resolve(res.statusCode ?? 0);
        });
      });
    });
    expect(status).toBe(404);
    ws.on('error', () => {});
    ws.terminate();
  });
});
