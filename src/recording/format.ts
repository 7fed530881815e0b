/**
 * The recording format: JSON Lines, one event per line, the first line a header
 * with the format name and version. Appendable and crash-safe: every complete line
 * is a valid event on its own. docs/recording-format.md documents it.
 */
import type { AppDetection, AppSummary } from '../session/app.js';
import type { AppMessageView } from '../views/views.js';
import type { ActionKind, AlteredCounts } from '../session/action.js';
import type { Side, MessageKind } from '../session/message.js';
import type { CloseSummary, DirectionStats, Percentiles } from '../session/summary.js';
import type { FindingCode, Severity } from '../session/finding.js';
import type { SessionOutcome } from '../session/session.js';

export const RECORDING_FORMAT = 'wstap-recording';
/** The version this wstap writes. Older versions are migrated on load (loader.ts). */
export const RECORDING_VERSION = 1;

export interface RecordedHeader {
  name: string;
  value: string;
}

export interface RecordedFinding {
  code: FindingCode;
  severity: Severity;
  message: string;
}

/** First line of every recording. */
export interface RecordingHeader {
  type: 'header';
  format: typeof RECORDING_FORMAT;
  version: number;
  /** ISO time the recording started. */
  createdAt: string;
  /** wstap's version. */
  wstap: string;
  /** The proxy's target, when recorded by the proxy. */
  target?: string;
  /** 'full', 'none', or the number of bytes kept per message. */
  payloads: 'full' | 'none' | number;
}

/** A session: the upgrade request and the backend's answer. */
export interface SessionOpenEvent {
  type: 'open';
  session: string;
  /** Epoch milliseconds. */
  ts: number;
  client: string;
  request: { method: string; path: string; httpVersion: string; headers: RecordedHeader[] };
  response?: { status: number; reason: string; headers: RecordedHeader[] };
  outcome: SessionOutcome;
  /** The negotiated subprotocol and extensions. */
  protocol?: string;
  extensions?: string;
  handshakeMs?: number;
  findings: RecordedFinding[];
  /** The application protocol the handshake named (Socket.IO, GraphQL, STOMP, MQTT, JSON-RPC), and how. */
  app?: AppDetection;
}

/** One message (a data message reassembled from its frames, or a control frame). */
export interface MessageEvent {
  type: 'message';
  session: string;
  from: Side;
  /** Milliseconds since the session opened (monotonic clock: arrival of the message's last byte). */
  t: number;
  /** Epoch milliseconds. */
  ts: number;
  kind: MessageKind;
  opcode: number;
  frames: number;
  compressed: boolean;
  /** Decoded size, whole message. */
  size: number;
  /** Bytes on the wire, frame headers included. */
  wireSize: number;
  /** The payload of a text, close or (UTF-8) ping/pong message. */
  text?: string;
  /** The payload of a binary message (or a non-UTF-8 ping/pong), base64. */
  base64?: string;
  /** The payload holds only part of the message (--record-payloads, --max-message-size). */
  truncated?: true;
  /** The payload was left out (--record-payloads none). */
  omitted?: true;
  closeCode?: number;
  latencyMs?: number;
  /** What it means in the session's application protocol: the line, the packets, the operation it answers. Beside the raw payload. */
  app?: AppMessageView;
}

/** How a tunnelled session ended. */
export interface SessionCloseEvent {
  type: 'close';
  session: string;
  t: number;
  ts: number;
  /** Which side ended the TCP connection first, and how. */
  endedBy: 'client' | 'server' | 'proxy';
  how: 'fin' | 'reset' | 'error' | 'shutdown';
  /** "proxy shutdown" when wstap stopped with the session open. */
  note?: string;
  durationMs: number;
  close?: CloseSummary;
  messages?: { client: DirectionStats; server: DirectionStats };
  latency?: { requests?: Percentiles; pings?: Percentiles; correlation?: string; inOrder?: number };
  findings: RecordedFinding[];
  /** What wstap did to the session's traffic, by kind (fault rules, the API). */
  altered?: AlteredCounts;
  /** The application protocol: its packets and its operations, with their latency. */
  app?: AppSummary;
}

/** Something wstap did to a session's traffic: a fault rule that fired, a message sent or a close from the API. */
export interface ActionEvent {
  type: 'action';
  session: string;
  /** Milliseconds since the session opened. */
  t: number;
  ts: number;
  kind: ActionKind;
  /** The rule ("rule 2: delay=300ms") or "api". */
  by: string;
  to: Side | 'both';
  detail: string;
}

/** A finding about several sessions (a reconnect loop): written when found and again as it grows. */
export interface PatternEvent {
  type: 'pattern';
  ts: number;
  code: string;
  severity: 'error' | 'warn' | 'info';
  message: string;
  hint: string;
  /** Who it is about: "127.0.0.1, Origin http://localhost:3000, /ws". */
  client: string;
  /** The ids of its sessions (in this run). */
  sessions: string[];
}

export type RecordingEvent = RecordingHeader | SessionOpenEvent | MessageEvent | SessionCloseEvent | ActionEvent | PatternEvent;

/** A loaded recording, grouped by session. */
export interface Recording {
  /** The first run's header. */
  header: RecordingHeader;
  /** One header per run: a recorder appends a run to an existing file. */
  runs: RecordingHeader[];
  sessions: RecordedSession[];
  /** Problems that did not stop the load (a torn last line). */
  warnings: string[];
  /** Findings about several sessions, as written (the last of each loop is the latest count). */
  patterns?: PatternEvent[];
}

export interface RecordedSession {
  /** Unique in the file: the session id in the first run, RUN:id in later ones (2:ws-1). */
  id: string;
  /** Which run of the file (from 1). */
  run: number;
  open: SessionOpenEvent;
  messages: MessageEvent[];
  close?: SessionCloseEvent;
  /** What wstap did to it (in order). */
  actions?: ActionEvent[];
}

/** The payload of a recorded message as bytes (empty when it was omitted). */
export function payloadOf(m: Pick<MessageEvent, 'text' | 'base64'>): Buffer {
  if (m.text !== undefined) return Buffer.from(m.text, 'utf8');
  if (m.base64 !== undefined) return Buffer.from(m.base64, 'base64');
  return Buffer.alloc(0);
}
