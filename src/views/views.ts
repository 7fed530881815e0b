/**
 * One redacted view of each event, shared by every output: the log, the recording, and the
 * live view and metrics to come. A view is what leaves wstap: plain data, JSON-ready, every
 * string that could carry a secret already passed through secrets/redact.ts. The bus makes
 * each view once per event, for all sinks.
 */
import type { Credential } from '../secrets/credentials.js';
import {
  redactChosenProtocol,
  redactHeaders,
  redactPayloadText,
  redactResponseHeaders,
  redactSubprotocols,
  redactTarget,
  type LoggedHeader,
} from '../secrets/redact.js';
import { redactDeep, redactText } from '../secrets/free-text.js';
import type { AlteredCounts, SessionAction } from '../session/action.js';
import type { AppDetection, AppMessage, AppSummary } from '../session/app.js';
import type { Finding } from '../session/finding.js';
import type { WsMessage } from '../session/message.js';
import type { Session, SessionEnd } from '../session/session.js';
import type { CloseSummary, DirectionStats, LatencySummary } from '../session/summary.js';
import { hostPort } from '../wire/host-port.js';

export type HeaderView = LoggedHeader;

export interface CredentialView {
  kind: Credential['kind'];
  name: string;
  scheme?: string;
  shape: string;
  expired?: true;
}

/** A session as the backend's answer (or its absence) left it. */
export interface HandshakeView {
  session: string;
  /** address:port, IPv6 in brackets. */
  client: string;
  /** Epoch milliseconds when the request head was complete. */
  startedAt: number;
  method: string;
  /** Path and query, token-like query values redacted. */
  path: string;
  httpVersion: string;
  origins: string[];
  originNormalized?: true;
  headSource?: 'rebuilt';
  credentials: CredentialView[];
  subprotocols: { offered: string[]; chosen?: string };
  extensions: { offered: string[]; chosen?: string };
  outcome: Session['outcome'];
  status?: number;
  reason?: string;
  handshakeMs?: number;
  /** The start of a rejection's body. */
  body?: string;
  error?: { code: string; message: string };
  findings: Finding[];
  requestHeaders: HeaderView[];
  responseHeaders?: HeaderView[];
  /** The application protocol the handshake names (its subprotocol, its path, --protocol). */
  app?: AppDetection;
}

/** How a tunnel ended. */
export interface EndView {
  session: string;
  endedBy: SessionEnd['endedBy'];
  how: SessionEnd['how'];
  error?: string;
  durationMs: number;
  bytes: { clientToServer: number; serverToClient: number };
  close?: CloseSummary;
  messages?: { client: DirectionStats; server: DirectionStats };
  latency?: LatencySummary;
  /** Raised while the tunnel was open (protocol) and about its close (close). */
  findings: Finding[];
  /** What wstap did to its traffic, by kind (fault rules, the API). */
  altered?: AlteredCounts;
  /** The application protocol, its packets and its operations with their latency. */
  app?: AppSummary;
}

export const roundMs = (ms: number): number => Math.round(ms * 1000) / 1000;

export function endpointText(e: Session['client']): string {
  return hostPort(e.address, e.port);
}

export function handshakeView(s: Session): HandshakeView {
  const hs = s.handshake;
  const view: HandshakeView = {
    session: s.id,
    client: endpointText(s.client),
    startedAt: s.startedAt,
    method: hs.request.method,
    path: redactTarget(hs.request.target),
    httpVersion: hs.request.version,
    origins: [...hs.origins],
    credentials: hs.credentials.map((c) => ({
      kind: c.kind,
      name: c.name,
      shape: c.shape,
      ...(c.scheme !== undefined ? { scheme: c.scheme } : {}),
      ...(c.jwt?.expired ? { expired: true as const } : {}),
    })),
    // A token subprotocol is only recognisable among its neighbours: the list is redacted as a whole.
    subprotocols: { offered: hs.offeredProtocols.length ? redactSubprotocols(hs.offeredProtocols.join(', ')).split(', ') : [] },
    extensions: { offered: [...hs.offeredExtensions] },
    outcome: s.outcome,
    findings: [...s.findings],
    requestHeaders: redactHeaders(hs.request.headers),
  };
  if (s.originNormalized) view.originNormalized = true;
  if (s.app) view.app = { ...s.app };
  if (hs.headSource === 'rebuilt') view.headSource = 'rebuilt';
  const up = s.upstream;
  if (up) {
    view.status = up.response.status;
    view.reason = up.response.reason;
    view.handshakeMs = roundMs(up.handshakeMs);
    if (up.chosenProtocol !== undefined) view.subprotocols.chosen = redactChosenProtocol(hs.offeredProtocols, up.chosenProtocol);
    if (up.chosenExtensions !== undefined) view.extensions.chosen = up.chosenExtensions;
    if (up.bodyExcerpt) view.body = redactPayloadText(up.bodyExcerpt);
    view.responseHeaders = redactResponseHeaders(up.response.headers, hs.offeredProtocols);
  }
  if (s.failure) view.error = { code: s.failure.code, message: s.failure.message };
  // Then every string once more, for secrets in free text: a header wstap does not know by name
  // (Cf-Access-Jwt-Assertion), a rejection body, a finding that quotes the request line.
  return redactDeep(view);
}

