/**
 * The shapes of wstap's log lines, made from the redacted views (views/views.ts): these
 * objects are what leaves the process.
 */
import type { AlteredCounts } from '../session/action.js';
import { phaseOf, worstSeverity, type Severity } from '../session/finding.js';
import type { Side, WsMessage } from '../session/message.js';
import { appMessageView, messagePreview, type AppMessageView, type EndView, type HandshakeView } from '../views/views.js';
import type { AppSummary } from '../session/app.js';

/** The address of a session in the live view (undefined with --no-ui). */
export type ViewLink = (session: string) => string | undefined;

/**
 * One line per upgrade; the headers only at debug level. `view`: the session's page in the live
 * view, on the line that ends a session that was not tunnelled.
 */
export type HandshakeLogEntry = { event: 'handshake'; statusLine?: string; view?: string } & Omit<
  HandshakeView,
  'requestHeaders' | 'responseHeaders'
> &
  Partial<Pick<HandshakeView, 'requestHeaders' | 'responseHeaders'>>;

/** One line per closed tunnel; its findings are those of the close (protocol errors were logged when they happened); `view`: its page. */
export type SessionEndLogEntry = { event: 'session-end'; view?: string } & EndView;

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
  /** Text (redacted, cut at 200 characters) or hex of the first bytes of binary data. */
  preview: string;
  latencyMs?: number;
  correlationKey?: string;
  closeCode?: number;
  closeReason?: string;
  /** Its meaning in the session's application protocol. */
  app?: AppMessageView;
}

/** A rejection body as long as a log line shows it. */
const BODY_CHARS = 300;

export function handshakeEntry(view: HandshakeView, withHeaders: boolean): HandshakeLogEntry {
  const { requestHeaders, responseHeaders, ...rest } = view;
  const entry: HandshakeLogEntry = { event: 'handshake', ...rest };
  if (view.status !== undefined) entry.statusLine = `${view.status} ${view.reason ?? ''}`.trim();
  if (view.body !== undefined) entry.body = view.body.slice(0, BODY_CHARS);
  if (withHeaders) {
    entry.requestHeaders = requestHeaders;
    if (responseHeaders) entry.responseHeaders = responseHeaders;
  }
  return entry;
}

export function sessionEndEntry(view: EndView): SessionEndLogEntry {
  return { event: 'session-end', ...view, findings: view.findings.filter((f) => phaseOf(f) === 'close') };
}

export function messageEntry(sessionId: string, m: WsMessage): MessageLogEntry {
  const e: MessageLogEntry = {
    event: 'message',
    session: sessionId,
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
  if (m.closeReason !== undefined) e.closeReason = e.preview;
  if (m.app) e.app = appMessageView(m.app);
  return e;
}

export function messageMessage(e: MessageLogEntry): string {
  const arrow = e.from === 'client' ? '→' : '←';
  const size = e.compressed ? `${formatBytes(e.size)} (${formatBytes(e.wireSize)} on the wire)` : formatBytes(e.size);
  const frames = e.frames > 1 ? `, ${e.frames} frames` : '';
  const lat = e.latencyMs !== undefined ? ` [${e.latencyMs} ms]` : '';
  const head = e.kind === 'close' ? `close ${e.closeCode}` : e.kind;
  if (e.app) {
    // The protocol's line first; the answer it gives, timed; the payload after it.
    const answer = e.app.packets.find((p) => p.answers)?.answers;
    const answers = answer ? ` [answers ${answer.operation} in ${answer.ms} ms]` : lat;
    return `${e.session} ${arrow} ${e.app.line}${answers} · ${size}${frames} ${e.preview}`.trimEnd();
  }
  return `${e.session} ${arrow} ${head} ${size}${frames}${lat} ${e.preview}`.trimEnd();
}

export function sessionEndLevel(e: SessionEndLogEntry): Severity {
  return worstSeverity(e.findings) ?? 'info';
}

export function handshakeLevel(v: Pick<HandshakeView, 'outcome' | 'findings'>): Severity {
  if (v.outcome === 'failed') return 'error';
  return worstSeverity(v.findings) ?? 'info';
}

export function handshakeMessage(e: HandshakeLogEntry): string {
  const req = `${e.session} ${e.method} ${e.path}`;
  switch (e.outcome) {
    case 'tunnel':
      return `${req} → ${e.statusLine} (${e.handshakeMs} ms)${e.app ? ` · ${e.app.protocol}` : ''}`;
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

/** "altered by wstap: 3 delay, 1 close". */
export function alteredText(a: AlteredCounts | undefined): string {
  if (!a) return '';
  return `altered by wstap: ${Object.entries(a)
    .map(([k, n]) => `${n} ${k}`)
    .join(', ')}`;
}

export function sessionEndMessage(e: SessionEndLogEntry): string {
  const how = e.how === 'fin' ? '' : ` (${e.how}${e.error ? `: ${e.error}` : ''})`;
  const bytes = `↑ ${formatBytes(e.bytes.clientToServer)} ↓ ${formatBytes(e.bytes.serverToClient)}${e.altered ? ` · ${alteredText(e.altered)}` : ''}`;
  const c = e.close;
  if (!c) return `${e.session} tunnel closed, ${e.endedBy} ended first${how}, after ${formatDuration(e.durationMs)} · ${bytes}`;
  const reason = c.reason ? ` "${c.reason}"` : '';
  const what =
    c.initiator === 'none'
      ? `ended without a close frame (1006, abnormal): ${e.endedBy} ${e.how === 'reset' ? 'reset' : 'closed'} the connection`
      : `closed by ${c.initiator}: ${c.code}${reason} (${c.meaning}), ${c.clean ? 'clean' : `not answered by the ${c.initiator === 'client' ? 'server' : 'client'}`}`;
  return `${e.session} ${what}, after ${formatDuration(e.durationMs)} · ${bytes}${e.app ? ` · ${appSummaryText(e.app)}` : ''}`;
}

/** "socket.io: emit echo ×12 p50 1.2 ms, connect / ×1 p50 0.8 ms (+3 more)": the busiest operations of a session. */
export function appSummaryText(a: AppSummary): string {
  const ops = a.operations.filter((o) => !o.operation.endsWith(' ping') && o.operation !== 'PINGREQ');
  const shown = ops.slice(0, 3).map((o) => {
    const p50 = o.latency ? ` p50 ${o.latency.p50} ms` : '';
    const errs = o.errors ? `, ${o.errors} failed` : '';
    const open = o.unanswered ? `, ${o.unanswered} unanswered` : '';
    return `${o.operation} ×${o.count}${p50}${errs}${open}`;
  });
  const more = ops.length > 3 ? ` (+${ops.length - 3} more)` : '';
  return `${a.protocol}${shown.length ? `: ${shown.join(', ')}${more}` : ''}`;
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
