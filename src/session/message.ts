/**
 * A WebSocket message as the frame tap decodes it: both directions, with the times its
 * bytes arrived. Payloads are bytes; text is a view.
 */

import type { AppMessage } from './app.js';

/** Who sent it. */
export type Side = 'client' | 'server';

export type MessageKind = 'text' | 'binary' | 'ping' | 'pong' | 'close';

/** One decoded message (a data message reassembled from its frames, or one control frame). Complete when a sink sees it. */
export interface WsMessage {
  readonly from: Side;
  readonly kind: MessageKind;
  readonly opcode: number;
  /**
   * The decoded payload: at most the tap's maxMessageBytes (see truncated). A binary
   * message's is kept only as far as some sink reads it (SessionSink.binaryBytes), so it
   * may be shorter than size without being truncated.
   */
  readonly data: Buffer;
  /** Decoded size in bytes (after inflate), whole message even when data is truncated. */
  readonly size: number;
  /** Bytes on the wire, frame headers included. */
  readonly wireSize: number;
  /** Sent with permessage-deflate (RSV1). */
  readonly compressed: boolean;
  readonly frames: number;
  /** performance.now() when the first byte of the first frame arrived at wstap. */
  readonly firstByteAt: number;
  /** performance.now() when the last byte of the last frame arrived at wstap. */
  readonly lastByteAt: number;
  /** The message is larger than maxMessageBytes (--max-message-size): data holds at most its start. */
  readonly truncated: boolean;
  /** For close frames. */
  readonly closeCode?: number;
  readonly closeReason?: string;
  /** This message answers an earlier one (the latency tracker paired them). */
  readonly latency?: MessageLatency;
  /** What it means in the session's application protocol (Socket.IO, GraphQL, STOMP, MQTT, JSON-RPC), when one was detected. */
  readonly app?: AppMessage;
}

export interface MessageLatency {
  ms: number;
  /** The correlation id both carried. */
  key?: string;
  to: 'request' | 'ping';
  /** The number in its session (from 1, every message and control frame counted) of the message this one answers. */
  answers: number;
}

/** A message while the tap builds it: the decoder makes it, the latency tracker adds its pairing, then it is emitted. */
export type DecodedMessage = { -readonly [K in keyof WsMessage]: WsMessage[K] };

/** The rules of RFC 6455 the tap checks, by stable code (tap/frame-rules.ts has the text of each). */
export type ProtocolRule =
  | 'length-too-large'
  | 'frame-after-close'
  | 'reserved-opcode'
  | 'rsv2-rsv3'
  | 'rsv1-without-deflate'
  | 'rsv1-not-first'
  | 'unmasked-client-frame'
  | 'masked-server-frame'
  | 'fragmented-control'
  | 'control-too-long'
  | 'unexpected-continuation'
  | 'expected-continuation'
  | 'invalid-utf8'
  | 'close-payload-1-byte'
  | 'invalid-close-code'
  | 'close-reason-not-utf8'
  | 'invalid-deflate-data';

/** A rule of RFC 6455 that a frame broke. */
export interface ProtocolViolation {
  from: Side;
  rule: ProtocolRule;
  /** The rule, with the facts of this frame: "invalid close code 999". */
  detail: string;
  /** performance.now() */
  at: number;
}
