/**
 * The tap of one tunnel: a decoder per direction, the close handshake, latency, and
 * traffic counts. It is fed the chunks the tunnel forwarded and turns them into
 * messages for the sinks; it never touches a socket.
 */
import { inspectClose } from '../inspect/close.js';
import { inspectViolation } from '../inspect/protocol.js';
import type { Finding } from '../session/finding.js';
import type { DecodedMessage, ProtocolViolation, Side, WsMessage } from '../session/message.js';
import type { CloseSummary, DirectionStats, LatencySummary, TapSummary } from '../session/summary.js';
import { closeCodeMeaning } from '../wire/ws-frame.js';
import { FrameDecoder, type FrameDecoderOptions } from './frame-decoder.js';
import { LatencyTracker, Samples } from './latency.js';
import { AppTap } from './app-tap.js';
import { decoderFor } from '../protocols/registry.js';
import type { AppDetection } from '../session/app.js';

export interface TapOptions {
  /** permessage-deflate was negotiated. */
  deflate: boolean;
  maxMessageBytes: number;
  /** Binary payload bytes kept per message (the sinks' need); default maxMessageBytes. */
  maxBinaryBytes?: number;
  /** --correlate path; automatic when undefined. */
  correlate?: string;
  /** The application protocol the handshake (or --protocol) named; 'none': decode none; absent: the first messages tell. */
  app?: AppDetection | 'none';
  /** Each message, complete: its latency pairing is in it. */
  onMessage(message: WsMessage): void;
  /** A protocol-error, when it happens (it comes again in finish()). */
  onFinding(finding: Finding): void;
}

export interface TapResult {
  summary: TapSummary;
  /** Protocol errors raised while open, then the findings of the close. */
  findings: Finding[];
}

/** Binary payload bytes kept while the first messages are looked at for an application protocol. */
const SNIFF_BINARY_BYTES = 4096;

const newStats = (): DirectionStats => ({ messages: 0, data: 0, control: 0, wireBytes: 0, payloadBytes: 0 });

// A tap exists for every open tunnel, idle ones included: its decoders and latency tracker
// are made when the first bytes (the first message) arrive.
export class FrameTap {
  private clientDecoder: FrameDecoder | undefined;
  private serverDecoder: FrameDecoder | undefined;
  private clientStats: DirectionStats | undefined;
  private serverStats: DirectionStats | undefined;
  /** The first close frame from each side. */
  private clientClose: WsMessage | undefined;
  private serverClose: WsMessage | undefined;
  private latency: LatencyTracker | undefined;
  private added: Samples | undefined;
  private raised: Finding[] | undefined;
  /** The application protocol's decoder, made with the first data message. */
  private app: AppTap | undefined;
  /** Its first messages named no protocol: nothing more is looked at. */
  private noApp = false;
  /** Messages seen, every kind: the number of the one being observed. */
  private seq = 0;
  /** One pair of callbacks for both directions (messages and violations name their side). */
  private callbacks: Pick<FrameDecoderOptions, 'onMessage' | 'onViolation'> | undefined;

  constructor(private readonly opts: TapOptions) {}

  /** Time from a chunk's arrival to its hand-off to the kernel, ms, per chunk. */
  get proxyAdded(): Samples {
    return (this.added ??= new Samples());
  }

  /** Whether everything forwarded from `side` ended at a frame boundary (true before its first byte). */
  atBoundary(side: Side, between: 'frames' | 'messages' = 'frames'): boolean {
    const d = side === 'client' ? this.clientDecoder : this.serverDecoder;
    return d === undefined || (between === 'messages' ? d.atMessageBoundary : d.atFrameBoundary);
  }

  /** Decoding is over for this session (its owner gave up on it): the decoders let go of what they hold. */
  abandon(): void {
    this.clientDecoder?.destroy();
    this.serverDecoder?.destroy();
  }

  /** A chunk forwarded from `from`, arrived at `at` (performance.now()). */
  push(from: Side, chunk: Buffer, at: number): void {
    ((from === 'client' ? this.clientDecoder : this.serverDecoder) ?? this.decoder(from)).push(chunk, at);
  }

  private statsOf(side: Side): DirectionStats {
    if (side === 'client') return (this.clientStats ??= newStats());
    return (this.serverStats ??= newStats());
  }

  private decoder(from: Side): FrameDecoder {
    this.callbacks ??= { onMessage: (m) => this.message(m), onViolation: (v) => this.violation(v) };
    const { deflate, maxMessageBytes } = this.opts;
    const maxBinaryBytes = this.binaryKeep();
    const d = new FrameDecoder({ from, deflate, maxMessageBytes, ...(maxBinaryBytes !== undefined ? { maxBinaryBytes } : {}), ...this.callbacks });
    if (from === 'client') this.clientDecoder = d;
    else this.serverDecoder = d;
    return d;
  }

