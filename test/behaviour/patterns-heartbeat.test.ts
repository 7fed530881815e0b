/**
 * A dead heartbeat (issue 15, part): a ws backend pings every 200 ms and terminates a client
 * that missed three pongs (the usual server-side heartbeat). A raw client that upgrades and
 * then never answers a ping dies that way, and wstap says so: the interval, the pongs missed,
 * the end. A ws client (which answers pings itself) in the same setup gets nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { PatternTracker } from '../../src/sinks/patterns.js';
import type { PatternView } from '../../src/views/views.js';
import { startWsServer } from '../support/backends.js';
import { runDeferred } from '../support/cleanup.js';
import { hasHead, openRawClient, openTestProxy, upgradeHead } from '../support/helpers.js';
import { closeClient, openClient } from '../support/recording.js';
import { sleep, until } from '../support/wait.js';

afterEach(runDeferred);

/**
 * The ws documentation's server heartbeat, with three missed pongs allowed: WebSocket pings,
 * or an application's (`app`: the ping it sends and the pong it waits for).
 */
function heartbeat(ws: WebSocket, app?: { ping: string; pong: string }): void {
  let missed = 0;
  if (app) ws.on('message', (d) => d.toString() === app.pong && (missed = 0));
  else ws.on('pong', () => (missed = 0));
  const timer = setInterval(() => {
    if (missed >= 3) {
      clearInterval(timer);
      ws.terminate();
      return;
    }
    missed++;
    if (app) ws.send(app.ping);
    else ws.ping();
  }, 200);
  ws.on('close', () => clearInterval(timer));
}

async function rig(): Promise<{ port: number; got: PatternView[]; wsUrl: (p: string) => string }> {
  const backend = await startWsServer();
  backend.wss.on('connection', (ws) => heartbeat(ws));
  const got: PatternView[] = [];
  const tp = await openTestProxy({ target: backend.url, sinks: [new PatternTracker([{ name: 'test', pattern: (p) => got.push(p) }])] });
  return { port: tp.port, got, wsUrl: (p) => tp.wsUrl(p) };
}

describe('dead heartbeats', () => {
  it('a client that never answers the server’s pings: heartbeat-missed with the interval, the pings missed and the end', async () => {
    const { port, got } = await rig();
    const raw = await openRawClient(port);
    // Like any client, it closes its side when the other side's FIN comes (the raw helper allows half-open sockets).
    raw.socket.on('end', () => raw.socket.end());
    raw.socket.write(upgradeHead('/ws'));
    await raw.waitFor(hasHead);
    const p = await until(() => got.find((x) => x.finding.code === 'heartbeat-missed'), 'the finding', { timeoutMs: 5000, seen: () => got });
    // Pings at 0.2, 0.4 and 0.6 s, terminated at 0.8 s: 0.6 s after the first ping.
    expect(p.finding.message).toMatch(
      /^The server pinged every 0\.2 s; the client answered none of 3, and the session ended 0\.[5-9] s after the first ping \(1006 \(no close frame\)\)\.$/,
    );
    expect(p.finding.hint).toMatch(/^The client stopped answering pings/);
    expect(p.sessions).toEqual(['ws-1']);
  });

  it('a ws client, which answers pings itself, gets none', async () => {
    const { got, wsUrl } = await rig();
    const c = await openClient(wsUrl('/ws'));
    await sleep(900);
    await closeClient(c);
    await sleep(100);
    expect(got).toEqual([]);
  });
});

describe('application heartbeats', () => {
  it('a JSON heartbeat ({"type":"ping"} every 200 ms, three missed {"type":"pong"} and the backend terminates): heartbeat-missed names it; a client that answers gets none', async () => {
    const backend = await startWsServer();
    backend.wss.on('connection', (ws) => heartbeat(ws, { ping: '{"type":"ping"}', pong: '{"type":"pong"}' }));
    const got: PatternView[] = [];
    const tp = await openTestProxy({ target: backend.url, sinks: [new PatternTracker([{ name: 'test', pattern: (p) => got.push(p) }])] });
    // A ws client answers WebSocket pings itself, but not the application's: it ignores them.
    const deaf = await openClient(tp.wsUrl('/deaf'));
    const answering = await openClient(tp.wsUrl('/answering'));
    answering.ws.on('message', (d) => {
      if (d.toString() === '{"type":"ping"}') answering.ws.send('{"type":"pong"}');
    });
    await deaf.closed;
    const p = await until(() => got.find((x) => x.finding.code === 'heartbeat-missed'), 'the finding', { seen: () => got });
    expect(p.finding.message).toMatch(/^The server pinged every 0\.2 s \(application pings \(\{"type":"ping"\}\)\); the client answered none of 3/);
    expect(p.sessions).toEqual(['ws-1']);
    await sleep(300);
    await closeClient(answering);
    await sleep(100);
    expect(got.filter((x) => x.sessions.includes('ws-2'))).toEqual([]);
  });
});
