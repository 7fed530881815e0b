/**
 * The SessionBus (src/sinks/bus.ts) on its own, with real sinks: each event fans out to every
 * sink that takes it; a sink that throws (or rejects, in flush) is reported once and switched
 * off while the others still get that event and the later ones; each event's redacted view is
 * made once and the same object goes to every sink; wantsFrames and binaryBytes follow the
 * sinks that are still on.
 */
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../src/session/finding.js';
import type { WsMessage } from '../../../src/session/message.js';
import type { Session, SessionEnd } from '../../../src/session/session.js';
import { SessionBus, type SessionSink } from '../../../src/sinks/bus.js';
import { endView, handshakeView, type EndView, type HandshakeView } from '../../../src/views/views.js';
import { parseRequestHead } from '../../../src/wire/http-head.js';
import { upgradeHead } from '../../support/helpers.js';

// --- events ------------------------------------------------------------------------------

function session(id = 'ws-1'): Session {
  return {
    id,
    client: { address: '127.0.0.1', port: 50_000 },
    target: 'http://127.0.0.1:8000',
    startedAt: 1_700_000_000_000,
    handshake: {
      request: parseRequestHead(Buffer.from(upgradeHead('/ws?token=not-a-real-secret', ['Origin: http://localhost:3000']), 'latin1')),
      headSource: 'wire',
      origins: ['http://localhost:3000'],
      credentials: [],
      offeredProtocols: [],
      offeredExtensions: [],
    },
    findings: [],
    originNormalized: false,
    outcome: 'tunnel',
  };
}

const END: SessionEnd = { endedBy: 'client', how: 'fin', durationMs: 12.34567, bytes: { clientToServer: 10, serverToClient: 20 }, findings: [] };

function message(text = 'hello'): WsMessage {
  const data = Buffer.from(text);
  return {
    from: 'client',
    kind: 'text',
    opcode: 1,
    data,
    size: data.length,
    wireSize: data.length + 6,
    compressed: false,
    frames: 1,
    firstByteAt: 1,
    lastByteAt: 2,
    truncated: false,
  };
}

const FINDING: Finding = {
  code: 'protocol-error',
  severity: 'error',
  message: 'The client sent an unmasked frame.',
  hint: 'Mask every client frame.',
  rule: 'unmasked-client-frame',
};

type EventName = 'handshake' | 'message' | 'finding' | 'end' | 'flush';
const EVENTS: EventName[] = ['handshake', 'message', 'finding', 'end', 'flush'];

/** Sends one event of each kind, in order, through the bus. */
async function sendAll(bus: SessionBus, s: Session = session()): Promise<void> {
  bus.handshake(s);
  bus.message(s, message());
  bus.finding(s, FINDING);
  bus.end(s, END);
  await bus.flush();
}

// --- sinks -------------------------------------------------------------------------------

interface Recorded {
  sink: SessionSink;
  /** Every call, in order: the event's name and its session id. */
  calls: string[];
  handshakeViews: HandshakeView[];
  endViews: EndView[];
}

/** A sink that records every call; it throws (or rejects, for flush) on `failOn`. */
function recording(name: string, opts: { failOn?: EventName; wantsFrames?: boolean; binaryBytes?: number } = {}): Recorded {
  const calls: string[] = [];
  const handshakeViews: HandshakeView[] = [];
  const endViews: EndView[] = [];
  const fail = (event: EventName): void => {
    if (opts.failOn === event) throw new Error(`${name} fails in ${event}`);
  };
  const sink: SessionSink = {
    name,
    ...(opts.wantsFrames !== undefined ? { wantsFrames: opts.wantsFrames } : {}),
    ...(opts.binaryBytes !== undefined ? { binaryBytes: opts.binaryBytes } : {}),
    handshake: (s, view) => {
      calls.push(`handshake ${s.id}`);
      handshakeViews.push(view);
      fail('handshake');
    },
    message: (s) => {
      calls.push(`message ${s.id}`);
      fail('message');
    },
    finding: (s) => {
      calls.push(`finding ${s.id}`);
      fail('finding');
    },
    end: (s, _end, view) => {
      calls.push(`end ${s.id}`);
      endViews.push(view);
      fail('end');
    },
    flush: async () => {
      calls.push('flush');
      await new Promise((r) => setImmediate(r));
      fail('flush');
    },
  };
  return { sink, calls, handshakeViews, endViews };
}

