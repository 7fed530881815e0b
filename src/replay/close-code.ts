/**
 * Playing a recorded close with ws, which sends only what RFC 6455 allows: a code it accepts
 * (1000-1003, 1007-1014, 3000-4999) and a reason of at most 123 bytes. A recording can hold
 * anything a wire carried (1004, 1005, 1006, 2000, a long reason): those are played as near
 * as ws can.
 */
import type WebSocket from 'ws';

const SENDABLE = (code: number): boolean => (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);

/** At most 123 bytes of UTF-8, never cutting a character in two. */
export function closeReason(reason: string): string {
  const b = Buffer.from(reason, 'utf8');
  if (b.length <= 123) return reason;
  let cut = 123;
  while (cut > 0 && (b[cut]! & 0xc0) === 0x80) cut--;
  return b.subarray(0, cut).toString('utf8');
}

/**
 * Closes as recorded: 1005 (no code) with an empty close frame, 1006 (no close frame) by cutting
 * the connection, a code ws cannot send by cutting it too (the peer saw a protocol error then).
 */
export function closeAsRecorded(ws: WebSocket, code: number | undefined, reason: string): void {
  if (code === undefined || code === 1005) ws.close();
  else if (SENDABLE(code)) ws.close(code, closeReason(reason));
  else ws.terminate();
}
