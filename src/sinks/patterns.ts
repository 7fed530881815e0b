/**
 * Patterns across sessions (issue 15): a sink that sees each session end and follows each
 * client (its address without the port, Origin, path without the query, user agent). When a
 * client's sessions keep ending the same way in quick succession, the reconnect-loop
 * inspector names it; the finding goes to the sinks given here, once when the loop is found
 * and again as it grows (at 3, 5, 10, 20, 50, 100, ... sessions), never once per session.
 * Bounded: the most recent 1,000 clients are followed.
 */
import { IDLE_MIN, inspectHeartbeat, inspectIdleTimeout, inspectReconnectLoop, LOOP_GAP_MS, LOOP_MIN, type AttemptEnd } from '../inspect/registry.js';
import type { Side, WsMessage } from '../session/message.js';
import type { Recording } from '../recording/format.js';
import { redactDeep } from '../secrets/free-text.js';
import type { Finding } from '../session/finding.js';
import type { Session, SessionEnd } from '../session/session.js';
import type { EndView, HandshakeView, PatternView } from '../views/views.js';
import { headerValue, headerValues } from '../wire/http-head.js';

export type { PatternView };
import type { SessionSink } from './bus.js';

/** Payloads longer than this are not heartbeats. */
const MAX_BEAT = 40;

/** An application's heartbeat message, and which convention it follows. */
export interface AppBeat {
  beat: 'ping' | 'pong';
  via: string;
  /** engine.io's "2"/"3": a heartbeat only on an engine.io session (its path). */
  engineIo?: true;
}

/**
 * The well-known application heartbeats: Socket.IO's engine.io packets "2" (ping) and "3"
 * (pong), and JSON {"type":"ping"} / {"type":"pong"} (graphql-ws and many others).
 */
export function appBeat(text: string): AppBeat | undefined {
  if (text === '2') return { beat: 'ping', via: 'Socket.IO/engine.io pings ("2")', engineIo: true };
  if (text === '3') return { beat: 'pong', via: 'Socket.IO/engine.io pings ("2")', engineIo: true };
  const m = /^\{\s*"type"\s*:\s*"(ping|pong)"\s*(?:,[^{}]*)?\}$/.exec(text);
  if (m) return { beat: m[1] as 'ping' | 'pong', via: 'application pings ({"type":"ping"})' };
  return undefined;
}

/** One side's pings in a session. */
interface Beat {
  pings: number;
  /** When the first was sent. */
  firstAt: number;
  /** When the last 32 were sent (performance.now()). */
  times: number[];
  answered: number;
  /** Pings since the last pong. */
  since: number;
  lastPong: number | undefined;
}

interface Loop {
  /** Who, in words. */
  words: string;
  /** When its latest attempt started. */
  lastStart: number;
  cause: string;
  end: AttemptEnd;
  count: number;
  firstStart: number;
  lastEnd: number;
  sessions: string[];
  reported: number;
}

const CLIENTS = 1000;
const KEPT_SESSIONS = 50;

/** 3, 5, 10, 20, 50, 100, 200, 500, 1000, ...: when a growing loop is reported again. */
function milestone(n: number): boolean {
  if (n === LOOP_MIN) return true;
  for (let m = 5; m <= n; m *= 10) if (n === m || n === m * 2 || n === m * 4) return true;
  return false;
}

/** What the tracker reads of a session's handshake and of its end (a live view, or a recording's events). */
/** What the tracker keeps of an open session: a few fields, not the whole view (an idle proxy holds thousands). */
export type TrackedOpen = Pick<HandshakeView, 'client' | 'origins' | 'path' | 'outcome' | 'status' | 'error'> & { userAgent?: string };
export type TrackedEnd = Pick<EndView, 'close' | 'how' | 'durationMs'> & Partial<Pick<EndView, 'messages'>>;

/** The fields of a handshake view the tracker reads. */
function trackedOf(v: HandshakeView): TrackedOpen {
  const t: TrackedOpen = { client: v.client, origins: v.origins, path: v.path, outcome: v.outcome };
  if (v.status !== undefined) t.status = v.status;
  if (v.error) t.error = v.error;
  const ua = headerValue(v.requestHeaders, 'user-agent');
  if (ua !== undefined) t.userAgent = ua;
  return t;
}

