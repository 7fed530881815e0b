/**
 * The sessions and messages the live view and its API serve: a sink that keeps the last
 * sessions and, per session, the last messages, bounded by count and by bytes, and fans each
 * event out to subscribers (the API's event stream). It keeps references to the decoded
 * messages, so a message costs one small record here; everything it serves is made on request,
 * from the redacted views and through the recording's redaction (recording/events.ts), so only
 * redacted data ever leaves it.
 */
import type { Finding, FindingCode } from '../session/finding.js';
import type { Side, WsMessage } from '../session/message.js';
import type { Session, SessionEnd } from '../session/session.js';
import { closeEvent, fastPayload, messageEvent, openEvent } from '../recording/events.js';
import { redactDeep } from '../secrets/free-text.js';
import type { MessageEvent, SessionCloseEvent, SessionOpenEvent } from '../recording/format.js';
import {
  appMessageView,
  maskedPayload,
  roundMs,
  type ActionView,
  type AppMessageView,
  type EndView,
  type HandshakeView,
  type PatternView,
} from '../views/views.js';
import type { AppMessage, AppProtocol } from '../session/app.js';
import type { AlteredCounts, SessionAction } from '../session/action.js';
import { opcodeName } from '../wire/ws-frame.js';
import type { SessionSink } from './bus.js';

export interface HistoryOptions {
  /** Sessions kept (the oldest go first). */
  sessions?: number;
  /** Messages kept per session (the oldest go first). */
  messagesPerSession?: number;
  /** Payload bytes kept over all sessions (the oldest messages go first). */
  bytes?: number;
}

export const HISTORY_DEFAULTS: Required<HistoryOptions> = { sessions: 200, messagesPerSession: 2000, bytes: 16 * 1024 * 1024 };

/**
 * The payload bytes of every kept message, in one ring over all sessions: a message whose bytes
 * were written over is gone. That is the byte bound, at the cost of one copy per message and
 * no object per message: what a busy session keeps never reaches the garbage collector's old
 * generation. Allocated at the first payload; pages are touched as they are written.
 */
class PayloadRing {
  private buf: Buffer | undefined;
  /** Bytes ever written: a position is absolute, and valid while it is within the last `size`. */
  written = 0;

  constructor(readonly size: number) {}

  /** Copies data in; its absolute position. */
  put(data: Buffer): number {
    const n = data.length;
    const pos = this.written;
    if (n === 0) return pos;
    const buf = (this.buf ??= Buffer.allocUnsafe(this.size));
    const at = pos % this.size;
    const first = Math.min(n, this.size - at);
    // TypedArray#set: V8's own copy, without the binding call of Buffer#copy (most payloads are small).
    if (first === n) buf.set(data, at);
    else {
      buf.set(data.subarray(0, first), at);
      buf.set(data.subarray(first), 0);
    }
    this.written += n;
    return pos;
  }

  valid(pos: number): boolean {
    return pos >= this.written - this.size;
  }

  read(pos: number, n: number): Buffer {
    if (n === 0 || !this.buf) return Buffer.alloc(0);
    const at = pos % this.size;
    if (at + n <= this.size) return Buffer.from(this.buf.subarray(at, at + n));
    return Buffer.concat([this.buf.subarray(at), this.buf.subarray(0, n - (this.size - at))]);
  }
}

/** A session's kept messages: columns of numbers in a ring (grown by doubling up to the per-session limit). */
class MessageRing {
  cap = 0;
  head = 0;
  count = 0;
  /** The seq of the message at head. */
  firstSeq = 1;
  private t = new Float64Array(0);
  private size = new Float64Array(0);
  private wire = new Float64Array(0);
  private pos = new Float64Array(0);
  private len = new Uint32Array(0);
  private latency = new Float64Array(0);
  /** The seq of the message this one answers (0: none). */
  private answers = new Float64Array(0);
  /** from (bit 0), compressed (1), truncated (2), answers a ping (3), opcode (bits 8-11: the kind follows from it), close code (bits 16-31). */
  private meta = new Uint32Array(0);
  private frames = new Uint32Array(0);
  /** Bytes of its protocol annotation (JSON of an AppMessageView), kept in the payload ring right after the payload (0: none). */
  private appLen = new Uint32Array(0);

