/**
 * The shapes of wstap's log lines. Everything here is already redacted: these
 * objects are what leaves the process.
 */
import type { Credential } from '../secrets/credentials.js';
import { worstSeverity, type Finding, type Severity } from '../session/finding.js';
import { redactChosenProtocol, redactHeaders, redactPayloadText, redactResponseHeaders, redactSubprotocols, redactTarget, type LoggedHeader } from '../secrets/redact.js';
import type { Session, SessionEnd } from '../session/session.js';
import type { CloseSummary, TapSummary } from '../tap/frame-tap.js';
import type { Side, WsMessage } from '../session/message.js';

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
  /** Which side ended the TCP connection first. */
  endedBy: SessionEnd['endedBy'];
  how: SessionEnd['how'];
  error?: string;
  durationMs: number;
  bytes: SessionEnd['bytes'];
  /** The WebSocket close (who sent the first close frame, its code, whether the other side answered). */
  close?: CloseSummary;
  messages?: TapSummary['traffic'];
  latency?: TapSummary['latency'];
  findings: Finding[];
}

export interface MessageLogEntry {
  event: 'message';
  session: string;
  from: Side;
  kind: WsMessage['kind'];
  size: number;
  wireSize: number;
  compressed: boolean;
  frames: number;
  truncated: boolean;
  /** Text (redacted, cut at PREVIEW_CHARS) or hex of the first bytes of binary data. */
  preview: string;
  latencyMs?: number;
  correlationKey?: string;
  closeCode?: number;
  closeReason?: string;
}

const PREVIEW_CHARS = 200;
export const PREVIEW_HEX_BYTES = 32;

export function messagePreview(m: WsMessage): string {
  if (m.kind === 'text') {
    const text = m.data.subarray(0, PREVIEW_CHARS * 4).toString('utf8');
    const cut = text.length > PREVIEW_CHARS || m.truncated || m.data.length > PREVIEW_CHARS * 4;
    return redactPayloadText(text.slice(0, PREVIEW_CHARS)) + (cut ? '…' : '');
  }
  if (m.kind === 'close') return m.closeReason === undefined ? '' : redactPayloadText(m.closeReason);
  if (m.data.length === 0) return '';
  const hex = m.data.subarray(0, PREVIEW_HEX_BYTES).toString('hex');
  return hex + (m.data.length > PREVIEW_HEX_BYTES || m.truncated ? '…' : '');
}

export function messageEntry(s: Session, m: WsMessage): MessageLogEntry {
  const e: MessageLogEntry = {
    event: 'message',
    session: s.id,
    from: m.from,
    kind: m.kind,
    size: m.size,
    wireSize: m.wireSize,
    compressed: m.compressed,
    frames: m.frames,
    truncated: m.truncated,
    preview: messagePreview(m),
  };
  if (m.latency) {
    e.latencyMs = m.latency.ms;
    if (m.latency.key !== undefined) e.correlationKey = m.latency.key;
  }
  if (m.closeCode !== undefined) e.closeCode = m.closeCode;
  if (m.closeReason !== undefined) e.closeReason = m.closeReason;
  return e;
}

export function messageMessage(e: MessageLogEntry): string {
  const arrow = e.from === 'client' ? '→' : '←';
  const size = e.compressed ? `${formatBytes(e.size)} (${formatBytes(e.wireSize)} on the wire)` : formatBytes(e.size);
  const frames = e.frames > 1 ? `, ${e.frames} frames` : '';
  const lat = e.latencyMs !== undefined ? ` [${e.latencyMs} ms]` : '';
  const head = e.kind === 'close' ? `close ${e.closeCode}` : e.kind;
  return `${e.session} ${arrow} ${head} ${size}${frames}${lat} ${e.preview}`.trimEnd();
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
    if (up.chosenProtocol !== undefined) entry.subprotocols.chosen = redactChosenProtocol(hs.offeredProtocols, up.chosenProtocol);
    if (up.chosenExtensions !== undefined) entry.extensions.chosen = up.chosenExtensions;
    if (up.bodyExcerpt) entry.body = up.bodyExcerpt.slice(0, 300);
    if (withHeaders) entry.responseHeaders = redactResponseHeaders(up.response.headers, hs.offeredProtocols);
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
    findings: s.findings.filter((f) => f.code.startsWith('close-')),
  };
  if (end.error !== undefined) entry.error = end.error;
  if (end.ws) {
    entry.close = end.ws.close;
    entry.messages = end.ws.traffic;
    entry.latency = end.ws.latency;
  }
  return entry;
}

export function sessionEndLevel(e: SessionEndLogEntry): Severity {
  return worstSeverity(e.findings) ?? 'info';
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
  const bytes = `↑ ${formatBytes(e.bytes.clientToServer)} ↓ ${formatBytes(e.bytes.serverToClient)}`;
  const c = e.close;
  if (!c) return `${e.session} tunnel closed, ${e.endedBy} ended first${how}, after ${formatDuration(e.durationMs)} · ${bytes}`;
  const reason = c.reason ? ` "${c.reason}"` : '';
  const what =
    c.initiator === 'none'
      ? `ended without a close frame (1006, abnormal): ${e.endedBy} ${e.how === 'reset' ? 'reset' : 'closed'} the connection`
      : `closed by ${c.initiator}: ${c.code}${reason} (${c.meaning}), ${c.clean ? 'clean' : `not answered by the ${c.initiator === 'client' ? 'server' : 'client'}`}`;
  return `${e.session} ${what}, after ${formatDuration(e.durationMs)} · ${bytes}`;
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


