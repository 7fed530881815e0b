/** A decoded message as the tap hands it to sinks, for unit tests of what sinks make of one. */
import type { Side, WsMessage } from '../../src/session/message.js';

/**
 * A whole, uncompressed, one-frame message; `over` sets anything else. Its wire size is the
 * payload plus `headerBytes` (2 for a server's short frame, 6 for a client's masked one).
 */
export function wsMessage(
  over: Partial<WsMessage> & Pick<WsMessage, 'kind' | 'opcode' | 'data'>,
  base: { from: Side; headerBytes: number },
): WsMessage {
  return {
    from: base.from,
    size: over.data.length,
    wireSize: over.data.length + base.headerBytes,
    compressed: false,
    frames: 1,
    firstByteAt: 0,
    lastByteAt: 1,
    truncated: false,
    ...over,
  };
}
