/**
 * Fans session events out to sinks. A sink that throws is reported once and
 * switched off; the forwarding path never waits on a sink and never sees its errors.
 */
import type { Session, SessionEnd } from './session.js';

/** A consumer of session events: the log, a recording, metrics, a live view. */
export interface SessionSink {
  readonly name: string;
  /** Once per upgrade, when the backend answered (or could not be reached, or the request was refused). */
  handshake?(session: Session): void;
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
