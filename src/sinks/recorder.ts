/**
 * The recording sink: sessions written to a JSON Lines file as they happen, from the redacted
 * views (secrets never reach the file). A write error stops the recording with one log line;
 * the proxy goes on. The mapping to lines is recording/events.ts, the file recording/jsonl-writer.ts.
 */
import type { Logger } from 'pino';
import { actionEvent, closeEvent, messageEvent, openEvent, writeMessageLine, type PayloadMode } from '../recording/events.js';
import { RECORDING_FORMAT, RECORDING_VERSION, type PatternEvent, type RecordingHeader } from '../recording/format.js';
import { JsonlWriter } from '../recording/jsonl-writer.js';
import type { SessionAction } from '../session/action.js';
import type { WsMessage } from '../session/message.js';
import type { Session, SessionEnd } from '../session/session.js';
import { roundMs, type ActionView, type EndView, type HandshakeView, type PatternView } from '../views/views.js';
import type { SessionSink } from './bus.js';
import { redactText } from '../secrets/free-text.js';

export { parsePayloadMode, type PayloadMode } from '../recording/events.js';

export interface RecorderOptions {
  file: string;
  payloads?: PayloadMode;
  /** Stop recording (with one log line) once this run would exceed this many bytes. */
  maxBytes?: number;
  /**
   * Append a new run to an existing file (the default: a compose volume keeps every run), or
   * start the file anew.
   */
  append?: boolean;
  target?: string;
  version: string;
  logger: Logger;
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
  private readonly writer: JsonlWriter;
  private readonly opens = new Map<string, OpenSession>();
  private readonly payloads: PayloadMode;

  constructor(opts: RecorderOptions) {
    this.payloads = opts.payloads ?? 'full';
    this.binaryBytes = this.payloads === 'full' ? Number.POSITIVE_INFINITY : this.payloads === 'none' ? 0 : this.payloads;
    this.writer = new JsonlWriter({
      file: opts.file,
      flags: opts.append === false ? 'w' : 'a',
      ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}),
      onStop: (why, bytes, level) => opts.logger[level]({ event: 'recording-stopped', file: opts.file, bytes }, why),
    });
    const header: RecordingHeader = {
      type: 'header',
      format: RECORDING_FORMAT,
      version: RECORDING_VERSION,
      createdAt: new Date().toISOString(),
      wstap: opts.version,
      payloads: this.payloads,
    };
    // The target as typed may carry a credential (?token=...): the file gets it redacted.
    if (opts.target) header.target = redactText(opts.target);
    this.writer.writeValue(header);
  }

  get active(): boolean {
    return this.writer.active;
  }

  /** Bytes the file held before this run (0: a new file). */
  get appendedTo(): number {
    return this.writer.existingBytes;
  }

  handshake(s: Session, view: HandshakeView): void {
    const prefix = `{"type":"message","session":${JSON.stringify(s.id)},"from":`;
    this.opens.set(s.id, { t0: performance.now(), ts0: Date.now(), clientPrefix: `${prefix}"client",`, serverPrefix: `${prefix}"server",` });
    this.writer.writeValue(openEvent(view));
    if (s.outcome !== 'tunnel') this.opens.delete(s.id);
  }

  message(s: Session, m: WsMessage): void {
    const o = this.opens.get(s.id);
    if (!o || !this.writer.active) return;
    const t = roundMs(m.lastByteAt - o.t0);
    const ts = Math.round(o.ts0 + t);
    if (writeMessageLine(this.writer, m.from === 'client' ? o.clientPrefix : o.serverPrefix, m, t, ts, this.payloads)) return;
    this.writer.writeValue(messageEvent(s.id, m, t, ts, this.payloads));
  }

  pattern(p: PatternView): void {
    const f = p.finding;
    const e: PatternEvent = {
      type: 'pattern',
      ts: p.ts,
      code: f.code,
      severity: f.severity,
      message: f.message,
      hint: f.hint,
      client: p.client,
      sessions: p.sessions,
    };
    this.writer.writeValue(e);
  }

  action(s: Session, _a: SessionAction, view: ActionView): void {
    const o = this.opens.get(s.id);
    this.writer.writeValue(actionEvent(view, Math.round((o?.ts0 ?? Date.now()) + view.t)));
  }

  end(s: Session, _end: SessionEnd, view: EndView): void {
    const o = this.opens.get(s.id);
    this.opens.delete(s.id);
    const t = o ? roundMs(performance.now() - o.t0) : view.durationMs;
    this.writer.writeValue(closeEvent(view, t, Math.round((o?.ts0 ?? Date.now()) + t)));
  }

  /** Writes out everything and closes the file. */
  flush(): Promise<void> {
    return this.writer.close();
  }
}
