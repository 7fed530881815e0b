/**
 * The recording sink: writes sessions to a JSON Lines file as they happen. Secrets
 * are redacted before writing. A write error (a full disk, a file that cannot be
 * written) is reported once and stops the recording; the proxy goes on.
 */
import fs from 'node:fs';
import { isUtf8 } from 'node:buffer';
import type { Logger } from 'pino';
import type { Finding } from '../session/finding.js';
import type { WsMessage } from '../session/message.js';
import { payloadMayHoldSecret, redactChosenProtocol, redactHeaders, redactPayloadText, redactResponseHeaders, redactTarget, utf8Prefix } from '../secrets/redact.js';
import type { SessionSink } from './bus.js';
import type { Session, SessionEnd } from '../session/session.js';
import { escapedLength, escapeInto } from '../recording/json-bytes.js';
import {
  RECORDING_FORMAT,
  RECORDING_VERSION,
  type MessageEvent,
  type RecordedFinding,
  type RecordingEvent,
  type RecordingHeader,
  type SessionCloseEvent,
  type SessionOpenEvent,
} from '../recording/format.js';

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

/** The slab lines are written to, and the room below which a new one is started. */
const SLAB_SIZE = 256 * 1024;
const SLAB_MIN_ROOM = 16 * 1024;

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
  /** Lines are written here; [slabStart, slabEnd) is what this turn of the event loop wrote. */
  private slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
  private slabStart = 0;
  private slabEnd = 0;
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
    const line = `${JSON.stringify(event)}\n`;
    const at = this.reserve(line.length * 3);
    this.commit(at, at + this.slab.write(line, at, 'utf8'));
  }

  /**
   * Room for a line of at most n bytes in the slab; returns where it starts. Lines are
   * written straight into the slab, and each turn of the event loop hands what it wrote to
   * the file as one slice of it: no buffer per line, no concatenation, one write.
   */
  private reserve(n: number): number {
    if (this.slab.length - this.slabEnd < n) {
      this.handOff();
      if (this.slab.length - this.slabEnd < n) {
        this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, n));
        this.slabStart = this.slabEnd = 0;
      }
    }
    return this.slabEnd;
  }

  /** Keeps slab[at, end) as the next line, or drops it when a limit says stop. */
  private commit(at: number, end: number): void {
    const size = end - at;
    if (this.opts.maxBytes !== undefined && this.bytes + size > this.opts.maxBytes) {
      this.stop(`recording to ${this.opts.file} stopped at ${this.bytes} bytes (--record-max-bytes ${this.opts.maxBytes}); proxying goes on`, 'warn');
      return;
    }
    if (this.stream.writableLength + (at - this.slabStart) > MAX_BACKLOG) {
      this.stop(`recording to ${this.opts.file} stopped: the disk does not keep up (${MAX_BACKLOG} bytes waiting); proxying goes on`);
      return;
    }
    this.bytes += size;
    const first = this.slabEnd === this.slabStart;
    this.slabEnd = end;
    if (first) setImmediate(this.handOff);
  }

  /** Hands the lines written since the last hand-off to the file (the stream keeps that slice; later lines go after it). */
  private readonly handOff = (): void => {
    if (this.slabEnd > this.slabStart) {
      const chunk = this.slab.subarray(this.slabStart, this.slabEnd);
      this.slabStart = this.slabEnd;
      if (!this.stream.destroyed) this.stream.write(chunk);
    }
    if (this.slab.length - this.slabEnd < SLAB_MIN_ROOM) {
      this.slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
      this.slabStart = this.slabEnd = 0;
    }
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
      head += fast.field === 'text' ? ',"text":"' : ',"base64":"';
      const payload = fast.field === 'text' ? escapedLength(fast.bytes) : fast.base64Length;
      const at = this.reserve(head.length * 3 + payload + 3);
      let end = at + this.slab.write(head, at, 'utf8');
      end += fast.field === 'text' ? escapeInto(fast.bytes, this.slab, end) : this.slab.write(fast.bytes.toString('base64'), end, 'latin1');
      this.slab[end++] = 0x22; // "
      this.slab[end++] = 0x7d; // }
      this.slab[end++] = 0x0a; // \n
      this.commit(at, end);
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
   * The payload of a text or binary message when no redaction can apply (the common
   * case): its bytes, written to the line without building a string.
   */
  private payloadBytes(m: WsMessage): { field: 'text' | 'base64'; bytes: Buffer; base64Length: number; truncated: boolean } | undefined {
    const mode = this.payloads;
    if (mode === 'none' || (m.kind !== 'text' && m.kind !== 'binary')) return undefined;
    const limit = typeof mode === 'number' ? mode : Infinity;
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
    this.handOff();
    return new Promise((resolve) => {
      if (this.stream.destroyed || this.stream.closed) return resolve();
      this.stream.end(() => resolve());
      this.stream.once('error', () => resolve());
    });
  }
}