/** The client as a key and as words: the address without its port, Origin, path without the query, user agent. */
function clientOf(v: TrackedOpen): { key: string; words: string } {
  const address = v.client.startsWith('[') ? v.client.slice(0, v.client.indexOf(']') + 1) : v.client.replace(/:\d+$/, '');
  const origin = v.origins[0];
  const path = v.path.split('?')[0] ?? v.path;
  const ua = v.userAgent ?? '';
  return { key: [address, origin ?? '', path, ua].join('\n'), words: `${address}${origin ? `, Origin ${origin}` : ', no Origin'}, ${path}` };
}

function attemptOf(v: TrackedOpen, end?: TrackedEnd): AttemptEnd {
  if (v.outcome === 'rejected') return { cause: `${v.status} from the backend`, ...(v.status !== undefined ? { status: v.status } : {}) };
  if (v.outcome === 'failed') return { cause: `backend unreachable (${v.error?.code ?? 'error'})`, error: v.error?.code ?? 'error' };
  if (v.outcome !== 'tunnel') return { cause: v.outcome };
  const c = end?.close;
  if (!c) return { cause: `the connection ended (${end?.how ?? 'unknown'}, not decoded)` };
  if (c.code === 1006) return { cause: '1006 (no close frame)', code: 1006 };
  return {
    cause: `close ${c.code} by the ${c.initiator}${c.reason ? ` "${c.reason}"` : ''}`,
    code: c.code,
    ...(c.reason ? { reason: c.reason } : {}),
  };
}

/** Idle spans are the same within this share of the span (or 250 ms). */
const IDLE_TOLERANCE = 0.1;
/** Silences shorter than this are not an idle timeout (a chatty session cut by a restart). */
const IDLE_MIN_SPAN_MS = 500;
const IDLE_KEPT = 100;

export class PatternTracker implements SessionSink {
  readonly name = 'patterns';
  /** Closes and pongs are what it reads: without decoding, every end would look like an attempt. */
  readonly wantsFrames = true;
  readonly binaryBytes = 0;
  private readonly loops = new Map<string, Loop>();
  private readonly opened = new Map<string, { view: TrackedOpen; at: number }>();
  /** The last message of each open tunnel (performance.now()), for idle spans. */
  private readonly lastActivity = new Map<string, number>();
  /** Recent sessions that ended without a close frame: how long each had been idle. */
  private readonly idle: { spanMs: number; id: string; endedAt: number; heartbeatMs?: number }[] = [];
  /** The kind of heartbeat of each open session that has an application's (engine.io, JSON). */
  private readonly via = new Map<string, Set<string>>();
  /** Pings and pongs of each open session that has any, by the side that pings. */
  private readonly beats = new Map<string, Record<Side, Beat | undefined>>();
  /** Idle clusters reported, by their rounded span: the count last reported. */
  private readonly idleReported = new Map<number, number>();

  /** `receivers`: the sinks that get the pattern findings (those with a pattern() method). */
  constructor(private readonly receivers: readonly SessionSink[]) {}

  // --- the sink: live events, on the performance.now() clock --------------------------------

  handshake(session: Session, view: HandshakeView): void {
    this.open(session.id, trackedOf(view), performance.now());
  }

  message(session: Session, m: WsMessage): void {
    this.activity(
      session.id,
      m.kind,
      m.from,
      m.lastByteAt,
      // A string is made only for a short text that starts like a heartbeat ("2", "3", "{"), not per message.
      m.kind === 'text' && m.data.length <= MAX_BEAT && (m.data[0] === 0x32 || m.data[0] === 0x33 || m.data[0] === 0x7b)
        ? appBeat(m.data.toString('latin1'))
        : undefined,
    );
  }

  end(session: Session, _end: SessionEnd, view: EndView): void {
    this.close(session.id, view);
  }

