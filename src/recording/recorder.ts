/**
 * The recording sink: writes sessions to a JSON Lines file as they happen. Secrets
 * are redacted before writing. A write error (a full disk, a file that cannot be
 * written) is reported once and stops the recording; the proxy goes on.
 */
import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import type { Logger } from 'pino';
import type { Finding } from '../finding.js';
import type { WsMessage } from '../frame.js';
import { payloadMayHoldSecret, redactChosenProtocol, redactHeaders, redactPayloadText, redactResponseHeaders, redactTarget, utf8Prefix } from '../redact.js';
import type { SessionSink } from '../session-bus.js';
import type { Session, SessionEnd } from '../session.js';
import { jsonStringBody } from './json-bytes.js';
import {
  RECORDING_FORMAT,
  RECORDING_VERSION,
  type MessageEvent,
  type RecordedFinding,
  type RecordingEvent,
  type RecordingHeader,
  type SessionCloseEvent,
  type SessionOpenEvent,
} from './format.js';

export type PayloadMode = 'full' | 'none' | number;

export interface RecorderOptions {
  file: string;
  payloads?: PayloadMode;
  /** Stop recording (with one log line) once the file would exceed this many bytes. */
  maxBytes?: number;
  target?: string;
  version: string;
  logger: Logger;
}

/** In-memory backlog beyond which a recording that cannot keep up is stopped. */
const MAX_BACKLOG = 64 * 1024 * 1024;

const LINE_END = Buffer.from('"}\n', 'latin1');

export function parsePayloadMode(value: string): PayloadMode {
  if (value === 'full' || value === 'none') return value;
  const n = Number(value);
  if (Number.isInteger(n) && n >= 0) return n;
  throw new Error(`--record-payloads must be full, none or a number of bytes, not "${value}"`);
}

const recordedFindings = (fs: readonly Finding[]): RecordedFinding[] => fs.map((f) => ({ code: f.code, severity: f.severity, message: f.message }));