export function endView(s: Session, end: SessionEnd): EndView {
  const view: EndView = {
    session: s.id,
    endedBy: end.endedBy,
    how: end.how,
    durationMs: roundMs(end.durationMs),
    bytes: { ...end.bytes },
    findings: [...end.findings],
  };
  if (end.error !== undefined) view.error = end.error;
  if (end.altered) view.altered = { ...end.altered };
  if (end.ws) {
    view.close = { ...end.ws.close };
    view.messages = end.ws.traffic;
    view.latency = end.ws.latency;
    if (end.ws.app) view.app = end.ws.app;
  }
  // Close reasons and the findings that quote them are free text from the wire.
  return redactDeep(view);
}

/** Bytes with the ranges that hold a credential masked ('*' over each byte): a copy only when there are some. */
export function maskSecrets(data: Buffer, ranges: readonly (readonly [number, number])[] | undefined): Buffer {
  if (!ranges?.length) return data;
  const out = Buffer.from(data);
  for (const [a, b] of ranges) if (a < out.length) out.fill(0x2a, a, Math.min(b, out.length));
  return out;
}

/** A message's payload with the credentials its protocol carries masked. */
export function maskedPayload(m: WsMessage): Buffer {
  return maskSecrets(m.data, m.app?.secrets);
}

const PREVIEW_CHARS = 200;
/** Bytes of a binary payload shown (in hex) by a preview. */
export const PREVIEW_HEX_BYTES = 32;

/** A short, redacted rendering of a message's payload: text cut at 200 characters, binary as hex of its first bytes. */
export function messagePreview(m: WsMessage): string {
  const data = maskedPayload(m);
  if (m.kind === 'text') {
    const text = data.subarray(0, PREVIEW_CHARS * 4).toString('utf8');
    const cut = text.length > PREVIEW_CHARS || m.truncated || data.length > PREVIEW_CHARS * 4;
    // Redacted before it is cut: a secret cut in two is no longer recognisable.
    return redactPayloadText(text).slice(0, PREVIEW_CHARS) + (cut ? '…' : '');
  }
  if (m.kind === 'close') return m.closeReason === undefined ? '' : redactText(m.closeReason);
  if (data.length === 0) return '';
  const hex = data.subarray(0, PREVIEW_HEX_BYTES).toString('hex');
  return hex + (data.length > PREVIEW_HEX_BYTES || m.truncated ? '…' : '');
}

/** An action as it leaves wstap: what it did says no payload, and the rule's text passes the redaction step. */
export interface ActionView {
  session: string;
  kind: SessionAction['kind'];
  by: string;
  to: SessionAction['to'];
  /** Milliseconds since the session opened. */
  t: number;
  detail: string;
}

export function actionView(s: Session, a: SessionAction): ActionView {
  return { session: s.id, kind: a.kind, by: redactText(a.by), to: a.to, t: roundMs(a.t), detail: redactText(a.detail) };
}

/** A finding about several sessions, as it leaves wstap (redacted). */
export interface PatternView {
  finding: Finding;
  /** Who the pattern is about, e.g. "127.0.0.1, Origin http://localhost:3000, /ws". */
  client: string;
  /** Its sessions, oldest first (the last 50). */
  sessions: string[];
  /** Epoch ms. */
  ts: number;
}

/** A message's meaning in its protocol, as it leaves wstap: the line and the packets' names pass the redaction step. */
export interface AppMessageView {
  protocol: AppMessage['protocol'];
  line: string;
  packets: {
    type: string;
    name?: string;
    id?: string;
    error?: { code?: string | number; message: string };
    answers?: { operation: string; ms: number; seq: number };
  }[];
}

export function appMessageView(app: AppMessage): AppMessageView {
  return {
    protocol: app.protocol,
    line: redactText(app.line),
    packets: app.packets.map((p) => {
      const v: AppMessageView['packets'][number] = { type: p.type };
      if (p.name !== undefined) v.name = redactText(p.name);
      if (p.id !== undefined) v.id = p.id;
      if (p.error) v.error = { ...(p.error.code !== undefined ? { code: p.error.code } : {}), message: redactText(p.error.message) };
      if (p.answers) v.answers = { operation: redactText(p.answers.operation), ms: p.answers.ms, seq: p.answers.seq };
      return v;
    }),
  };
}
