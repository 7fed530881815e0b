/** What a tunnel amounted to: traffic per direction, the WebSocket close, latency percentiles. */
import type { AppSummary } from './app.js';
import type { Side } from './message.js';

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface DirectionStats {
  /** Messages, control frames (ping, pong, close) included: data + control. */
  messages: number;
  /** Text and binary messages. */
  data: number;
  /** Pings, pongs and close frames. */
  control: number;
  /** Bytes on the wire (frames, headers included). */
  wireBytes: number;
  /** Decoded payload bytes (after inflate). */
  payloadBytes: number;
  /** Decoding stopped after a protocol error. */
  blind?: true;
}

/** How the WebSocket (not the TCP connection) ended. */
export interface CloseSummary {
  /** Who sent the first close frame; 'none' when no close frame was seen; 'wstap' when wstap ended the session itself (shutdown). */
  initiator: Side | 'none' | 'wstap';
  /** The first close frame's code; 1005 when it had none; 1006 when there was no close frame. */
  code: number;
  reason: string;
  meaning: string;
  /** Both sides sent a close frame before the connection ended. */
  clean: boolean;
  /** Close frame of the initiator → close frame of the other side, ms. */
  handshakeMs?: number;
}

export interface LatencySummary {
  requests?: Percentiles;
  pings?: Percentiles;
  /** The id path requests and answers were paired by. */
  correlation?: string;
  /** Client messages in which the --correlate path was not found: with no request latency, the path never matched. */
  withoutCorrelation?: number;
  /** Of the pairs, those matched in order because the answer had no matching id (with correlation set). */
  inOrder?: number;
  proxyAddedMs?: Percentiles;
}

export interface TapSummary {
  close: CloseSummary;
  traffic: { client: DirectionStats; server: DirectionStats };
  latency: LatencySummary;
  /** The application protocol, its packets and its operations (present when one was detected). */
  app?: AppSummary;
}
