/**
 * The pattern inspectors (src/inspect/patterns/): reconnect-loop, nothing below three
 * sessions; the count, span and period in the message; the fix follows the cause.
 */
import { describe, expect, it } from 'vitest';
import { appBeat } from '../../../src/sinks/patterns.js';
import {
  inspectHeartbeat,
  inspectIdleTimeout,
  inspectReconnectLoop,
  inspectSlowConsumer,
  suspectsFor,
  type AttemptEnd,
} from '../../../src/inspect/registry.js';

const loop = (end: AttemptEnd, count = 4, spanMs = 1500) =>
  inspectReconnectLoop({ client: '10.0.0.5, Origin http://localhost:3000, /ws', count, spanMs, end, sessions: [] });

describe('reconnect-loop', () => {
  it('needs three sessions; says the count, the span and the period', () => {
    expect(loop({ cause: 'close 1008 by the server', code: 1008 }, 2)).toBeUndefined();
    const f = loop({ cause: 'close 1008 by the server', code: 1008 }, 4, 1500)!;
    expect(f).toMatchObject({ code: 'reconnect-loop', severity: 'warn' });
    expect(f.message).toBe(
      '10.0.0.5, Origin http://localhost:3000, /ws opened 4 sessions in 1.5 s (one every 500 ms), each ended with close 1008 by the server.',
    );
  });

  it.each([
    [{ cause: 'close 1008 by the server', code: 1008 }, /fails authentication/],
    [{ cause: '401 from the backend', status: 401 }, /fails authentication/],
    [{ cause: '403 from the backend', status: 403 }, /Origin is not in the backend's allowed origins/],
    [{ cause: '404 from the backend', status: 404 }, /refuses each upgrade with 404/],
    [{ cause: 'backend unreachable (ECONNREFUSED)', error: 'ECONNREFUSED' }, /cannot be reached/],
    [{ cause: '1006 (no close frame)', code: 1006 }, /cut without a close frame.*idle timeout/],
    [{ cause: 'close 1011 by the server', code: 1011 }, /closes each session with 1011/],
    [{ cause: 'close 4000 by the server', code: 4000 }, /find why the close is sent/],
  ] as [AttemptEnd, RegExp][])('%j: the fix for that cause', (end, hint) => {
    expect(loop(end)!.hint).toMatch(hint);
  });
});

describe('idle-timeout', () => {
  it('names the usual suspects of a span, or says the value is someone’s own', () => {
    const at = (s: number) => inspectIdleTimeout({ spanMs: s * 1000, count: 3, sessions: [] })!;
    expect(inspectIdleTimeout({ spanMs: 60_000, count: 1, sessions: [] })).toBeUndefined();
    expect(at(60.4).message).toBe(
      "3 sessions ended without a close frame (or with the server's 1001) after 60 s without traffic. It matches nginx's proxy_read_timeout (60 s by default), or an AWS Application Load Balancer (idle timeout 60 s by default).",
    );
    expect(at(60.4).hint).toMatch(
      /^Send a heartbeat more often than every 60 s \(a ping every 30 s, from the server or the client\)\. Or raise the timeout: proxy_read_timeout 3600s;/,
    );
    expect(at(99).message).toContain('Cloudflare');
    expect(at(241).message).toContain('Azure Load Balancer');
    expect(at(352).message).toContain('AWS Network Load Balancer');
    expect(at(1.2).message).toContain('No common default matches: something between the client and the backend is set to about 1.2 s');
    expect(suspectsFor(80_000)).toEqual([]);
  });
});

describe('heartbeat-missed', () => {
  it('needs two unanswered pings at the end; says who stopped, and after how many', () => {
    const h = {
      pinger: 'server' as const,
      pings: 8,
      answered: 5,
      unansweredAtEnd: 3,
      intervalMs: 30_000,
      silentForMs: 95_000,
      ended: '1006 (no close frame)',
    };
    expect(inspectHeartbeat({ ...h, unansweredAtEnd: 1 })).toBeUndefined();
    const f = inspectHeartbeat(h)!;
    expect(f.message).toBe(
      'The server pinged every 30 s; the client answered 5 pongs, then none for the last 3, and the session ended 95 s after the last pong (1006 (no close frame)).',
    );
    expect(f.hint).toMatch(/^The client stopped answering pings/);
    expect(inspectHeartbeat({ ...h, pinger: 'client' })!.hint).toMatch(/^The server stopped answering the client's pings/);
  });
});

describe('slow-consumer', () => {
  it('needs two seconds of waiting; says which side, how long, how much and the rates', () => {
    const s = { reader: 'client' as const, stuckMs: 3500, queuedBytes: 3 * 1024 * 1024, senderRate: 12 * 1024 * 1024, readerRate: 512 };
    expect(inspectSlowConsumer({ ...s, stuckMs: 1500 })).toBeUndefined();
    expect(inspectSlowConsumer(s)!.message).toBe(
      "The client stopped reading: wstap's writes to it have waited 3.5 s with 3.0 MiB queued in wstap; the server sent 12.0 MiB/s, the client took 512 B/s.",
    );
    expect(inspectSlowConsumer({ ...s, reader: 'server' })!.hint).toMatch(/^The server does not read what the client sends/);
  });
});

describe('application heartbeats', () => {
  it('engine.io "2"/"3" and JSON {"type":"ping"} are recognised; the rest is not', () => {
    expect(appBeat('2')).toEqual({ beat: 'ping', via: 'Socket.IO/engine.io pings ("2")', engineIo: true });
    expect(appBeat('3')?.beat).toBe('pong');
    expect(appBeat('2probe')).toBeUndefined();
    expect(appBeat('{"type":"ping"}')?.beat).toBe('ping');
    expect(appBeat('{ "type" : "pong", "payload": 1 }')?.beat).toBe('pong');
    expect(appBeat('{"type":"pingpong"}')).toBeUndefined();
    expect(appBeat('{"type":"ping","data":{"x":1}}')).toBeUndefined();
  });
});

describe('idle-timeout and a heartbeat that races it', () => {
  it('a heartbeat as long as the timeout is named as the cause (a 60 s ping against a 60 s timeout)', () => {
    const f = inspectIdleTimeout({ spanMs: 60_100, count: 5, sessions: [], heartbeatMs: 60_000 })!;
    expect(f.message).toContain('Their heartbeat came every 60 s: not shorter than the timeout, so it races it and loses.');
    expect(inspectIdleTimeout({ spanMs: 60_100, count: 5, sessions: [], heartbeatMs: 20_000 })!.message).not.toContain('races');
  });
});
