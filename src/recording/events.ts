/**
 * What the recorder writes, event by event: the mapping from a session's redacted views and
 * its messages to the lines of docs/recording-format.md. It writes no file (jsonl-writer.ts does).
 */
import { isUtf8 } from 'node:buffer';
import { redactText } from '../secrets/free-text.js';
import { payloadMayHoldSecret, redactPayloadText, utf8Prefix } from '../secrets/redact.js';
import type { Finding } from '../session/finding.js';
import type { WsMessage } from '../session/message.js';
import { appMessageView, maskedPayload, roundMs, type ActionView, type EndView, type HandshakeView } from '../views/views.js';
import type { ActionEvent, RecordedFinding, MessageEvent, SessionCloseEvent, SessionOpenEvent } from './format.js';
import { escapedLength, escapeInto } from './json-bytes.js';
import type { JsonlWriter } from './jsonl-writer.js';

export type PayloadMode = 'full' | 'none' | number;

export function parsePayloadMode(value: string): PayloadMode {
  if (value === 'full' || value === 'none') return value;
  const n = Number(value);
  if (Number.isInteger(n) && n >= 0) return n;
  throw new Error(`--record-payloads must be full, none or a number of bytes, not "${value}"`);
}

const recordedFindings = (fs: readonly Finding[]): RecordedFinding[] => fs.map((f) => ({ code: f.code, severity: f.severity, message: f.message }));

export function openEvent(v: HandshakeView): SessionOpenEvent {
  const open: SessionOpenEvent = {
    type: 'open',
    session: v.session,
    ts: v.startedAt,
    client: v.client,
    request: { method: v.method, path: v.path, httpVersion: v.httpVersion, headers: v.requestHeaders },
    outcome: v.outcome,
    findings: recordedFindings(v.findings),
  };
  if (v.app) open.app = v.app;
  if (v.status !== undefined) {
    open.response = { status: v.status, reason: v.reason ?? '', headers: v.responseHeaders ?? [] };
    if (v.handshakeMs !== undefined) open.handshakeMs = v.handshakeMs;
    if (v.subprotocols.chosen !== undefined) open.protocol = v.subprotocols.chosen;
    if (v.extensions.chosen !== undefined) open.extensions = v.extensions.chosen;
  }
  return open;
}

/** An action as a recording event; ts: epoch ms. */
export function actionEvent(v: ActionView, ts: number): ActionEvent {
  return { type: 'action', session: v.session, t: v.t, ts, kind: v.kind, by: v.by, to: v.to, detail: v.detail };
}

/** t: ms since the session opened; ts: epoch ms. */
export function closeEvent(v: EndView, t: number, ts: number): SessionCloseEvent {
  const e: SessionCloseEvent = {
    type: 'close',
    session: v.session,
    t,
    ts,
    endedBy: v.endedBy,
    how: v.how,
    durationMs: v.durationMs,
    findings: recordedFindings(v.findings),
  };
  if (v.how === 'shutdown') e.note = 'proxy shutdown';
  if (v.altered) e.altered = v.altered;
  if (v.app) e.app = v.app;
  if (v.close) {
    e.close = v.close;
    if (v.messages) e.messages = v.messages;
    const { requests, pings, correlation, inOrder } = v.latency ?? {};
    e.latency = {};
    if (requests) e.latency.requests = requests;
    if (pings) e.latency.pings = pings;
    if (correlation) e.latency.correlation = correlation;
    if (inOrder) e.latency.inOrder = inOrder;
  }
  return e;
}

/** A message event as an object (the slow path: a payload that may hold a secret, control frames). */
export function messageEvent(session: string, m: WsMessage, t: number, ts: number, mode: PayloadMode): MessageEvent {
  const e: MessageEvent = {
    type: 'message',
    session,
    from: m.from,
    t,
    ts,
    kind: m.kind,
    opcode: m.opcode,
    frames: m.frames,
    compressed: m.compressed,
    size: m.size,
    wireSize: m.wireSize,
  };
  if (m.closeCode !== undefined) e.closeCode = m.closeCode;
  if (m.latency && Number.isFinite(m.latency.ms)) e.latencyMs = m.latency.ms;
  if (m.app) e.app = appMessageView(m.app);
  Object.assign(e, payloadFields(m, mode));
  return e;
}

