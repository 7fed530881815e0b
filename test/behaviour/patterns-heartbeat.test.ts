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
import { hasHead, openRawClient, openTestProxy, upgradeHead, type TestProxy } from '../support/helpers.js';
import { closeClient, openClient } from '../support/recording.js';
import { until } from '../support/wait.js';

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

async function rig(): Promise<{ port: number; got: PatternView[]; wsUrl: (p: string) => string; tp: TestProxy }> {
  const backend = await startWsServer();
  backend.wss.on('connection', (ws) => heartbeat(ws));
  const got: PatternView[] = [];
  const tp = await openTestProxy({ target: backend.url, sinks: [new PatternTracker([{ name: 'test', pattern: (p) => got.push(p) }])] });
  return { port: tp.port, got, wsUrl: (p) => tp.wsUrl(p), tp };
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
    // Pings at 0.2, 0.4 and 0.6 s, terminated at 0.8 s: 0.6 s after the first ping (later on a loaded machine, whose timers fire late).
    expect(p.finding.message).toMatch(
      /^The server pinged every 0\.2 s; the client answered none of 3, and the session ended (0\.[5-9]|1\.[0-9]) s after the first ping \(1006 \(no close frame\)\)\.$/,
    );
    expect(p.finding.hint).toMatch(/^The client stopped answering pings/);
    expect(p.sessions).toEqual(['ws-1']);
  });

  it('a ws client, which answers pings itself, gets none', async () => {
    const { got, wsUrl, tp } = await rig();
    const c = await openClient(wsUrl('/ws'));
    let pings = 0;
    c.ws.on('ping', () => pings++);
    // Five pings (a second of heartbeats): past the fourth, where a client that answers none is terminated.
    await until(() => pings >= 5, 'five pings from the server', { seen: () => `${pings} pings` });
    await closeClient(c);
    // The tracker takes the end in the same call as the test's capture (the bus is synchronous).
    await tp.nextEnd();
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
    let answered = 0;
    answering.ws.on('message', (d) => {
      if (d.toString() !== '{"type":"ping"}') return;
      answering.ws.send('{"type":"pong"}');
      answered++;
    });
    await deaf.closed;
    const p = await until(() => got.find((x) => x.finding.code === 'heartbeat-missed'), 'the finding', { seen: () => got });
    expect(p.finding.message).toMatch(/^The server pinged every 0\.2 s \(application pings \(\{"type":"ping"\}\)\); the client answered none of 3/);
    expect(p.sessions).toEqual(['ws-1']);
    // The answering client goes on past the deaf one's end: two more pings answered.
    const before = answered;
    await until(() => answered >= before + 2, 'two more application pings answered', { seen: () => `${answered - before} more` });
    await closeClient(answering);
    await until(() => tp.ends.some((e) => e.session.id === 'ws-2'), 'the end of the answering session', {
      seen: () => tp.ends.map((e) => e.session.id),
    });
    expect(got.filter((x) => x.sessions.includes('ws-2'))).toEqual([]);
  });
});