/** A bus over these sinks whose failure reports are collected. */
function busOf(...sinks: SessionSink[]): { bus: SessionBus; failures: { sink: string; error: unknown }[] } {
  const failures: { sink: string; error: unknown }[] = [];
  return { bus: new SessionBus(sinks, (sink, error) => failures.push({ sink, error })), failures };
}

const ALL_CALLS = (id: string): string[] => [`handshake ${id}`, `message ${id}`, `finding ${id}`, `end ${id}`, 'flush'];

// --- tests -------------------------------------------------------------------------------

describe('SessionBus: a sink that throws', () => {
  it.each(EVENTS)('in %s: reported once and switched off; the sinks before and after it get that event and every later one', async (event) => {
    const before = recording('before');
    const failing = recording('failing', { failOn: event });
    const after = recording('after');
    const { bus, failures } = busOf(before.sink, failing.sink, after.sink);

    await sendAll(bus, session('ws-1'));
    await sendAll(bus, session('ws-2'));

    // One report, naming the sink and carrying its error.
    expect(failures).toHaveLength(1);
    expect(failures[0]!.sink).toBe('failing');
    expect((failures[0]!.error as Error).message).toBe(`failing fails in ${event}`);
    // The failing sink got everything up to and including the event it failed in, nothing after.
    const failedAt = ALL_CALLS('ws-1').indexOf(event === 'flush' ? 'flush' : `${event} ws-1`);
    expect(failing.calls).toEqual(ALL_CALLS('ws-1').slice(0, failedAt + 1));
    // The others got that event and every later one, in order.
    for (const other of [before, after]) expect(other.calls).toEqual([...ALL_CALLS('ws-1'), ...ALL_CALLS('ws-2')]);
  });

  it('a flush that rejects is reported once; the sinks after it are still flushed, in order', async () => {
    const order: string[] = [];
    const first: SessionSink = { name: 'first', flush: async () => void order.push('first') };
    const rejecting: SessionSink = {
      name: 'rejecting',
      flush: async () => {
        order.push('rejecting');
        throw new Error('disk gone');
      },
    };
    const last: SessionSink = { name: 'last', flush: () => void order.push('last') };
    const { bus, failures } = busOf(first, rejecting, last);
    await bus.flush();
    await bus.flush();
    expect(order).toEqual(['first', 'rejecting', 'last', 'first', 'last']);
    expect(failures.map((f) => [f.sink, (f.error as Error).message])).toEqual([['rejecting', 'disk gone']]);
  });

  it('a failure reporter that throws itself changes nothing: the sink is still switched off, the others still served', async () => {
    const failing = recording('failing', { failOn: 'message' });
    const other = recording('other');
    let reports = 0;
    const bus = new SessionBus([failing.sink, other.sink], () => {
      reports++;
      throw new Error('the reporter fails too');
    });
    await sendAll(bus);
    bus.message(session(), message());
    expect(reports).toBe(1);
    expect(failing.calls).toEqual(['handshake ws-1', 'message ws-1']);
    expect(other.calls).toEqual([...ALL_CALLS('ws-1'), 'message ws-1']);
  });

  it('sinks without a handler for an event are skipped, and the bus keeps its own copy of the list', async () => {
    const sinks: SessionSink[] = [{ name: 'empty' }];
    const late = recording('late');
    const { bus, failures } = busOf(...sinks);
    sinks.push(late.sink);
    await sendAll(bus);
    expect(late.calls).toEqual([]);
    expect(failures).toEqual([]);
  });
});