/** A message's payload as recorded: text for text (redacted, then cut), base64 for binary. */
function payloadFields(m: WsMessage, mode: PayloadMode): Pick<MessageEvent, 'text' | 'base64' | 'truncated' | 'omitted'> {
  if (mode === 'none') return m.size > 0 ? { omitted: true } : {};
  const data = m.kind === 'close' ? m.data.subarray(2) : m.data;
  const limit = typeof mode === 'number' ? mode : Infinity;
  const out: Pick<MessageEvent, 'text' | 'base64' | 'truncated'> = {};
  let truncated = m.truncated;
  const asText = m.kind === 'text' || m.kind === 'close' || ((m.kind === 'ping' || m.kind === 'pong') && isUtf8(data));
  if (asText) {
    // A cut by the tap may end inside a character: keep whole characters only.
    const whole = m.truncated ? trimPartialUtf8(data) : data;
    let text: Buffer = Buffer.from(redactPayloadText(whole.toString('utf8')), 'utf8');
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

/** A session being recorded: its clocks, and the start of its message lines. */
interface OpenSession {
  t0: number;
  ts0: number;
  clientPrefix: string;
  serverPrefix: string;
}

export class Recorder implements SessionSink {
  readonly name = 'recording';
  readonly wantsFrames = true;
  /** Binary payloads as far as --record-payloads writes them. */
  readonly binaryBytes: number;
  private readonly stream: fs.WriteStream;
  private readonly opens = new Map<string, OpenSession>();
  private bytes = 0;
  private stopped = false;
  /** Lines written in this turn of the event loop, not yet handed to the file. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly payloads: PayloadMode;

  constructor(private readonly opts: RecorderOptions) {
    this.payloads = opts.payloads ?? 'full';
    this.binaryBytes = this.payloads === 'full' ? Infinity : this.payloads === 'none' ? 0 : this.payloads;
    this.stream = fs.createWriteStream(opts.file, { flags: 'w' });
    this.stream.on('error', (err: NodeJS.ErrnoException) => this.stop(this.describe(err)));
    const header: RecordingHeader = {
      type: 'header',
      format: RECORDING_FORMAT,
      version: RECORDING_VERSION,
      createdAt: new Date().toISOString(),
      wstap: opts.version,
      payloads: this.payloads,
    };
    if (opts.target) header.target = opts.target;
    this.write(header);
  }

  get active(): boolean {
    return !this.stopped;
  }

  private describe(err: NodeJS.ErrnoException): string {
    const what =
      err.code === 'ENOSPC'
        ? 'the disk is full'
        : err.code === 'EACCES' || err.code === 'EPERM'
          ? 'no permission to write it'
          : err.code === 'ENOENT'
            ? 'its folder does not exist'
            : err.code === 'EISDIR'
              ? 'it is a folder'
              : `${err.code ?? ''} ${err.message}`.trim();
    return `recording to ${this.opts.file} stopped: ${what}; proxying goes on`;
  }

  private stop(message: string, level: 'error' | 'warn' = 'error'): void {
    if (this.stopped) return;
    this.stopped = true;
    this.opts.logger[level]({ event: 'recording-stopped', file: this.opts.file, bytes: this.bytes }, message);
  }

  private write(event: RecordingEvent): void {
    if (this.stopped) return;
    this.append(Buffer.from(`${JSON.stringify(event)}\n`, 'utf8'));
  }

  private append(...parts: Buffer[]): void {
    let size = 0;
    for (const p of parts) size += p.length;
    if (this.opts.maxBytes !== undefined && this.bytes + size > this.opts.maxBytes) {
      this.stop(`recording to ${this.opts.file} stopped at ${this.bytes} bytes (--record-max-bytes ${this.opts.maxBytes}); proxying goes on`, 'warn');
      return;
    }
    if (this.stream.writableLength + this.pendingBytes > MAX_BACKLOG) {
      this.stop(`recording to ${this.opts.file} stopped: the disk does not keep up (${MAX_BACKLOG} bytes waiting); proxying goes on`);
      return;
    }
    this.bytes += size;
    const first = this.pending.length === 0;
    for (const p of parts) this.pending.push(p);
    this.pendingBytes += size;
    // Lines of one turn of the event loop go to the file in one write: a write per
    // message costs more than the message.
    if (first) setImmediate(this.writePending);
  }

  private readonly writePending = (): void => {
    if (this.pending.length === 0) return;
    const chunk = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.stream.destroyed) this.stream.write(chunk);
  };

  handshake(s: Session): void {
    const t0 = performance.now();
    const prefix = `{"type":"message","session":${JSON.stringify(s.id)},"from":`;
    this.opens.set(s.id, { t0, ts0: Date.now(), clientPrefix: `${prefix}"client",`, serverPrefix: `${prefix}"server",` });
    const hs = s.handshake;
    const open: SessionOpenEvent = {
      type: 'open',
      session: s.id,
      ts: s.startedAt,
      client: `${s.client.address}:${s.client.port}`,
      request: {
        method: hs.request.method,
        path: redactTarget(hs.request.target),
        httpVersion: hs.request.version,
        headers: redactHeaders(hs.request.headers),
      },
      outcome: s.outcome,
      findings: recordedFindings(s.findings),
    };
    const up = s.upstream;
    if (up) {
      open.response = { status: up.response.status, reason: up.response.reason, headers: redactResponseHeaders(up.response.headers, hs.offeredProtocols) };
      open.handshakeMs = Math.round(up.handshakeMs * 1000) / 1000;
      if (up.chosenProtocol !== undefined) {
        open.protocol = redactChosenProtocol(hs.offeredProtocols, up.chosenProtocol);
      }
      if (up.chosenExtensions !== undefined) open.extensions = up.chosenExtensions;
    }
    this.write(open);
    if (s.outcome !== 'tunnel') this.opens.delete(s.id);
  }

  message(s: Session, m: WsMessage): void {
    const o = this.opens.get(s.id);
    if (!o || this.stopped) return;
    const t = Math.round((m.lastByteAt - o.t0) * 1000) / 1000;
    const ts = Math.round(o.ts0 + t);
    const fast = this.payloadBytes(m);
    if (fast) {
      // The fields of a MessageEvent, in its order, without JSON.stringify: this is the
      // line written for almost every message (test/recording.test.ts reads it back).
      let head = `${m.from === 'client' ? o.clientPrefix : o.serverPrefix}"t":${t},"ts":${ts},"kind":"${m.kind}","opcode":${m.opcode},"frames":${m.frames},"compressed":${m.compressed},"size":${m.size},"wireSize":${m.wireSize}`;
      if (m.latency && Number.isFinite(m.latency.ms)) head += `,"latencyMs":${m.latency.ms}`;
      if (fast.truncated) head += ',"truncated":true';
      this.append(Buffer.from(`${head},"${fast.field}":"`, 'utf8'), fast.json, LINE_END);
      return;
    }
    const e: MessageEvent = {
      type: 'message',
      session: s.id,
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
    Object.assign(e, payloadFields(m, this.payloads));
    this.write(e);
  }

  /**
   * The payload of a text or binary message as the bytes of its JSON string, when no
   * redaction can apply: the common case, written without building a string.
   */
  private payloadBytes(m: WsMessage): { field: 'text' | 'base64'; json: Buffer; truncated: boolean } | undefined {
    const mode = this.payloads;
    if (mode === 'none' || (m.kind !== 'text' && m.kind !== 'binary')) return undefined;
    const limit = typeof mode === 'number' ? mode : Infinity;
    if (m.kind === 'binary') {
      if (m.data.length === 0) return undefined;
      const bytes = m.data.length > limit ? m.data.subarray(0, limit) : m.data;
      if (bytes.length === 0) return undefined;
      return { field: 'base64', json: Buffer.from(bytes.toString('base64'), 'latin1'), truncated: bytes.length < m.size };
    }
    const whole = m.truncated ? trimPartialUtf8(m.data) : m.data;
    if (!isUtf8(whole) || payloadMayHoldSecret(whole)) return undefined;
    const bytes = utf8Prefix(whole, limit);
    return { field: 'text', json: jsonStringBody(bytes), truncated: m.truncated || bytes.length < whole.length };
  }

  end(s: Session, end: SessionEnd): void {
    const o = this.opens.get(s.id);
    this.opens.delete(s.id);
    const t = o ? Math.round((performance.now() - o.t0) * 1000) / 1000 : end.durationMs;
    const e: SessionCloseEvent = {
      type: 'close',
      session: s.id,
      t,
      ts: Math.round((o?.ts0 ?? Date.now()) + t),
      endedBy: end.endedBy,
      how: end.how,
      durationMs: Math.round(end.durationMs * 1000) / 1000,
      findings: recordedFindings(s.findings.filter((f) => f.code.startsWith('close-') || f.code === 'protocol-error')),
    };
    if (end.how === 'shutdown') e.note = 'proxy shutdown';
    if (end.ws) {
      e.close = end.ws.close;
      e.messages = end.ws.traffic;
      const { requests, pings, correlation, inOrder } = end.ws.latency;
      e.latency = {};
      if (requests) e.latency.requests = requests;
      if (pings) e.latency.pings = pings;
      if (correlation) e.latency.correlation = correlation;
      if (inOrder) e.latency.inOrder = inOrder;
    }
    this.write(e);
  }

  /** Writes out everything and closes the file. */
  flush(): Promise<void> {
    this.writePending();
    return new Promise((resolve) => {
      if (this.stream.destroyed || this.stream.closed) return resolve();
      this.stream.end(() => resolve());
      this.stream.once('error', () => resolve());
    });
  }
}