  // --- the core, on any one clock (ms): the sink above, or a recording (patternsOf) -----------

  /** A session's handshake at `at`: a tunnel is followed until it closes; any other outcome is an attempt now. */
  open(id: string, view: TrackedOpen, at: number): void {
    if (view.outcome === 'tunnel') this.opened.set(id, { view, at });
    else this.attempt(id, view, at, at);
  }

  /** A message of an open session at `at`; `app`: it is an application's heartbeat (appBeat). */
  activity(id: string, kind: WsMessage['kind'], from: Side, at: number, app?: AppBeat): void {
    this.lastActivity.set(id, at);
    // "2" and "3" are engine.io's heartbeat only on an engine.io session; elsewhere they are just small messages.
    if (app?.engineIo && !/\/socket\.io\/|[?&]EIO=/.test(this.opened.get(id)?.view.path ?? '')) app = undefined;
    // An application's heartbeat is followed apart from the WebSocket pings (a browser answers those itself).
    let key = id;
    if (app) {
      kind = app.beat;
      key = `${id}\n${app.via}`;
      const styles = this.via.get(id) ?? new Set<string>();
      styles.add(app.via);
      this.via.set(id, styles);
    }
    if (kind !== 'ping' && kind !== 'pong') return;
    let b = this.beats.get(key);
    if (!b) {
      b = { client: undefined, server: undefined };
      this.beats.set(key, b);
    }
    if (kind === 'ping') {
      const s = (b[from] ??= { pings: 0, firstAt: at, times: [], answered: 0, since: 0, lastPong: undefined });
      s.pings++;
      s.since++;
      s.times.push(at);
      if (s.times.length > 32) s.times.shift();
      return;
    }
    // A pong answers the other side's pings.
    const s = b[from === 'client' ? 'server' : 'client'];
    if (!s) return;
    s.answered++;
    s.since = 0;
    s.lastPong = at;
  }

  /** An open session's end: its connections ended `durationMs` after it opened. */
  close(id: string, view: TrackedEnd): void {
    const o = this.opened.get(id);
    if (!o) return;
    this.opened.delete(id);
    const endedAt = o.at + view.durationMs;
    const last = this.lastActivity.get(id) ?? o.at;
    this.lastActivity.delete(id);
    this.attempt(id, o.view, o.at, endedAt, view);
    const beat = this.beatInterval(id);
    this.heartbeatEnd(id, o.view, view, endedAt);
    // Cut without a close frame, or closed by the server with 1001 (going away), as some intermediaries do.
    const c = view.close;
    if (c && ((c.code === 1006 && c.initiator === 'none') || (c.code === 1001 && c.initiator === 'server')))
      this.idleEnd(id, endedAt - last, endedAt, beat);
  }

  /** A dead heartbeat in this session: a side that pinged steadily and got no pong at the end. */
  private heartbeatEnd(id: string, v: TrackedOpen, end: TrackedEnd, now: number): void {
    if (end.close?.initiator === 'wstap' || end.how === 'shutdown') {
      this.forget(id);
      return;
    }
    const styles = this.via.get(id);
    this.via.delete(id);
    this.beatEnd(id, id, 'WebSocket pings', v, end, now);
    for (const via of styles ?? []) this.beatEnd(id, `${id}\n${via}`, via, v, end, now);
  }

  private beatEnd(id: string, key: string, via: string, v: TrackedOpen, end: TrackedEnd, now: number): void {
    const b = this.beats.get(key);
    this.beats.delete(key);
    if (!b) return;
    for (const pinger of ['server', 'client'] as const) {
      const s = b[pinger];
      if (!s || s.times.length < 2) continue;
      // The other side's frames were not decoded to the end (a protocol error): its pongs may be there, unseen.
      if (end.messages?.[pinger === 'server' ? 'client' : 'server'].blind) continue;
      const gaps = s.times.slice(1).map((t, i) => t - s.times[i]!);
      gaps.sort((x, y) => x - y);
      const f = inspectHeartbeat({
        pinger,
        pings: s.pings,
        answered: s.answered,
        unansweredAtEnd: s.since,
        intervalMs: gaps[gaps.length >> 1]!,
        silentForMs: now - (s.lastPong ?? s.firstAt),
        ended: attemptOf(v, end).cause,
        via,
      });
      if (f) this.report(f, clientOf(v).words, [id]);
    }
  }

