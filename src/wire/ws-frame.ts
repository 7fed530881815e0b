/**
 * The WebSocket frame (RFC 6455 5.2) as bytes: opcodes, header sizes, close codes, and
 * one encoder used by `wstap check`, the message path of the tunnel and the tests.
 */
import { randomFillSync } from 'node:crypto';

export type Opcode = 0x0 | 0x1 | 0x2 | 0x8 | 0x9 | 0xa;

export const OPCODES = {
  0x0: 'continuation',
  0x1: 'text',
  0x2: 'binary',
  0x8: 'close',
  0x9: 'ping',
  0xa: 'pong',
} as const satisfies Record<Opcode, string>;

export type OpcodeName = (typeof OPCODES)[Opcode];

export const OPCODE_OF = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const satisfies Record<
  OpcodeName,
  Opcode
>;

export function opcodeName(opcode: number): OpcodeName | undefined {
  return (OPCODES as Record<number, OpcodeName | undefined>)[opcode];
}

/** Total header size (2 to 14 bytes) from the second header byte. */
export function headerSize(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
}

export { CLOSE_CODES, closeCodeMeaning } from './close-codes.js';

/** A code that may appear in a close frame (1005, 1006 and 1015 are only ever reported, never sent). */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** The payload of a close frame: the code, then the reason in UTF-8 (no code: an empty payload). */
export function closePayload(code?: number, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const text = Buffer.from(reason, 'utf8');
  const out = Buffer.allocUnsafe(2 + text.length);
  out.writeUInt16BE(code, 0);
  text.copy(out, 2);
  return out;
}

export interface FrameSpec {
  opcode: number;
  payload: Buffer | string;
  /** Default true. */
  fin?: boolean;
  /** Set for the first frame of a permessage-deflate message. */
  rsv1?: boolean;
  /**
   * Mask the payload (a client's frames must be masked): true for a random key, or the
   * 4-byte key to use. Default false.
   */
  mask?: boolean | Buffer;
}

/** One frame on the wire. */
export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload, 'utf8') : spec.payload;
  const len = payload.length;
  const masked = spec.mask !== undefined && spec.mask !== false;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const head = 2 + lenBytes + (masked ? 4 : 0);
  const out = Buffer.allocUnsafe(head + len);
  out[0] = ((spec.fin ?? true) ? 0x80 : 0) | (spec.rsv1 ? 0x40 : 0) | (spec.opcode & 0x0f);
  const maskBit = masked ? 0x80 : 0;
  if (lenBytes === 0) out[1] = maskBit | len;
  else if (lenBytes === 2) {
    out[1] = maskBit | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = maskBit | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  if (!masked) {
    payload.copy(out, head);
    return out;
  }
  const key = Buffer.isBuffer(spec.mask) ? spec.mask : randomFillSync(Buffer.allocUnsafe(4));
  key.copy(out, head - 4, 0, 4);
  for (let i = 0; i < len; i++) out[head + i] = payload[i]! ^ key[i & 3]!;
  return out;
}