/** A message's payload as recorded: text for text (redacted, then cut), base64 for binary. */
function payloadFields(m: WsMessage, mode: PayloadMode): Pick<MessageEvent, 'text' | 'base64' | 'truncated' | 'omitted'> {
  if (mode === 'none') return m.size > 0 ? { omitted: true } : {};
  const data = m.kind === 'close' ? m.data.subarray(2) : maskedPayload(m);
  const limit = typeof mode === 'number' ? mode : Infinity;
  const out: Pick<MessageEvent, 'text' | 'base64' | 'truncated'> = {};
  let truncated = m.truncated;
  const asText = m.kind === 'text' || m.kind === 'close' || ((m.kind === 'ping' || m.kind === 'pong') && isUtf8(data));
  if (asText) {
    // A cut by the tap may end inside a character: keep whole characters only.
    const whole = m.truncated ? trimPartialUtf8(data) : data;
    // A close reason or a ping's text is free text from the wire: the full redaction step. A data
    // message gets the payload rules (JSON fields, JWTs) that the recorder's fast path also checks.
    const redact = m.kind === 'text' ? redactPayloadText : redactText;
    let text: Buffer = Buffer.from(redact(whole.toString('utf8')), 'utf8');
    if (text.length > limit) {
      text = utf8Prefix(text, limit);
      truncated = true;
    }
    out.text = text.toString('utf8');
  } else {
    const bytes = data.length > limit ? data.subarray(0, limit) : data;
    if (bytes.length < data.length || (m.kind === 'binary' && bytes.length < m.size)) truncated = true;
    if (bytes.length) out.base64 = bytes.toString('base64');
  }
  if (truncated) out.truncated = true;
  return out;
}

/** Drops an incomplete UTF-8 sequence at the end of a buffer. */
function trimPartialUtf8(buf: Buffer): Buffer {
  let i = buf.length - 1;
  let back = 0;
  while (i >= 0 && back < 4 && (buf[i]! & 0xc0) === 0x80) {
    i--;
    back++;
  }
  if (i < 0) return buf;
  const lead = buf[i]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return back + 1 < need ? buf.subarray(0, i) : buf;
}

/**
 * The payload of a text or binary message when no redaction can apply (the common case): its
 * bytes, for a line written without building a string.
 */
export function fastPayload(
  m: WsMessage,
  mode: PayloadMode,
): { field: 'text' | 'base64'; bytes: Buffer; base64Length: number; truncated: boolean } | undefined {
  if (mode === 'none' || (m.kind !== 'text' && m.kind !== 'binary')) return undefined;
  // A payload with a protocol's credential in it takes the slow path (masked there).
  if (m.app?.secrets) return undefined;
  const limit = typeof mode === 'number' ? mode : Number.POSITIVE_INFINITY;
  if (m.kind === 'binary') {
    const bytes = m.data.length > limit ? m.data.subarray(0, limit) : m.data;
    if (bytes.length === 0) return undefined;
    return { field: 'base64', bytes, base64Length: Math.ceil(bytes.length / 3) * 4, truncated: bytes.length < m.size };
  }
  // The decoder emits a whole text message only when it is valid UTF-8; a cut one is checked here.
  const whole = m.truncated ? trimPartialUtf8(m.data) : m.data;
  if ((m.truncated && !isUtf8(whole)) || payloadMayHoldSecret(whole)) return undefined;
  const bytes = utf8Prefix(whole, limit);
  return { field: 'text', bytes, base64Length: 0, truncated: m.truncated || bytes.length < whole.length };
}

/**
 * Writes a message line straight into the writer's slab: the fields of a MessageEvent, in its
 * order, without JSON.stringify. `prefix` is the line's start up to and including `"from":"...",`.
 * False when the payload needs the slow path (messageEvent).
 */
export function writeMessageLine(w: JsonlWriter, prefix: string, m: WsMessage, t: number, ts: number, mode: PayloadMode): boolean {
  const fast = fastPayload(m, mode);
  if (!fast) return false;
  let head = `${prefix}"t":${t},"ts":${ts},"kind":"${m.kind}","opcode":${m.opcode},"frames":${m.frames},"compressed":${m.compressed},"size":${m.size},"wireSize":${m.wireSize}`;
  if (m.latency && Number.isFinite(m.latency.ms)) head += `,"latencyMs":${m.latency.ms}`;
  if (m.app) head += `,"app":${JSON.stringify(appMessageView(m.app))}`;
  head += fast.field === 'text' ? ',"text":"' : ',"base64":"';
  // After the payload, as messageEvent (and the MessageEvent type) order it.
  const tail = fast.truncated ? '","truncated":true}' : '"}';
  const payload = fast.field === 'text' ? escapedLength(fast.bytes) : fast.base64Length;
  const at = w.reserve(head.length * 3 + payload + tail.length + 1);
  const slab = w.buffer;
  let end = at + slab.write(head, at, 'utf8');
  end += fast.field === 'text' ? escapeInto(fast.bytes, slab, end) : slab.write(fast.bytes.toString('base64'), end, 'latin1');
  end += slab.write(tail, end, 'latin1');
  slab[end++] = 0x0a; // \n
  w.commit(at, end);
  return true;
}

export { roundMs };
