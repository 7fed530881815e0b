/**
 * Socket.IO's HTTP long-polling transport, decoded: each polling request's body (the
 * client's packets) and answer (the server's), read per engine.io session (sid) by the same
 * decoder as the WebSocket transport. A client refused during polling (CONNECT_ERROR from
 * the server's middleware), engine.io's own errors (Session ID unknown without sticky
 * sessions) and a session that never upgrades are findings like a 1008 on a WebSocket.
 * Also a sink: the upgrade of a polling session arrives as a WebSocket session with its sid.
 */
import { inspectEngineIoError, inspectNoUpgrade } from '../inspect/app/socketio.js';
import { SocketIoSession } from '../protocols/socketio.js';
import type { PacketDraft } from '../protocols/types.js';
import type { Finding } from '../session/finding.js';
import type { Side } from '../session/message.js';
import type { Session } from '../session/session.js';
import type { SessionSink } from '../sinks/bus.js';
import { searchParams } from '../wire/query.js';

/** Polling sessions followed at once (the oldest is forgotten past this). */
const MAX_SESSIONS = 10_000;
/** Answers read per polling session before it counts as one that never upgrades. */
const NO_UPGRADE_POLLS = 4;
/** Socket.IO's client upgrades within milliseconds of its first answer: still polling after this, it is not going to. */
export const NO_UPGRADE_AFTER_MS = 5_000;

interface PollingSession {
  readonly decoder: SocketIoSession;
  readonly openedAt: number;
  /** Answers to GETs read. */
  polls: number;
  upgraded: boolean;
  /** The server offered the websocket upgrade in its open packet. */
  offered: boolean;
  noUpgradeReported: boolean;
  /** What its decoder raised while reading the current exchange. */
  readonly raised: Finding[];
}

/** One polling request as it completed. */
export interface PollingExchange {
  readonly url: string;
  readonly method: string;
  readonly status: number;
  /** Who asked: "127.0.0.1, Origin http://localhost:3000, /socket.io/". */
  readonly who: string;
  readonly request?: Buffer;
  readonly response?: Buffer;
}

export interface PollingEvents {
  /** A finding about a polling session (reported like a pattern: it has no WebSocket session of its own). */
  finding(f: Finding, who: string): void;
  /** A decoded packet (the debug log). */
  packet(from: Side, line: string, sid: string | undefined): void;
}

export class PollingTracker implements SessionSink {
  readonly name = 'polling';
  private readonly sessions = new Map<string, PollingSession>();

  constructor(
    private readonly events: PollingEvents,
    private readonly noUpgradeAfterMs = NO_UPGRADE_AFTER_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A WebSocket upgrade that carries a polling session's sid: that session upgraded. */
  handshake(session: Session): void {
    const q = searchParams(session.handshake.request.target);
    const sid = q.get('sid');
    if (sid !== null && q.get('transport') === 'websocket') {
      const s = this.sessions.get(sid);
      if (s) s.upgraded = true;
    }
  }

  /** A polling request completed: decode both bodies; a note for the log line when it matters. */
  exchange(x: PollingExchange): string | undefined {
    if (x.status >= 400) return this.refused(x);
    let sid = searchParams(x.url).get('sid') ?? undefined;
    const open = (): PollingSession => {
      const raised: Finding[] = [];
      return {
        decoder: new SocketIoSession({ raise: (f) => raised.push(f) }, 'polling'),
        openedAt: this.now(),
        polls: 0,
        upgraded: false,
        offered: false,
        noUpgradeReported: false,
        raised,
      };
    };
    // The handshake: a GET without sid, answered with the open packet that names it.
    let s = sid !== undefined ? this.sessions.get(sid) : undefined;
    if (!s) {
      const opened = sid === undefined && x.response ? openPacket(x.response) : undefined;
      sid ??= opened?.sid;
      s = open();
      if (opened) s.offered = opened.upgrades.includes('websocket');
      if (sid !== undefined) this.keep(sid, s);
    }
    const session = s;
    const drafts: PacketDraft[] = [];
    const read = (from: Side, body: Buffer | undefined): void => {
      if (!body?.length) return;
      const packets = session.decoder.decodePolling(from, body.toString('utf8'));
      if (!packets) {
        this.events.packet(from, `engine.io polling payload not readable (${body.length} bytes)`, sid);
        return;
      }
      for (const p of packets) this.events.packet(from, p.line, sid);
      drafts.push(...packets);
    };
    read('client', x.method === 'POST' ? x.request : undefined);
    read('server', x.method === 'GET' ? x.response : undefined);
    if (x.method === 'GET') session.polls++;
    const raised = session.raised.splice(0);
    if (
      !session.upgraded &&
      !session.noUpgradeReported &&
      session.polls >= NO_UPGRADE_POLLS &&
      this.now() - session.openedAt >= this.noUpgradeAfterMs
    ) {
      session.noUpgradeReported = true;
      raised.push(inspectNoUpgrade(session.polls, Math.round((this.now() - session.openedAt) / 1000), session.offered));
    }
    for (const f of raised) this.events.finding(f, x.who);
    const refusal = drafts.find((d) => d.type === 'CONNECT_ERROR');
    if (refusal) {
      return `Socket.IO refused the connection to namespace ${refusal.name ?? '/'} during long-polling (CONNECT_ERROR "${refusal.error?.message ?? ''}"): the client reports connect_error, as after a 1008`;
    }
    return undefined;
  }

  private keep(sid: string, s: PollingSession): void {
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(sid, s);
  }

  /** engine.io's error answer: {"code":1,"message":"Session ID unknown"}. */
  private refused(x: PollingExchange): string {
    let code: number | undefined;
    let message = x.response?.toString('utf8', 0, Math.min(x.response.length, 200)) ?? '';
    try {
      const o = JSON.parse(x.response?.toString('utf8') ?? '') as { code?: unknown; message?: unknown };
      if (typeof o.code === 'number') code = o.code;
      if (typeof o.message === 'string') message = o.message;
    } catch {
      // not engine.io's JSON: its text is the message
    }
    const f = inspectEngineIoError(x.status, code, message);
    this.events.finding(f, x.who);
    return `a Socket.IO/engine.io long-polling request failed with ${x.status}: ${f.message.replace(/^engine\.io answered a polling request with \d+: /, '')}`;
  }
}

/** The open packet of a handshake answer: 0{"sid":"...","upgrades":["websocket"],...}. */
function openPacket(body: Buffer): { sid: string; upgrades: string[] } | undefined {
  const text = body.toString('utf8');
  if (!text.startsWith('0{')) return undefined;
  try {
    const end = text.indexOf('\x1e');
    const o = JSON.parse(text.slice(1, end < 0 ? undefined : end)) as { sid?: unknown; upgrades?: unknown };
    if (typeof o.sid !== 'string') return undefined;
    return { sid: o.sid, upgrades: Array.isArray(o.upgrades) ? o.upgrades.filter((u): u is string => typeof u === 'string') : [] };
  } catch {
    return undefined;
  }
}
