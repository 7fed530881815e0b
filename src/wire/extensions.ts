/**
 * Sec-WebSocket-Extensions as negotiated: which extensions the backend's answer chose, and
 * the parameters of permessage-deflate (RFC 7692 7.1).
 */
import { headerList, type HeaderLine } from './http-head.js';

export interface DeflateParams {
  /** The server resets its compression context after each message. */
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** LZ77 window of each sender, 8 to 15 bits (15 when not limited). */
  serverMaxWindowBits: number;
  clientMaxWindowBits: number;
}

/** The permessage-deflate parameters in a 101's extension answer, or undefined when it was not negotiated. */
export function negotiatedDeflate(headers: readonly HeaderLine[]): DeflateParams | undefined {
  for (const ext of headerList(headers, 'sec-websocket-extensions')) {
    const [name, ...params] = ext.split(';').map((s) => s.trim());
    if (name?.toLowerCase() !== 'permessage-deflate') continue;
    const out: DeflateParams = { serverNoContextTakeover: false, clientNoContextTakeover: false, serverMaxWindowBits: 15, clientMaxWindowBits: 15 };
    for (const p of params) {
      const [k, v] = p.split('=').map((s) => s.trim().replace(/^"|"$/g, ''));
      const key = k?.toLowerCase();
      const bits = v !== undefined && /^\d+$/.test(v) ? Math.min(15, Math.max(8, Number(v))) : 15;
      if (key === 'server_no_context_takeover') out.serverNoContextTakeover = true;
      else if (key === 'client_no_context_takeover') out.clientNoContextTakeover = true;
      else if (key === 'server_max_window_bits') out.serverMaxWindowBits = bits;
      else if (key === 'client_max_window_bits') out.clientMaxWindowBits = bits;
    }
    return out;
  }
  return undefined;
}
