/**
 * Phase pattern: a dead heartbeat. One side pings at a steady interval (a WebSocket ping), the
 * other stops answering, and the session dies: the usual way a server tells a client that is
 * gone (or frozen) from a live one. The finding says which side stopped, when, and how the
 * session ended after the last pong.
 */
import type { Side } from '../../session/message.js';
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import { secs } from './units.js';

export interface Heartbeat {
  /** The side that pinged. */
  pinger: Side;
  /** Pings it sent, and how many of them the other side answered. */
  pings: number;
  answered: number;
  /** The pings at the end with no pong. */
  unansweredAtEnd: number;
  /** The median gap between its pings, ms. */
  intervalMs: number;
  /** From the last pong (or, with none, the first ping) to the end of the session, ms. */
  silentForMs: number;
  /** How the session ended: "1006 (no close frame)", "close 1011 by the server". */
  ended: string;
  /** Which heartbeat: "WebSocket pings", "Socket.IO/engine.io pings (\"2\")", "application pings ({\"type\":\"ping\"})". */
  via?: string;
}

/** Unanswered pings at the end before a heartbeat is called dead. */
export const MISSED_MIN = 2;

export function inspectHeartbeat(h: Heartbeat): Finding<FindingCodeOf<'pattern'>> | undefined {
  if (h.pings < MISSED_MIN || h.unansweredAtEnd < MISSED_MIN) return undefined;
  const other: Side = h.pinger === 'server' ? 'client' : 'server';
  const before = h.answered ? `answered ${h.answered} pongs, then none for the last ${h.unansweredAtEnd}` : `answered none of ${h.pings}`;
  const hint =
    other === 'client'
      ? 'The client stopped answering pings: a browser answers them itself unless its tab was frozen or suspended, or its network went away; a non-browser client must answer pings (ws and websockets do; a hand-made client may not). ' +
        "If the client is alive, make the server's pong timeout longer than a suspended tab's pause, and have the client reconnect when it wakes."
      : "The server stopped answering the client's pings: it is overloaded, blocked (a synchronous call in its event loop) or gone; its logs at this moment say which.";
  return finding(
    'heartbeat-missed',
    `The ${h.pinger} pinged every ${secs(h.intervalMs)}${h.via && h.via !== 'WebSocket pings' ? ` (${h.via})` : ''}; the ${other} ${before}, and the session ended ${secs(h.silentForMs)} after ${h.answered ? 'the last pong' : 'the first ping'} (${h.ended}).`,
    hint,
  );
}
