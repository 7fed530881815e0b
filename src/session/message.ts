/**
 * What the frame tap sees: WebSocket messages in both directions, decoded, with
 * the times their bytes arrived. Payloads are bytes; text is a view.
 */

/** Who sent it. */
export type Side = 'client' | 'server';

export type MessageKind = 'text' | 'binary' | 'ping' | 'pong' | 'close';

export const OPCODES: Record<number, MessageKind | 'continuation'> = {
  0x0: 'continuation',
  0x1: 'text',
  0x2: 'binary',
  0x8: 'close',
  0x9: 'ping',
  0xa: 'pong',
};

/** One decoded message (a data message reassembled from its frames, or one control frame). */
export interface WsMessage {
  from: Side;
  kind: MessageKind;
  opcode: number;
  /**
   * The decoded payload: at most the tap's maxMessageBytes (see truncated). A binary
   * message's is kept only as far as some sink reads it (SessionSink.binaryBytes), so it
   * may be shorter than size without being truncated.
   */
  data: Buffer;
  /** Decoded size in bytes (after inflate), whole message even when data is truncated. */
  size: number;
  /** Bytes on the wire, frame headers included. */
  wireSize: number;
  /** Sent with permessage-deflate (RSV1). */
  compressed: boolean;
  frames: number;
  /** performance.now() when the first byte of the first frame arrived at wstap. */
  firstByteAt: number;
  /** performance.now() when the last byte of the last frame arrived at wstap. */
  lastByteAt: number;
  /** The message is larger than maxMessageBytes (--max-message-size): data holds at most its start. */
  truncated: boolean;
  /** For close frames. */
  closeCode?: number;
  closeReason?: string;
  /** Filled by the latency tracker: this message answers an earlier one. */
  latency?: { ms: number; key?: string; to: 'request' | 'ping' };
}

/** A rule of RFC 6455 that a frame broke. */
export interface ProtocolViolation {
  from: Side;
  rule: string;
  /** performance.now() */
  at: number;
}

/** The standard close codes and what they mean. */
export const CLOSE_CODES: Record<number, string> = {
  1000: 'normal closure',
  1001: 'going away: a page closed or a server shutting down',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code in the close frame',
  1006: 'abnormal closure: the connection ended without a close frame',
  1007: 'invalid payload data, such as bad UTF-8',
  1008: 'policy violation, typically authentication or Origin',
  1009: 'message too big',
  1010: 'mandatory extension missing',
  1011: 'internal server error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failure',
};

export function closeCodeMeaning(code: number): string {
  const known = CLOSE_CODES[code];
  if (known) return known;
  if (code >= 3000 && code <= 3999) return 'registered by a library or framework';
  if (code >= 4000 && code <= 4999) return 'application-defined';
  return 'not a valid close code';
}
