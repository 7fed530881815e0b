/** A FrameDecoder (src/tap/frame-decoder.ts) on its own, with what it emits collected. */
import type { DecodedMessage, ProtocolViolation, Side } from '../../src/session/message.js';
import { FrameDecoder } from '../../src/tap/frame-decoder.js';

export function decoder(
  from: Side,
  opts: { deflate?: boolean; max?: number } = {},
): { d: FrameDecoder; messages: DecodedMessage[]; violations: ProtocolViolation[] } {
  const messages: DecodedMessage[] = [];
  const violations: ProtocolViolation[] = [];
  const d = new FrameDecoder({
    from,
    deflate: opts.deflate ?? false,
    maxMessageBytes: opts.max ?? 1 << 20,
    onMessage: (m) => messages.push(m),
    onViolation: (v) => violations.push(v),
  });
  return { d, messages, violations };
}