  constructor(private readonly max: number) {}

  /** Adds a message; true when the oldest was let go to make room. */
  push(m: WsMessage, t: number, pos: number, len: number, appLen: number): boolean {
    let dropped = false;
    if (this.count === this.cap) {
      if (this.cap < this.max) this.grow(Math.min(this.max, Math.max(16, this.cap * 2)));
      else {
        this.shift();
        dropped = true;
      }
    }
    const i = (this.head + this.count) % this.cap;
    this.t[i] = t;
    this.size[i] = m.size;
    this.wire[i] = m.wireSize;
    this.pos[i] = pos;
    this.len[i] = len;
    const paired = m.latency !== undefined && Number.isFinite(m.latency.ms);
    this.latency[i] = paired ? m.latency!.ms : Number.NaN;
    this.answers[i] = paired ? m.latency!.answers : 0;
    this.meta[i] =
      (m.from === 'server' ? 1 : 0) |
      (m.compressed ? 2 : 0) |
      (m.truncated ? 4 : 0) |
      (m.latency?.to === 'ping' ? 8 : 0) |
      ((m.opcode & 0xf) << 8) |
      ((m.closeCode ?? 0) << 16);
    this.frames[i] = m.frames;
    this.appLen[i] = appLen;
    this.count++;
    return dropped;
  }

  shift(): void {
    this.head = (this.head + 1) % this.cap;
    this.count--;
    this.firstSeq++;
  }

  /** The position of the payload of the k-th kept message (0: the oldest). */
  posAt(k: number): number {
    return this.pos[(this.head + k) % this.cap]!;
  }

  /** The k-th kept message, rebuilt (its payload read from the ring). */
  at(k: number, payloads: PayloadRing): { m: WsMessage; t: number; seq: number; app?: AppMessageView } {
    const i = (this.head + k) % this.cap;
    const meta = this.meta[i]!;
    const opcode = (meta >> 8) & 0xf;
    const kind = opcodeName(opcode) as WsMessage['kind'];
    const data = payloads.read(this.pos[i]!, this.len[i]!);
    const closeCode = meta >>> 16;
    const latency = this.latency[i]!;
    const m: WsMessage = {
      from: meta & 1 ? 'server' : 'client',
      kind,
      opcode,
      data,
      size: this.size[i]!,
      wireSize: this.wire[i]!,
      compressed: (meta & 2) !== 0,
      frames: this.frames[i]!,
      firstByteAt: 0,
      lastByteAt: this.t[i]!,
      truncated: (meta & 4) !== 0,
      ...(kind === 'close' && data.length >= 2 ? { closeCode, closeReason: data.toString('utf8', 2) } : {}),
      ...(Number.isNaN(latency)
        ? {}
        : { latency: { ms: latency, to: meta & 8 ? ('ping' as const) : ('request' as const), answers: this.answers[i]! } }),
    };
    const appLen = this.appLen[i]!;
    const app = appLen ? appMessageView(JSON.parse(payloads.read(this.pos[i]! + this.len[i]!, appLen).toString('utf8')) as AppMessage) : undefined;
    return { m, t: this.t[i]!, seq: this.firstSeq + k, ...(app ? { app } : {}) };
  }

  private grow(cap: number): void {
    const copy = <T extends Float64Array | Uint32Array>(old: T, make: (n: number) => T): T => {
      const out = make(cap);
      for (let k = 0; k < this.count; k++) out[k] = old[(this.head + k) % this.cap]!;
      return out;
    };
    this.t = copy(this.t, (n) => new Float64Array(n));
    this.size = copy(this.size, (n) => new Float64Array(n));
    this.wire = copy(this.wire, (n) => new Float64Array(n));
    this.pos = copy(this.pos, (n) => new Float64Array(n));
    this.latency = copy(this.latency, (n) => new Float64Array(n));
    this.answers = copy(this.answers, (n) => new Float64Array(n));
    this.len = copy(this.len, (n) => new Uint32Array(n));
    this.meta = copy(this.meta, (n) => new Uint32Array(n));
    this.frames = copy(this.frames, (n) => new Uint32Array(n));
    this.appLen = copy(this.appLen, (n) => new Uint32Array(n));
    this.head = 0;
    this.cap = cap;
  }
}

