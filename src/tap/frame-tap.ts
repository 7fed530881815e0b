/**
 * The tap of one tunnel: a decoder per direction, the close handshake, latency, and
 * traffic counts. It is fed the chunks the tunnel forwarded and turns them into
 * messages for the sinks; it never touches a socket.
 */
import { FrameDecoder, type FrameDecoderOptions } from './frame-decoder.js';
import { closeCodeMeaning, type ProtocolViolation, type Side, type WsMessage } from '../session/message.js';
import { finding, type Finding } from '../session/finding.js';
import { headerList } from '../wire/http-head.js';
import { LatencyTracker, Samples, type Percentiles } from './latency.js';
import type { ResponseHead } from '../wire/http-head.js';

export interface TapOptions {
  maxMessageBytes: number;
  /** Binary payload bytes kept per message (the sinks' need); default maxMessageBytes. */
  maxBinaryBytes?: number;
  /** --correlate path; automatic when undefined. */
  correlate?: string;
  onMessage(message: WsMessage): void;
  onFinding(finding: Finding): void;
}

export interface DirectionStats {
  messages: number;
  /** Bytes on the wire (frames, headers included). */
  wireBytes: number;
  /** Decoded payload bytes (after inflate). */
  payloadBytes: number;
  /** Decoding stopped after a protocol error. */
  blind?: true;
}

/** How the WebSocket (not the TCP connection) ended. */
export interface CloseSummary {
  /** Who sent the first close frame; 'none' when no close frame was seen. */
  initiator: Side | 'none';
  /** The first close frame's code; 1005 when it had none; 1006 when there was no close frame. */
  code: number;
  reason: string;
  meaning: string;
  /** Both sides sent a close frame before the connection ended. */
  clean: boolean;
  /** Close frame of the initiator → close frame of the other side, ms. */
  handshakeMs?: number;
}

export interface TapSummary {
  close: CloseSummary;
  traffic: { client: DirectionStats; server: DirectionStats };
  latency: {
    requests?: Percentiles;
    pings?: Percentiles;
    /** The id path requests and answers were paired by. */
    correlation?: string;
    /** Of the pairs, those matched in order because the answer had no matching id (with correlation set). */
    inOrder?: number;
    proxyAddedMs?: Percentiles;
  };
}

/** Server-side failure codes: close-error. */
const SERVER_ERROR_CODES = new Set([1002, 1003, 1007, 1009, 1010, 1011, 1012, 1013, 1014, 1015]);