  /** Reports every loop at its count now, where it grew since its last report (the end of a recording). */
  final(): void {
    for (const loop of this.loops.values()) {
      if (loop.count < LOOP_MIN || loop.reported === loop.count) continue;
      const f = inspectReconnectLoop({
        client: loop.words,
        count: loop.count,
        spanMs: loop.lastStart - loop.firstStart,
        end: loop.end,
        sessions: loop.sessions,
      });
      if (!f) continue;
      loop.reported = loop.count;
      this.report(f, loop.words, [...loop.sessions]);
    }
  }

  /** A session cut without a close frame after `spanMs` of silence: named when others were cut after the same span. */
  private forget(id: string): void {
    this.beats.delete(id);
    for (const via of this.via.get(id) ?? []) this.beats.delete(`${id}\n${via}`);
    this.via.delete(id);
  }

  /** The median interval of the pings of a session (either side, WebSocket or application), if it had any. */
  private beatInterval(id: string): number | undefined {
    const keys = [id, ...[...(this.via.get(id) ?? [])].map((via) => `${id}\n${via}`)];
    const gaps: number[] = [];
    for (const k of keys) {
      const b = this.beats.get(k);
      for (const s of [b?.client, b?.server]) if (s) for (let i = 1; i < s.times.length; i++) gaps.push(s.times[i]! - s.times[i - 1]!);
    }
    if (!gaps.length) return undefined;
    gaps.sort((a, b) => a - b);
    return gaps[gaps.length >> 1];
  }

  private idleEnd(id: string, spanMs: number, endedAt: number, heartbeatMs?: number): void {
    if (spanMs < IDLE_MIN_SPAN_MS) return;
    this.idle.push({ spanMs, id, endedAt, ...(heartbeatMs !== undefined ? { heartbeatMs } : {}) });
    if (this.idle.length > IDLE_KEPT) this.idle.shift();
    const near = this.idle.filter((x) => Math.abs(x.spanMs - spanMs) <= Math.max(100, spanMs * IDLE_TOLERANCE));
    // Sessions cut at one moment (a restart, a network drop) are one event, not a timeout met again and again.
    const moments = new Set(near.map((x) => Math.round(x.endedAt / 200)));
    if (near.length < IDLE_MIN || moments.size < IDLE_MIN) return;
    const spans = near.map((x) => x.spanMs).sort((a, b) => a - b);
    const median = spans[spans.length >> 1]!;
    // A cluster is known by its span rounded to a second (or a tenth below 10 s).
    const key = median < 10_000 ? Math.round(median / 100) : Math.round(median / 1000) * 10;
    const count = near.length;
    if ((this.idleReported.get(key) ?? 0) >= count || !(count === IDLE_MIN || milestone(count))) return;
    this.idleReported.set(key, count);
    const beats = near.flatMap((x) => (x.heartbeatMs === undefined ? [] : [x.heartbeatMs])).sort((a, b) => a - b);
    const beat = beats.length ? beats[beats.length >> 1] : undefined;
    const f = inspectIdleTimeout({ spanMs: median, count, sessions: near.map((x) => x.id), ...(beat !== undefined ? { heartbeatMs: beat } : {}) });
    if (f) this.report(f, 'sessions cut while idle', near.map((x) => x.id).slice(-KEPT_SESSIONS));
  }

  private report(f: Finding, client: string, sessions: string[]): void {
    const p: PatternView = redactDeep({ finding: f, client, sessions, ts: Date.now() });
    for (const r of this.receivers) {
      try {
        r.pattern?.(p);
      } catch {
        // A receiver that fails is its own business (the bus reports sink failures; this is beside it).
      }
    }
  }