interface DirectionCount {
  messages: number;
  bytes: number;
}

interface Entry {
  readonly session: Session;
  readonly view: HandshakeView;
  readonly t0: number;
  readonly ts0: number;
  end?: EndView;
  endT?: number;
  /** Protocol findings raised while the tunnel is open (they come again with the end). */
  live: Finding[];
  ring: MessageRing | undefined;
  /** Messages let go (the per-session or the byte bound). */
  dropped: number;
  counts: Record<Side, DirectionCount>;
  /** The history's clock at this session's last message. */
  touched: number;
  /** What wstap did to it (the last ACTIONS_KEPT), and how many of each kind. */
  actions: ActionView[];
  altered: AlteredCounts | undefined;
  /** The application protocol: from the handshake, or from the first message that had one. */
  protocol: AppProtocol | undefined;
}

/** Actions kept per session (their counts are kept whole). */
const ACTIONS_KEPT = 200;

/** One row of the session list. */
export interface SessionSummary {
  id: string;
  client: string;
  method: string;
  path: string;
  origins: string[];
  status?: number;
  outcome: Session['outcome'];
  findings: { code: string; severity: Finding['severity'] }[];
  messages: Record<Side, DirectionCount>;
  open: boolean;
  openedAt: number;
  closedAt?: number;
  close?: EndView['close'];
  latency?: EndView['latency'];
  /** wstap acted on it (fault rules, the API): how many times, by kind. */
  altered?: AlteredCounts;
  /** Its application protocol (Socket.IO, GraphQL, STOMP, MQTT, JSON-RPC), once known. */
  protocol?: AppProtocol;
}

/** A session with everything the view shows of it. */
export interface SessionDetail {
  summary: SessionSummary;
  handshake: HandshakeView;
  end?: EndView;
  /** Findings raised so far while the tunnel is open. */
  liveFindings: Finding[];
  kept: { first?: number; last?: number; dropped: number };
  /** What wstap did to it, oldest first (the last 200). */
  actions: ActionView[];
}

/**
 * A kept message as the API gives it: the recording's message event, with its number in the
 * session (from 1, control frames counted) and, for an answer, the number of the request (or
 * ping) it answers.
 */
export type HistoryMessage = MessageEvent & { seq: number; answers?: number };

export type HistoryEvent =
  | { type: 'session'; session: SessionSummary }
  /** `json`: the message as the JSON text of a HistoryMessage, made once for every subscriber. */
  | { type: 'message'; session: string; seq: number; json: string }
  | { type: 'finding'; session: string; finding: Finding }
  | { type: 'end'; session: SessionSummary }
  | { type: 'action'; session: string; action: ActionView }
  | { type: 'pattern'; pattern: PatternView }
  | { type: 'evicted'; sessions: number; messages: number };

export type HistoryListener = (e: HistoryEvent) => void;

/** Whose messages a subscriber gets: every session's, one session's (its id), or none (it still gets every other event). */
export type MessageFilter = 'all' | 'none' | { session: string };

/** One finding code over the kept sessions: the live view's findings panel. */
export interface FindingGroup {
  code: FindingCode;
  severity: Finding['severity'];
  /** The newest instance's facts and fix. */
  message: string;
  hint: string;
  /** Kept sessions with this code, newest first. */
  sessions: string[];
}

/** Message counts of the sessions that had traffic since a clock reading. */
export interface Activity {
  clock: number;
  sessions: { id: string; messages: Record<Side, DirectionCount> }[];
}

function historyMessage(id: string, m: WsMessage, t: number, ts: number, seq: number, app?: AppMessageView): HistoryMessage {
  const out: HistoryMessage = { ...messageEvent(id, m, t, ts, 'full'), seq };
  if (app) out.app = app;
  if (m.latency && Number.isFinite(m.latency.ms)) out.answers = m.latency.answers;
  return out;
}

/**
 * historyMessage() as JSON text. A text or binary payload in which no secret can be (the common
 * case) is written without building the event object: a page following a busy session gets
 * every message, and this is what each one costs.
 */
