/**
 * Fans session events out to sinks. Each event's redacted view is made once, for every sink
 * that takes it. A sink that throws is reported once and switched off; the others still get
 * the event, and the forwarding path never waits on a sink and never sees its errors.
 */
import type { Finding } from '../session/finding.js';
import type { WsMessage } from '../session/message.js';
import type { Session, SessionEnd } from '../session/session.js';
import type { SessionAction } from '../session/action.js';
import { actionView, endView, handshakeView, type ActionView, type EndView, type HandshakeView, type PatternView } from '../views/views.js';

/** A consumer of session events: the log, a recording, metrics, a live view. */
export interface SessionSink {
  readonly name: string;
  /** Once per upgrade, when the backend answered (or could not be reached, or the request was refused). */
  handshake?(session: Session, view: HandshakeView): void;
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
  /** A finding raised while a tunnel is open (protocol-error); it comes again with end(). */
  finding?(session: Session, finding: Finding): void;
  /** A finding about several sessions (a reconnect loop), from the pattern tracker: once when found, again as it grows. */
  pattern?(p: PatternView): void;
  /** Something wstap did to the session's traffic (a fault rule, the API). */
  action?(session: Session, action: SessionAction, view: ActionView): void;
  /** Once per tunnel, when both sockets are closed and the tap has settled. */
  end?(session: Session, end: SessionEnd, view: EndView): void;
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

  /** True when some sink wants decoded frames. */
  get wantsFrames(): boolean {
    return this.sinks.some((s) => s.wantsFrames && !this.disabled.has(s));
  }

  /** The most leading bytes of a binary payload that any sink reads. */
  get binaryBytes(): number {
    let n = 0;
    for (const s of this.sinks) {
      if (!s.message || this.disabled.has(s)) continue;
      n = Math.max(n, s.binaryBytes ?? Number.POSITIVE_INFINITY);
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
    this.each(
      (s) => s.finding !== undefined,
      (s) => s.finding!(session, finding),
    );
  }

  action(session: Session, action: SessionAction): void {
    let view: ActionView | undefined;
    this.each(
      (s) => s.action !== undefined,
      (s) => s.action!(session, action, (view ??= actionView(session, action))),
    );
  }

  /** A finding about one or more sessions found beside their events (a slow consumer): every sink that takes patterns. */
  pattern(p: PatternView): void {
    this.each(
      (s) => s.pattern !== undefined,
      (s) => s.pattern!(p),
    );
  }

  handshake(session: Session): void {
    let view: HandshakeView | undefined;
    this.each(
      (s) => s.handshake !== undefined,
      (s) => s.handshake!(session, (view ??= handshakeView(session))),
    );
  }

  end(session: Session, end: SessionEnd): void {
    let view: EndView | undefined;
    this.each(
      (s) => s.end !== undefined,
      (s) => s.end!(session, end, (view ??= endView(session, end))),
    );
  }

  /**
   * Calls each working sink that takes an event; one that throws is switched off and reported.
   * Events once per session or rarer: message() keeps its plain loop (called per message).
   */
  private each(takes: (s: SessionSink) => boolean, call: (s: SessionSink) => void): void {
    for (const s of this.sinks) {
      if (!takes(s) || this.disabled.has(s)) continue;
      try {
        call(s);
      } catch (err) {
        this.fail(s, err);
      }
    }
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

  private fail(sink: SessionSink, err: unknown): void {
    this.disabled.add(sink);
    try {
      this.onSinkFailure(sink.name, err);
    } catch {
      // the reporter itself failed: nothing left to tell
    }
  }
}