  private attempt(id: string, v: TrackedOpen, start: number, ended: number, end?: TrackedEnd): void {
    // A client that closed with 1000 or 1001 ended its session on purpose: short sessions, one
    // after the other, are how some applications work, not a loop.
    const c = end?.close;
    if (c && c.initiator === 'client' && (c.code === 1000 || c.code === 1001)) return;
    // wstap's own ends (its shutdown, a fault rule, the API) say nothing about the client or the backend.
    if (c?.initiator === 'wstap' || end?.how === 'shutdown' || v.error?.code === 'ESHUTDOWN') return;
    const { key, words } = clientOf(v);
    const a = attemptOf(v, end);
    let loop = this.loops.get(key);
    // An attempt joins a loop when it started after the previous one ended (sessions open side by side are tabs, not a loop).
    if (loop && (loop.cause !== a.cause || start - loop.lastEnd > LOOP_GAP_MS || start < loop.lastEnd - 50)) loop = undefined;
    if (!loop) loop = { words, lastStart: start, cause: a.cause, end: a, count: 0, firstStart: start, lastEnd: ended, sessions: [], reported: 0 };
    loop.lastStart = Math.max(loop.lastStart, start);
    loop.count++;
    loop.lastEnd = Math.max(loop.lastEnd, ended);
    loop.sessions.push(id);
    if (loop.sessions.length > KEPT_SESSIONS) loop.sessions.shift();
    // Most recent last: the oldest client goes first when there are too many.
    this.loops.delete(key);
    this.loops.set(key, loop);
    if (this.loops.size > CLIENTS) this.loops.delete(this.loops.keys().next().value as string);
    if (!milestone(loop.count) || loop.reported === loop.count) return;
    const f = inspectReconnectLoop({ client: words, count: loop.count, spanMs: start - loop.firstStart, end: loop.end, sessions: loop.sessions });
    if (!f) return;
    loop.reported = loop.count;
    this.report(f, words, [...loop.sessions]);
  }
}

/**
 * The patterns in a recording, found after the fact (`wstap report`): its sessions' opens,
 * messages and closes replayed in time order through a tracker. Slow consumers are not among
 * them: a recording has no socket buffers.
 */
export function patternsOf(rec: Recording): PatternView[] {
  const found: PatternView[] = [];
  const tracker = new PatternTracker([{ name: 'report', pattern: (p) => found.push(p) }]);
  const events: { at: number; order: number; run: () => void }[] = [];
  for (const s of rec.sessions) {
    const o = s.open;
    const failure = o.findings.find((f) => f.code.startsWith('upstream-'));
    const userAgent = headerValue(o.request.headers, 'user-agent');
    const view: TrackedOpen = {
      client: o.client,
      origins: headerValues(o.request.headers, 'origin'),
      path: o.request.path,
      outcome: o.outcome,
      ...(userAgent !== undefined ? { userAgent } : {}),
      ...(o.response ? { status: o.response.status } : {}),
      ...(failure ? { error: { code: failure.code, message: failure.message } } : {}),
    };
    events.push({ at: o.ts, order: 0, run: () => tracker.open(s.id, view, o.ts) });
    for (const m of s.messages) {
      const app = m.kind === 'text' && m.text !== undefined && m.text.length <= MAX_BEAT ? appBeat(m.text) : undefined;
      events.push({ at: o.ts + m.t, order: 1, run: () => tracker.activity(s.id, m.kind, m.from, o.ts + m.t, app) });
    }
    const c = s.close;
    if (c) {
      const end: TrackedEnd = {
        how: c.how,
        durationMs: c.durationMs,
        ...(c.close ? { close: c.close } : {}),
        ...(c.messages ? { messages: c.messages } : {}),
      };
      events.push({ at: o.ts + c.durationMs, order: 2, run: () => tracker.close(s.id, end) });
    }
  }
  events.sort((a, b) => a.at - b.at || a.order - b.order);
  for (const e of events) e.run();
  tracker.final();
  // The latest report of each pattern (a growing loop is reported again).
  const latest = new Map<string, PatternView>();
  for (const p of found) latest.set(`${p.finding.code}\n${p.client}`, p);
  return [...latest.values()];
}