export function historyMessageJson(id: string, m: WsMessage, t: number, ts: number, seq: number): string {
  const fast = fastPayload(m, 'full');
  if (!fast) return JSON.stringify(historyMessage(id, m, t, ts, seq));
  let s = `{"type":"message","session":${JSON.stringify(id)},"from":"${m.from}","t":${t},"ts":${ts},"kind":"${m.kind}","opcode":${m.opcode},"frames":${m.frames},"compressed":${m.compressed},"size":${m.size},"wireSize":${m.wireSize}`;
  if (fast.truncated) s += ',"truncated":true';
  s += fast.field === 'text' ? `,"text":${JSON.stringify(fast.bytes.toString('utf8'))}` : `,"base64":"${fast.bytes.toString('base64')}"`;
  if (m.latency && Number.isFinite(m.latency.ms)) s += `,"latencyMs":${m.latency.ms},"answers":${m.latency.answers}`;
  if (m.app) s += `,"app":${JSON.stringify(appMessageView(m.app))}`;
  return `${s},"seq":${seq}}`;
}

export class SessionHistory implements SessionSink {
  readonly name = 'live view';
  readonly wantsFrames = true;
  /**
   * The view shows binary messages as hex: their first 4 KiB. More would have the tap copy and
   * unmask whole binary payloads that nothing else reads (bulk traffic pays for every byte).
   */
  readonly binaryBytes = 4 * 1024;
  readonly limits: Required<HistoryOptions>;
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Map<HistoryListener, MessageFilter>();
  /** Subscribers that want some session's messages (a message event is built only for them). */
  private messageListeners = 0;
  /** Counts messages: what Activity is measured against. */
  private clock = 0;
  private readonly payloads: PayloadRing;
  /** A payload is kept up to this many bytes (a quarter of the ring: one message never evicts all the others). */
  private readonly payloadCap: number;
  private evictedSessions = 0;
  private evictedMessages = 0;

  constructor(opts: HistoryOptions = {}) {
    this.limits = { ...HISTORY_DEFAULTS, ...opts };
    this.payloads = new PayloadRing(this.limits.bytes);
    this.payloadCap = Math.floor(this.limits.bytes / 4);
  }

  // --- the sink ------------------------------------------------------------------------

  handshake(session: Session, view: HandshakeView): void {
    const e: Entry = {
      session,
      view,
      t0: performance.now(),
      ts0: Date.now(),
      live: [],
      ring: undefined,
      dropped: 0,
      counts: { client: { messages: 0, bytes: 0 }, server: { messages: 0, bytes: 0 } },
      touched: this.clock,
      actions: [],
      altered: undefined,
      protocol: view.app?.protocol,
    };
    this.entries.set(session.id, e);
    this.evictSessions();
    if (this.listeners.size) this.emit({ type: 'session', session: summaryOf(e) });
  }

  message(session: Session, m: WsMessage): void {
    const e = this.entries.get(session.id);
    if (!e) return;
    const c = e.counts[m.from];
    c.messages++;
    c.bytes += m.wireSize;
    e.touched = ++this.clock;
    const t = roundMs(m.lastByteAt - e.t0);
    // A credential the protocol carries is masked before it is kept.
    const payload = maskedPayload(m);
    const data = payload.length > this.payloadCap ? payload.subarray(0, this.payloadCap) : payload;
    const pos = this.payloads.put(data);
    // The protocol's annotation right behind its payload in the ring, as JSON (redacted when it is read, like the payload).
    let appLen = 0;
    if (m.app) {
      e.protocol ??= m.app.protocol;
      const bytes = Buffer.from(JSON.stringify(m.app), 'utf8');
      this.payloads.put(bytes);
      appLen = bytes.length;
    }
    const ring = (e.ring ??= new MessageRing(this.limits.messagesPerSession));
    if (ring.push(m, t, pos, data.length, appLen)) {
      e.dropped++;
      this.evictedMessages++;
    }
    if (this.messageListeners) this.emitMessage(e, m, t, ring.firstSeq + ring.count - 1);
  }

  finding(session: Session, finding: Finding): void {
    const e = this.entries.get(session.id);
    if (!e) return;
    // A protocol finding quotes the frame: it passes the redaction step like every view.
    const redacted = redactDeep(finding);
    e.live.push(redacted);
    if (this.listeners.size) this.emit({ type: 'finding', session: session.id, finding: redacted });
  }

  /** The latest report of each pattern (by code and client), the 50 most recent. */
  private readonly patterns = new Map<string, PatternView>();