export function negotiatedDeflate(response: ResponseHead): boolean {
  return headerList(response.headers, 'sec-websocket-extensions').some((e) => e.split(';')[0]!.trim().toLowerCase() === 'permessage-deflate');
}

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
  /** One pair of callbacks for both directions (messages and violations name their side). */
  private callbacks: Pick<FrameDecoderOptions, 'onMessage' | 'onViolation'> | undefined;

  constructor(
    private readonly deflate: boolean,
    private readonly opts: TapOptions,
  ) {}

  /** Time from a chunk's arrival to its hand-off to the kernel, ms, per chunk. */
  get proxyAdded(): Samples {
    return (this.added ??= new Samples());
  }

  /** A chunk forwarded from `from`, arrived at `at` (performance.now()). */
  push(from: Side, chunk: Buffer, at: number): void {
    ((from === 'client' ? this.clientDecoder : this.serverDecoder) ?? this.decoder(from)).push(chunk, at);
  }

  private statsOf(side: Side): DirectionStats {
    if (side === 'client') return (this.clientStats ??= { messages: 0, wireBytes: 0, payloadBytes: 0 });
    return (this.serverStats ??= { messages: 0, wireBytes: 0, payloadBytes: 0 });
  }

  private decoder(from: Side): FrameDecoder {
    this.callbacks ??= { onMessage: (m) => this.message(m), onViolation: (v) => this.violation(v) };
    const d = new FrameDecoder({ from, deflate: this.deflate, maxMessageBytes: this.opts.maxMessageBytes, maxBinaryBytes: this.opts.maxBinaryBytes, ...this.callbacks });
    if (from === 'client') this.clientDecoder = d;
    else this.serverDecoder = d;
    return d;
  }

  private message(m: WsMessage): void {
    const s = this.statsOf(m.from);
    s.messages++;
    s.wireBytes += m.wireSize;
    s.payloadBytes += m.size;
    if (m.kind === 'close') {
      if (m.from === 'client') this.clientClose ??= m;
      else this.serverClose ??= m;
    }
    (this.latency ??= new LatencyTracker(this.opts.correlate)).observe(m);
    this.opts.onMessage(m);
  }

  private violation(v: ProtocolViolation): void {
    this.statsOf(v.from).blind = true;
    this.opts.onFinding(
      finding(
        'protocol-error',
        `The ${v.from} sent ${v.rule}. wstap forwarded the bytes unchanged and stopped decoding the ${v.from}'s frames.`,
        v.from === 'client'
          ? 'A hand-written or buggy client: compare its framing with RFC 6455 section 5. Browsers and WebSocket libraries frame correctly; a proxy that rewrites the stream can break it too.'
          : 'A hand-written or buggy server, or something in front of it that rewrites the stream: compare its framing with RFC 6455 section 5.',
      ),
    );
  }

  /**
   * Called once both sockets have closed. Waits (up to settleMs) for messages still being
   * inflated, so the summary counts every message and the close frames behind them.
   */
  async finish(settleMs = 2000): Promise<{ summary: TapSummary; findings: Finding[] }> {
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
    const first = [this.clientClose, this.serverClose]
      .filter((m): m is WsMessage => m !== undefined)
      .sort((a, b) => a.lastByteAt - b.lastByteAt)[0];
    let close: CloseSummary;
    if (!first) {
      close = { initiator: 'none', code: 1006, reason: '', meaning: closeCodeMeaning(1006), clean: false };
    } else {
      const other = first.from === 'client' ? this.serverClose : this.clientClose;
      const code = first.closeCode ?? 1005;
      close = { initiator: first.from, code, reason: first.closeReason ?? '', meaning: closeCodeMeaning(code), clean: other !== undefined };
      if (other) close.handshakeMs = Math.round((other.lastByteAt - first.lastByteAt) * 1000) / 1000;
    }
    const latency: TapSummary['latency'] = {};
    const tracker = this.latency ?? new LatencyTracker(this.opts.correlate);
    const req = tracker.requests.summary();
    const ping = tracker.pings.summary();
    const added = this.added?.summary();
    if (req) latency.requests = req;
    if (ping) latency.pings = ping;
    if (tracker.correlation) latency.correlation = tracker.correlation;
    if (tracker.pairedInOrder > 0) latency.inOrder = tracker.pairedInOrder;
    if (added) latency.proxyAddedMs = added;
    return { summary: { close, traffic: { client: this.statsOf('client'), server: this.statsOf('server') }, latency }, findings: closeFindings(close) };
  }
}

export function closeFindings(c: CloseSummary): Finding[] {
  const reason = c.reason ? ` "${c.reason}"` : '';
  if (c.code === 1006) {
    return [
      finding(
        'close-abnormal',
        'The connection ended without a close frame from either side (1006, abnormal closure).',
        'Something cut the TCP connection: the backend crashed or was restarted, an idle timeout in a proxy or load balancer ' +
          '(nginx proxy_read_timeout defaults to 60 s: send pings), the client page was killed, or the network dropped. ' +
          'Look at the backend logs at this moment.',
      ),
    ];
  }
  if (c.code === 1008) {
    return [
      finding(
        'close-policy',
        `The ${c.initiator} closed with 1008 (policy violation)${reason}.`,
        /auth|token|credential|login|unauthori[sz]ed/i.test(c.reason)
          ? 'Authentication failed: send a valid credential (a ?token= query parameter, a cookie or a subprotocol entry; browsers cannot set Authorization on a WebSocket), refresh an expired token, or for local development enable the backend\'s auth bypass (ALLOW_DEV_AUTH_BYPASS=true, WEBSOCKET_AUTH_BYPASS=true, ENVIRONMENT=development) and restart it.'
          : /origin|cors/i.test(c.reason)
            ? 'The backend refuses the Origin: add the frontend\'s exact origin (as in the browser\'s address bar) to its allowed origins.'
            : 'The backend enforces a policy, usually authentication or Origin: read the reason and the handshake findings above.',
      ),
    ];
  }
  if (SERVER_ERROR_CODES.has(c.code)) {
    return [
      finding(
        'close-error',
        `The ${c.initiator} closed with ${c.code} (${c.meaning})${reason}.`,
        c.code === 1011
          ? 'The backend hit an error while handling this connection: its logs at this moment have the exception.'
          : c.code === 1009
            ? 'A message exceeded the receiver\'s size limit: raise the limit (e.g. max_size, maxPayload) or send smaller messages.'
            : c.code === 1012 || c.code === 1013
              ? 'The backend is restarting or overloaded: the client should reconnect with a backoff.'
              : `The ${c.initiator} reported a failure: see the meaning of ${c.code} and the ${c.initiator}'s logs.`,
      ),
    ];
  }
  return [];
}
