/**
 * The rules of RFC 6455 that a passive reader can check, each with a stable code (as ws's
 * WS_ERR_* codes): a protocol-error finding names its rule by code, and the README lists them.
 */
import type { ProtocolRule } from '../session/message.js';
import { isValidCloseCode, opcodeName } from '../wire/ws-frame.js';
import type { Side } from '../session/message.js';

/** What each rule says was broken, for the finding's message. */
export const PROTOCOL_RULES = {
  'length-too-large': 'a 64-bit payload length above 2^53 (the most significant bit must be 0)',
  'frame-after-close': 'a frame after the close frame (nothing may follow a close frame, RFC 6455 5.5.1)',
  'reserved-opcode': 'a reserved opcode',
  'rsv2-rsv3': 'the RSV2 or RSV3 bit set (no negotiated extension defines them)',
  'rsv1-without-deflate': 'the RSV1 bit set without a negotiated permessage-deflate',
  'rsv1-not-first': 'the RSV1 bit set on a continuation or control frame (only the first frame of a message may carry it)',
  'unmasked-client-frame': 'an unmasked frame from the client (clients must mask every frame, RFC 6455 5.1)',
  'masked-server-frame': 'a masked frame from the server (servers must not mask, RFC 6455 5.1)',
  'fragmented-control': 'a fragmented control frame (control frames must have FIN set, RFC 6455 5.5)',
  'control-too-long': 'a control frame with a payload over 125 bytes (RFC 6455 5.5)',
  'unexpected-continuation': 'a continuation frame without a message to continue',
  'expected-continuation': 'a new data frame while a fragmented message is still open (expected a continuation frame)',
  'invalid-utf8': 'invalid UTF-8 in a text message (RFC 6455 8.1)',
  'close-payload-1-byte': 'a close frame with a 1-byte payload (a close payload starts with a 2-byte code)',
  'invalid-close-code': 'an invalid close code',
  'close-reason-not-utf8': 'invalid UTF-8 in the close reason',
  'invalid-deflate-data': 'invalid compressed data',
} as const satisfies Record<ProtocolRule, string>;

export interface RuleBreach {
  rule: ProtocolRule;
  /** The rule's text with the facts of this frame (the opcode, the length, the code). */
  detail: string;
}

const breach = (rule: ProtocolRule, detail: string = PROTOCOL_RULES[rule]): RuleBreach => ({ rule, detail });

/** The facts of a frame header that the rules look at. */
export interface FrameHeaderFacts {
  /** The first header byte (FIN, RSV bits, opcode). */
  b0: number;
  masked: boolean;
  length: number;
}

/** Where a direction stands when a header arrives. */
export interface StreamFacts {
  from: Side;
  deflate: boolean;
  /** A close frame came already. */
  closed: boolean;
  /** A fragmented data message is open. */
  inMessage: boolean;
}

/** The first rule a frame header breaks, or undefined when it may be read. */
export function checkHeader(h: FrameHeaderFacts, s: StreamFacts): RuleBreach | undefined {
  const opcode = h.b0 & 0x0f;
  const fin = (h.b0 & 0x80) !== 0;
  const rsv1 = (h.b0 & 0x40) !== 0;
  if (s.closed) return breach('frame-after-close', `a frame after the close frame (${s.from}s must not send anything after close, RFC 6455 5.5.1)`);
  if (opcodeName(opcode) === undefined) return breach('reserved-opcode', `reserved opcode 0x${opcode.toString(16)}`);
  if (h.b0 & 0x30) return breach('rsv2-rsv3', 'RSV2 or RSV3 bit set (no negotiated extension defines them)');
  if (rsv1 && !s.deflate) return breach('rsv1-without-deflate', 'RSV1 bit set without a negotiated permessage-deflate');
  if (rsv1 && (opcode === 0 || opcode >= 0x8)) {
    return breach('rsv1-not-first', 'RSV1 bit set on a continuation or control frame (only the first frame of a message may carry it)');
  }
  if (s.from === 'client' && !h.masked) return breach('unmasked-client-frame');
  if (s.from === 'server' && h.masked) return breach('masked-server-frame');
  if (opcode >= 0x8) {
    if (!fin) return breach('fragmented-control');
    if (h.length > 125) return breach('control-too-long', `a control frame with a ${h.length}-byte payload (at most 125, RFC 6455 5.5)`);
    return undefined;
  }
  if (opcode === 0 && !s.inMessage) return breach('unexpected-continuation');
  if (opcode !== 0 && s.inMessage) return breach('expected-continuation');
  return undefined;
}

/** The first rule a close frame's payload breaks (the reason is checked for UTF-8 by the caller's validator). */
export function checkClosePayload(data: Buffer, isUtf8: (b: Buffer) => boolean): RuleBreach | undefined {
  if (data.length === 1) return breach('close-payload-1-byte');
  if (data.length < 2) return undefined;
  const code = data.readUInt16BE(0);
  if (!isValidCloseCode(code)) return breach('invalid-close-code', `invalid close code ${code}`);
  if (!isUtf8(data.subarray(2))) return breach('close-reason-not-utf8');
  return undefined;
}

export const lengthTooLarge = (): RuleBreach => breach('length-too-large');
export const invalidUtf8 = (): RuleBreach => breach('invalid-utf8');
export const invalidDeflate = (why: string): RuleBreach => breach('invalid-deflate-data', `invalid compressed data (${why})`);