  pattern(p: PatternView): void {
    const key = `${p.finding.code}\n${p.client}`;
    this.patterns.delete(key);
    this.patterns.set(key, p);
    if (this.patterns.size > 50) this.patterns.delete(this.patterns.keys().next().value as string);
    if (this.listeners.size) this.emit({ type: 'pattern', pattern: p });
  }

  action(session: Session, a: SessionAction, view: ActionView): void {
    const e = this.entries.get(session.id);
    if (!e) return;
    const counts = (e.altered ??= {});
    counts[a.kind] = (counts[a.kind] ?? 0) + 1;
    e.actions.push(view);
    if (e.actions.length > ACTIONS_KEPT) e.actions.shift();
    if (this.listeners.size) this.emit({ type: 'action', session: session.id, action: view });
  }

  end(session: Session, _end: SessionEnd, view: EndView): void {
    const e = this.entries.get(session.id);
    if (!e) return;
    e.end = view;
    e.endT = roundMs(performance.now() - e.t0);
    if (this.listeners.size) this.emit({ type: 'end', session: summaryOf(e) });
  }

  // --- bounds --------------------------------------------------------------------------

  /** Lets go of the oldest messages whose payload the ring has written over (the byte bound). */
  private trim(e: Entry): MessageRing | undefined {
    const ring = e.ring;
    if (!ring) return undefined;
    while (ring.count > 0 && !this.payloads.valid(ring.posAt(0))) {
      ring.shift();
      e.dropped++;
      this.evictedMessages++;
    }
    return ring;
  }

  private evictSessions(): void {
    let evicted = 0;
    let messages = 0;
    while (this.entries.size > this.limits.sessions) {
      const [id, e] = this.entries.entries().next().value as [string, Entry];
      messages += this.trim(e)?.count ?? 0;
      this.entries.delete(id);
      evicted++;
    }
    if (!evicted) return;
    this.evictedSessions += evicted;
    this.evictedMessages += messages;
    if (this.listeners.size) this.emit({ type: 'evicted', sessions: evicted, messages });
  }

  // --- reads (everything redacted) ------------------------------------------------------

  /** Newest first. */
  list(): { sessions: SessionSummary[]; evicted: { sessions: number; messages: number } } {
    const sessions = [...this.entries.values()].reverse().map(summaryOf);
    return { sessions, evicted: { sessions: this.evictedSessions, messages: this.evictedMessages } };
  }