  /**
   * Binary payload bytes to keep: what the sinks read, unless the session's protocol reads binary
   * messages whole (MQTT, Socket.IO) or its first messages are still being looked at for one.
   */
  private binaryKeep(): number | undefined {
    const { app, maxBinaryBytes } = this.opts;
    if (this.noApp) return maxBinaryBytes;
    const known = this.app ? this.app.protocol : app === 'none' ? undefined : app;
    if (known) return decoderFor(known.protocol).readsBinary ? undefined : maxBinaryBytes;
    const sniffing = app === undefined && (this.app === undefined || this.app.sniffing);
    // A first message is looked at for a protocol: an MQTT CONNECT is small, bulk binary is not copied whole.
    return sniffing && maxBinaryBytes !== undefined ? Math.max(maxBinaryBytes, SNIFF_BINARY_BYTES) : maxBinaryBytes;
  }

  private appOf(m: DecodedMessage): void {
    if (m.kind !== 'text' && m.kind !== 'binary') return;
    if (this.noApp) return;
    if (this.app === undefined) {
      if (this.opts.app === 'none') return;
      this.app = new AppTap(this.opts.app, (f) => this.raise(f));
    }
    const before = this.app.sniffing;
    const app = this.app.observe(m, this.seq);
    if (app) m.app = app;
    // The sinks get as much of a binary payload as they read, whatever the protocol's decoder needed (no copy).
    const sinks = this.opts.maxBinaryBytes;
    if (m.kind === 'binary' && sinks !== undefined && m.data.length > sinks) m.data = m.data.subarray(0, sinks);
    // Detection settled: keep binary payloads only as far as the protocol (or the sinks) read them.
    if (before && !this.app.sniffing) {
      // No protocol in the first messages: the session keeps nothing of the decoder.
      if (!this.app.protocol) {
        this.app = undefined;
        this.noApp = true;
      }
      const keep = this.binaryKeep();
      this.clientDecoder?.keepBinary(keep);
      this.serverDecoder?.keepBinary(keep);
    }
  }

  private raise(f: Finding): void {
    (this.raised ??= []).push(f);
    this.opts.onFinding(f);
  }

  private message(m: DecodedMessage): void {
    const s = this.statsOf(m.from);
    s.messages++;
    if (m.kind === 'text' || m.kind === 'binary') s.data++;
    else s.control++;
    s.wireBytes += m.wireSize;
    s.payloadBytes += m.size;
    if (m.kind === 'close') {
      if (m.from === 'client') this.clientClose ??= m;
      else this.serverClose ??= m;
    }
    this.seq++;
    const latency = (this.latency ??= new LatencyTracker(this.opts.correlate)).observe(m);
    if (latency) m.latency = latency;
    if (this.opts.app !== 'none' && !this.noApp) this.appOf(m);
    this.opts.onMessage(m);
  }

  private violation(v: ProtocolViolation): void {
    this.statsOf(v.from).blind = true;
    this.raise(inspectViolation(v, 'tunnel'));
  }

  /**
   * Called once both sockets have closed. Waits (up to settleMs) for messages still being
   * inflated, so the summary counts every message and the close frames behind them.
   */
  async finish(settleMs = 2000): Promise<TapResult> {
    let timer: NodeJS.Timeout | undefined;
    const client = this.clientDecoder;
    const server = this.serverDecoder;
    await Promise.race([
      Promise.all([client?.settled(), server?.settled()]),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, settleMs))),
    ]);
    clearTimeout(timer);
    client?.destroy();
    server?.destroy();
    const close = this.closeSummary();
    const summary: TapSummary = {
      close,
      traffic: { client: this.statsOf('client'), server: this.statsOf('server') },
      latency: this.latencySummary(),
    };
    // The protocol's findings at the end (requests never answered, a close code of the protocol) are raised like those found while open.
    const app = this.app?.finish(close.initiator === 'none' ? undefined : close, performance.now());
    for (const f of app?.findings ?? []) this.raise(f);
    if (app?.summary) summary.app = app.summary;
    return { summary, findings: [...(this.raised ?? []), ...inspectClose(close)] };
  }

  private closeSummary(): CloseSummary {
    const first = [this.clientClose, this.serverClose].filter((m): m is WsMessage => m !== undefined).sort((a, b) => a.lastByteAt - b.lastByteAt)[0];
    if (!first) return { initiator: 'none', code: 1006, reason: '', meaning: closeCodeMeaning(1006), clean: false };
    const other = first.from === 'client' ? this.serverClose : this.clientClose;
    const code = first.closeCode ?? 1005;
    const close: CloseSummary = {
      initiator: first.from,
      code,
      reason: first.closeReason ?? '',
      meaning: closeCodeMeaning(code),
      clean: other !== undefined,
    };
    if (other) close.handshakeMs = Math.round((other.lastByteAt - first.lastByteAt) * 1000) / 1000;
    return close;
  }

  private latencySummary(): LatencySummary {
    const latency: LatencySummary = {};
    const tracker = this.latency ?? new LatencyTracker(this.opts.correlate);
    const req = tracker.requests.summary();
    const ping = tracker.pings.summary();
    const added = this.added?.summary();
    if (req) latency.requests = req;
    if (ping) latency.pings = ping;
    if (tracker.correlation) latency.correlation = tracker.correlation;
    if (tracker.pairedInOrder > 0) latency.inOrder = tracker.pairedInOrder;
    if (tracker.withoutPath > 0) latency.withoutCorrelation = tracker.withoutPath;
    if (added) latency.proxyAddedMs = added;
    return latency;
  }
}
