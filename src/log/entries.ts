/**
 * The shapes of wstap's log lines. Everything here is already redacted: these
 * objects are what leaves the process.
 */
import type { Credential } from '../credentials.js';
import { worstSeverity, type Finding, type Severity } from '../finding.js';
import { REDACTED, redactHeaders, redactSubprotocols, redactTarget, type LoggedHeader } from '../redact.js';
import type { Session, SessionEnd } from '../session.js';

export interface LoggedCredential {
  kind: Credential['kind'];
  name: string;
  scheme?: string;
  shape: string;
  expired?: boolean;
}

export interface HandshakeLogEntry {
  event: 'handshake';
  session: string;
  client: string;
  method: string;
  path: string;
  httpVersion: string;
  origins: string[];
  originNormalized?: true;
  credentials: LoggedCredential[];
  subprotocols: { offered: string[]; chosen?: string };
  extensions: { offered: string[]; chosen?: string };
  outcome: Session['outcome'];
  status?: number;
  statusLine?: string;
  handshakeMs?: number;
  body?: string;
  error?: { code: string; message: string };
  headSource?: 'rebuilt';
  findings: Finding[];
  requestHeaders?: LoggedHeader[];
  responseHeaders?: LoggedHeader[];
}

export interface SessionEndLogEntry {
  event: 'session-end';
  session: string;
  endedBy: SessionEnd['endedBy'];
  how: SessionEnd['how'];
  error?: string;
  durationMs: number;
  bytes: SessionEnd['bytes'];
}

/** The backend's chosen subprotocol, redacted when it is one of the offered token entries. */
function chosenProtocol(offered: readonly string[], chosen: string): string {
  const i = offered.indexOf(chosen);
  if (i < 0) return redactSubprotocols(chosen);
  return redactSubprotocols(offered.join(', ')).split(', ')[i] === REDACTED ? REDACTED : chosen;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

export function handshakeEntry(s: Session, withHeaders: boolean): HandshakeLogEntry {
  const hs = s.handshake;
  const entry: HandshakeLogEntry = {
    event: 'handshake',
    session: s.id,
    client: `${s.client.address}:${s.client.port}`,
    method: hs.request.method,
    path: redactTarget(hs.request.target),
    httpVersion: hs.request.version,
    origins: hs.origins,
    credentials: hs.credentials.map((c) => {
      const l: LoggedCredential = { kind: c.kind, name: c.name, shape: c.shape };
      if (c.scheme !== undefined) l.scheme = c.scheme;
      if (c.jwt?.expired) l.expired = true;
      return l;
    }),
    // A token subprotocol is only recognisable among its neighbours: the list is redacted as a whole.
    subprotocols: { offered: hs.offeredProtocols.length ? redactSubprotocols(hs.offeredProtocols.join(', ')).split(', ') : [] },
    extensions: { offered: hs.offeredExtensions },
    outcome: s.outcome,
    findings: s.findings,
  };
  if (s.originNormalized) entry.originNormalized = true;
  if (hs.headSource === 'rebuilt') entry.headSource = 'rebuilt';
  const up = s.upstream;
  if (up) {
    entry.status = up.response.status;
    entry.statusLine = `${up.response.status} ${up.response.reason}`.trim();
    entry.handshakeMs = round(up.handshakeMs);
    if (up.chosenProtocol !== undefined) entry.subprotocols.chosen = chosenProtocol(hs.offeredProtocols, up.chosenProtocol);
    if (up.chosenExtensions !== undefined) entry.extensions.chosen = up.chosenExtensions;
    if (up.bodyExcerpt) entry.body = up.bodyExcerpt.slice(0, 300);
    if (withHeaders) entry.responseHeaders = redactHeaders(up.response.headers);
  }
  if (s.failure) entry.error = s.failure;
  if (withHeaders) entry.requestHeaders = redactHeaders(hs.request.headers);
  return entry;
}

export function sessionEndEntry(s: Session, end: SessionEnd): SessionEndLogEntry {
  const entry: SessionEndLogEntry = {
    event: 'session-end',
    session: s.id,
    endedBy: end.endedBy,
    how: end.how,
    durationMs: round(end.durationMs),
    bytes: end.bytes,
  };
  if (end.error !== undefined) entry.error = end.error;
  return entry;
}

export function handshakeLevel(s: Session): Severity {
  if (s.outcome === 'failed') return 'error';
  return worstSeverity(s.findings) === 'info' || worstSeverity(s.findings) === undefined ? 'info' : worstSeverity(s.findings)!;
}

export function handshakeMessage(e: HandshakeLogEntry): string {
  const req = `${e.session} ${e.method} ${e.path}`;
  switch (e.outcome) {
    case 'tunnel':
      return `${req} → ${e.statusLine} (${e.handshakeMs} ms)`;
    case 'rejected':
      return `${req} → ${e.statusLine} from the backend (${e.handshakeMs} ms): not upgraded`;
    case 'failed':
      return `${req} → 502: backend unreachable (${e.error?.code})`;
    case 'invalid':
      return `${req} → 400: not a valid WebSocket upgrade`;
    case 'aborted':
      return `${req}: the client left before the backend answered`;
    default:
      return req;
  }
}

export function sessionEndMessage(e: SessionEndLogEntry): string {
  const how = e.how === 'fin' ? '' : ` (${e.how}${e.error ? `: ${e.error}` : ''})`;
  return `${e.session} tunnel closed, ${e.endedBy} ended first${how}, after ${formatDuration(e.durationMs)} · ↑ ${formatBytes(e.bytes.clientToServer)} ↓ ${formatBytes(e.bytes.serverToClient)}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatSessionEnd(e: SessionEndLogEntry): string {
  return sessionEndMessage(e);
}