  detail(id: string): SessionDetail | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    const ring = this.trim(e);
    const kept = ring && ring.count > 0 ? { first: ring.firstSeq, last: ring.firstSeq + ring.count - 1 } : {};
    return {
      summary: summaryOf(e),
      handshake: e.view,
      ...(e.end ? { end: e.end } : {}),
      liveFindings: [...e.live],
      kept: { ...kept, dropped: e.dropped },
      actions: [...e.actions],
    };
  }

  /** Kept messages after `after` (a seq), at most `limit`; undefined for an unknown session. */
  messages(id: string, after: number, limit: number): { messages: HistoryMessage[]; dropped: number; more: boolean } | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    const ring = this.trim(e);
    const out: HistoryMessage[] = [];
    if (!ring) return { messages: out, dropped: e.dropped, more: false };
    // Seqs are consecutive from the oldest kept: start at the first one after `after`.
    let k = Math.max(0, after - ring.firstSeq + 1);
    for (; k < ring.count && out.length < limit; k++) {
      const { m, t, seq, app } = ring.at(k, this.payloads);
      out.push(historyMessage(id, m, t, Math.round(e.ts0 + t), seq, app));
    }
    return { messages: out, dropped: e.dropped, more: k < ring.count };
  }

  /** The session as a recording's events (open, kept messages, close): what the .jsonl and .har downloads are made of. */
  recordingEvents(id: string): (SessionOpenEvent | MessageEvent | SessionCloseEvent)[] | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    const ring = this.trim(e);
    const out: (SessionOpenEvent | MessageEvent | SessionCloseEvent)[] = [openEvent(e.view)];
    for (let k = 0; ring && k < ring.count; k++) {
      const { m, t, app } = ring.at(k, this.payloads);
      const event = messageEvent(id, m, t, Math.round(e.ts0 + t), 'full');
      if (app) event.app = app;
      out.push(event);
    }
    if (e.end) out.push(closeEvent(e.end, e.endT ?? e.end.durationMs, Math.round(e.ts0 + (e.endT ?? e.end.durationMs))));
    return out;
  }

  // --- the event stream ----------------------------------------------------------------

  /** Every event from now on, the messages as `messages` says (all by default). */
  subscribe(listener: HistoryListener, messages: MessageFilter = 'all'): () => void {
    if (this.listeners.has(listener)) return () => {};
    this.listeners.set(listener, messages);
    if (messages !== 'none') this.messageListeners++;
    return () => {
      if (!this.listeners.delete(listener)) return;
      if (messages !== 'none') this.messageListeners--;
    };
  }

  /** The sessions whose counts changed since `clock` (a reading from an earlier call; 0 for all of them). */
  activity(since: number): Activity {
    const sessions: Activity['sessions'] = [];
    for (const e of this.entries.values()) {
      if (e.touched > since) sessions.push({ id: e.session.id, messages: { client: { ...e.counts.client }, server: { ...e.counts.server } } });
    }
    return { clock: this.clock, sessions };
  }

  /** Each finding code once over the kept sessions, errors first, then by how many sessions have it. */
  findings(): FindingGroup[] {
    const groups = new Map<string, FindingGroup>();
    for (const e of [...this.entries.values()].reverse()) {
      const seen = new Set<string>();
      for (const f of [...e.view.findings, ...(e.end ? e.end.findings : e.live)]) {
        let g = groups.get(f.code);
        if (!g) {
          g = { code: f.code, severity: f.severity, message: f.message, hint: f.hint, sessions: [] };
          groups.set(f.code, g);
        }
        if (!seen.has(f.code)) g.sessions.push(e.session.id);
        seen.add(f.code);
      }
    }
    // A pattern is about several sessions: its newest report, with its sessions (those still kept).
    for (const p of [...this.patterns.values()].reverse()) {
      const f = p.finding;
      const kept = p.sessions.filter((id) => this.entries.has(id)).reverse();
      const g = groups.get(f.code);
      if (g) g.sessions.push(...kept.filter((id) => !g.sessions.includes(id)));
      else groups.set(f.code, { code: f.code, severity: f.severity, message: f.message, hint: f.hint, sessions: kept });
    }
    const rank = { error: 0, warn: 1, info: 2 } as const;
    return [...groups.values()].sort((a, b) => rank[a.severity] - rank[b.severity] || b.sessions.length - a.sessions.length);
  }

  private emitMessage(e: Entry, m: WsMessage, t: number, seq: number): void {
    const id = e.session.id;
    let event: HistoryEvent | undefined;
    for (const [l, filter] of this.listeners) {
      if (filter === 'none' || (filter !== 'all' && filter.session !== id)) continue;
      event ??= { type: 'message', session: id, seq, json: historyMessageJson(id, m, t, Math.round(e.ts0 + t), seq) };
      try {
        l(event);
      } catch {
        // As in emit().
      }
    }
  }

  private emit(event: HistoryEvent): void {
    for (const l of this.listeners.keys()) {
      try {
        l(event);
      } catch {
        // A subscriber that fails (a closed stream) is its own business.
      }
    }
  }
}

function summaryOf(e: Entry): SessionSummary {
  const v = e.view;
  const findings = [...v.findings, ...(e.end ? e.end.findings : e.live)].map((f) => ({ code: f.code, severity: f.severity }));
  const s: SessionSummary = {
    id: v.session,
    client: v.client,
    method: v.method,
    path: v.path,
    origins: v.origins,
    outcome: v.outcome,
    findings,
    messages: { client: { ...e.counts.client }, server: { ...e.counts.server } },
    open: v.outcome === 'tunnel' && !e.end,
    openedAt: v.startedAt,
  };
  if (v.status !== undefined) s.status = v.status;
  if (e.altered) s.altered = { ...e.altered };
  if (e.protocol) s.protocol = e.protocol;
  if (e.end) {
    s.closedAt = Math.round(e.ts0 + (e.endT ?? e.end.durationMs));
    if (e.end.close) s.close = e.end.close;
    if (e.end.latency) s.latency = e.end.latency;
  }
  return s;
}