describe('SessionBus: views', () => {
  it('a handshake view is made once per event: every sink gets the same object, the next event a new one', () => {
    const a = recording('a');
    const b = recording('b');
    const c = recording('c');
    const { bus } = busOf(a.sink, b.sink, c.sink);
    const s1 = session('ws-1');
    const s2 = session('ws-2');
    bus.handshake(s1);
    bus.handshake(s2);
    expect(a.handshakeViews).toHaveLength(2);
    for (const i of [0, 1]) {
      expect(b.handshakeViews[i]).toBe(a.handshakeViews[i]);
      expect(c.handshakeViews[i]).toBe(a.handshakeViews[i]);
    }
    expect(a.handshakeViews[1]).not.toBe(a.handshakeViews[0]);
    // The view is the redacted one.
    expect(a.handshakeViews[0]).toEqual(handshakeView(s1));
    expect(a.handshakeViews[0]!.path).toBe('/ws?token=[redacted]');
    expect(a.handshakeViews[1]!.session).toBe('ws-2');
  });

  it('an end view is made once per event and shared, past a sink that fails on it', () => {
    const failing = recording('failing', { failOn: 'end' });
    const b = recording('b');
    const { bus } = busOf(failing.sink, b.sink);
    const s = session();
    bus.end(s, END);
    expect(failing.endViews).toHaveLength(1);
    expect(b.endViews[0]).toBe(failing.endViews[0]);
    expect(b.endViews[0]).toEqual(endView(s, END));
    expect(b.endViews[0]!.durationMs).toBe(12.346);
    bus.end(s, END);
    expect(b.endViews).toHaveLength(2);
    expect(b.endViews[1]).not.toBe(b.endViews[0]);
  });

  it('the same message and finding objects go to every sink', () => {
    const got: [string, unknown][] = [];
    const sink = (name: string): SessionSink => ({
      name,
      message: (_s, m) => void got.push([name, m]),
      finding: (_s, f) => void got.push([name, f]),
    });
    const { bus } = busOf(sink('a'), sink('b'));
    const m = message();
    bus.message(session(), m);
    bus.finding(session(), FINDING);
    expect(got.map(([n]) => n)).toEqual(['a', 'b', 'a', 'b']);
    expect(got[0]![1]).toBe(m);
    expect(got[1]![1]).toBe(m);
    expect(got[2]![1]).toBe(FINDING);
    expect(got[3]![1]).toBe(FINDING);
  });
});

describe('SessionBus: wantsFrames and binaryBytes', () => {
  it('with no sinks: no frames wanted, no binary bytes kept', () => {
    const { bus } = busOf();
    expect(bus.wantsFrames).toBe(false);
    expect(bus.binaryBytes).toBe(0);
  });

  it('wantsFrames is true while a sink that wants frames is on, and false once it is switched off', () => {
    const frames = recording('frames', { wantsFrames: true, failOn: 'message' });
    const log = recording('log', { wantsFrames: false });
    const { bus } = busOf(log.sink, frames.sink);
    expect(bus.wantsFrames).toBe(true);
    bus.message(session(), message());
    expect(bus.wantsFrames).toBe(false);
  });

  it('binaryBytes is the most any enabled sink with a message handler reads; no limit means all of it', () => {
    const small = recording('small', { binaryBytes: 48 });
    const large = recording('large', { binaryBytes: 100, failOn: 'finding' });
    const noMessages: SessionSink = { name: 'no-messages', binaryBytes: 10_000 };
    const { bus } = busOf(small.sink, large.sink, noMessages);
    expect(bus.binaryBytes).toBe(100);
    bus.finding(session(), FINDING);
    // 'large' is off: only 'small' reads binary payloads now; a sink without message() never counts.
    expect(bus.binaryBytes).toBe(48);

    const all = recording('all', { failOn: 'end' });
    const { bus: withAll } = busOf(small.sink, all.sink);
    expect(withAll.binaryBytes).toBe(Number.POSITIVE_INFINITY);
    withAll.end(session(), END);
    expect(withAll.binaryBytes).toBe(48);
  });
});
