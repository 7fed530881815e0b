/**
 * Application protocol tests: a sink that keeps every event of the sessions (handshakes,
 * messages with their protocol annotation, findings, ends), and ways to read what the
 * decoders made of them.
 */
import type { AppPacket } from '../../src/session/app.js';
import type { Finding } from '../../src/session/finding.js';
import type { WsMessage } from '../../src/session/message.js';
import type { Session, SessionEnd } from '../../src/session/session.js';
import type { SessionSink } from '../../src/sinks/bus.js';
import type { PatternView } from '../../src/views/views.js';
import { until } from './wait.js';

export interface AppEvents {
  sessions: Session[];
  msgs: { session: string; m: WsMessage }[];
  findings: { session: string; f: Finding }[];
  ends: Map<string, SessionEnd>;
  /** Findings about no one session (Socket.IO's long-polling reports through these). */
  patterns: PatternView[];
  sink: SessionSink;
}

export function appSink(): AppEvents {
  const ev: AppEvents = {
    sessions: [],
    msgs: [],
    findings: [],
    ends: new Map(),
    patterns: [],
    sink: {
      pattern: (p) => void ev.patterns.push(p),
      name: 'app-test',
      wantsFrames: true,
      handshake: (s) => void ev.sessions.push(s),
      message: (s, m) => void ev.msgs.push({ session: s.id, m }),
      finding: (s, f) => void ev.findings.push({ session: s.id, f }),
      end: (s, e) => void ev.ends.set(s.id, e),
    },
  };
  return ev;
}

/** Every decoded packet, in order, with its message's side. */
export function packets(ev: AppEvents, session?: string): (AppPacket & { from: WsMessage['from']; line: string })[] {
  return ev.msgs
    .filter((x) => (session === undefined || x.session === session) && x.m.app)
    .flatMap((x) => x.m.app!.packets.map((p) => ({ ...p, from: x.m.from })));
}

/** The lines the decoders wrote, in order. */
export const lines = (ev: AppEvents, session?: string): string[] =>
  ev.msgs
    .filter((x) => (session === undefined || x.session === session) && x.m.app)
    .map((x) => `${x.m.from === 'client' ? '→' : '←'} ${x.m.app!.line}`);

export async function ended(ev: AppEvents, session: string): Promise<SessionEnd> {
  await until(() => ev.ends.has(session), `the end of ${session}`, { seen: () => [...ev.ends.keys()] });
  return ev.ends.get(session)!;
}

/** The codes of the findings raised for a session. */
export const codes = (ev: AppEvents, session?: string): string[] =>
  ev.findings.filter((x) => session === undefined || x.session === session).map((x) => x.f.code);
