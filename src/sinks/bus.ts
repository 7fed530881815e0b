/**
 * Fans session events out to sinks. A sink that throws is reported once and
 * switched off; the forwarding path never waits on a sink and never sees its errors.
 */
import type { Finding } from '../session/finding.js';
import type { WsMessage } from '../session/message.js';
import type { Session, SessionEnd } from '../session/session.js';

/** A consumer of session events: the log, a recording, metrics, a live view. */
export interface SessionSink {
  readonly name: string;
  /** Once per upgrade, when the backend answered (or could not be reached, or the request was refused). */
  handshake?(session: Session): void;
  /** Set when the sink needs decoded frames; with no such sink, frames are not decoded at all. */
  readonly wantsFrames?: boolean;
  /**
   * How many leading bytes of each binary message's payload the sink's message() reads
   * (all of them, up to --max-message-size, when absent). Text payloads are always kept
   * up to that limit (they are checked for UTF-8 and scanned for request ids); binary
   * ones only as far as some sink reads them, so a proxy that only logs copies none.
   */
  readonly binaryBytes?: number;
  /** Every decoded message, both directions, in wire order per direction. */
  message?(session: Session, message: WsMessage): void;
  /** A finding raised during a tunnel (protocol-error); close findings come with end(). */
  finding?(session: Session, finding: Finding): void;
  /** Once per tunnel, when both sockets are closed. */
  end?(session: Session, end: SessionEnd): void;
  /** Called at shutdown; resolve when everything is written. */
  flush?(): void | Promise<void>;
}

export type SinkFailureReporter = (sink: string, error: unknown) => void;

export class SessionBus {
  private readonly sinks: SessionSink[];
  private readonly disabled = new Set<SessionSink>();

  constructor(
    sinks: readonly SessionSink[],
    private readonly onSinkFailure: SinkFailureReporter,
  ) {
    this.sinks = [...sinks];
  }

  add(sink: SessionSink): void {
    this.sinks.push(sink);
  }

  /** True when some sink wants decoded frames. */
  get wantsFrames(): boolean {
    return this.sinks.some((s) => s.wantsFrames && !this.disabled.has(s));
  }

  /** The most leading bytes of a binary payload that any sink reads. */
  get binaryBytes(): number {
    let n = 0;
    for (const s of this.sinks) {
      if (!s.message || this.disabled.has(s)) continue;
      n = Math.max(n, s.binaryBytes ?? Infinity);
    }
    return n;
  }

  message(session: Session, message: WsMessage): void {
    // Called per message: a plain loop, no closure per sink.
    for (const s of this.sinks) {
      if (!s.message || this.disabled.has(s)) continue;
      try {
        s.message(session, message);
      } catch (err) {
        this.fail(s, err);
      }
    }
  }

  finding(session: Session, finding: Finding): void {
    for (const s of this.sinks) if (s.finding && !this.disabled.has(s)) this.call(s, () => s.finding!(session, finding));
  }

  handshake(session: Session): void {
    for (const s of this.sinks) if (s.handshake && !this.disabled.has(s)) this.call(s, () => s.handshake!(session));
  }

  end(session: Session, end: SessionEnd): void {
    for (const s of this.sinks) if (s.end && !this.disabled.has(s)) this.call(s, () => s.end!(session, end));
  }

  async flush(): Promise<void> {
    for (const s of this.sinks) {
      if (!s.flush || this.disabled.has(s)) continue;
      try {
        await s.flush();
      } catch (err) {
        this.fail(s, err);
      }
    }
  }

  private call(sink: SessionSink, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(sink, err);
    }
  }

  private fail(sink: SessionSink, err: unknown): void {
    this.disabled.add(sink);
    try {
      this.onSinkFailure(sink.name, err);
    } catch {
      // the reporter itself failed: nothing left to tell
    }
  }
}
