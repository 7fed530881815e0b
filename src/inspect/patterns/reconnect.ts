/**
 * Phase pattern: a reconnect loop. One client (its address, Origin, path and user agent) opens
 * a session, it ends, it opens the next within seconds, and each one ends the same way. The
 * cause of the loop is how each session ended, and the fix follows from it: a 1008 loop is an
 * authentication problem, a 403 loop an Origin problem, a 1006 loop a backend or an
 * intermediary cutting connections, an unreachable backend a backend that is down.
 */
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import { span } from './units.js';

/** How one attempt of a client ended: a stable key and the words for it. */
export interface AttemptEnd {
  /** e.g. "close 1008 by server", "403 from the backend", "1006 (no close frame)", "backend unreachable (ECONNREFUSED)". */
  cause: string;
  /** The WebSocket close code, when the session was tunnelled. */
  code?: number;
  /** The backend's status, when it refused the upgrade. */
  status?: number;
  /** The upstream error code, when the backend could not be reached. */
  error?: string;
  /** The close reason, when there was one. */
  reason?: string;
}

export interface ReconnectLoop {
  /** Who: "127.0.0.1, Origin http://localhost:3000, /ws". */
  client: string;
  /** Attempts in the loop so far. */
  count: number;
  /** From the first attempt's start to the last one's, ms. */
  spanMs: number;
  end: AttemptEnd;
  /** The ids of the loop's sessions (the newest last). */
  sessions: readonly string[];
}

/** Attempts (with the same end) before a loop is named. */
export const LOOP_MIN = 3;
/** The longest gap between one attempt's end and the next one's start, ms. */
export const LOOP_GAP_MS = 30_000;

function hintFor(e: AttemptEnd): string {
  const reason = e.reason ?? '';
  if (e.code === 1008 || e.status === 401 || /auth|token|credential/i.test(reason)) {
    return (
      'Each attempt fails authentication and the client retries at once: fix the credential (a token in the query string, a cookie or a ' +
      'subprotocol entry; browsers cannot set Authorization on a WebSocket, and an expired token needs a refresh before the reconnect), ' +
      'and give the reconnect a growing backoff so a failure does not become a storm.'
    );
  }
  if (e.status === 403) {
    return "Each upgrade is refused (403): usually the Origin is not in the backend's allowed origins. Add the frontend's exact origin, and back off on a refused upgrade instead of retrying at once.";
  }
  if (e.status !== undefined)
    return `The backend refuses each upgrade with ${e.status}: read the upgrade-rejected finding of one of these sessions, and back off between attempts.`;
  if (e.error !== undefined)
    return 'The backend cannot be reached at each attempt: start it (or fix --target), and give the client a growing backoff.';
  if (e.code === 1006) {
    return (
      'Each connection is cut without a close frame: the backend crashes or restarts, or something in between (a proxy, a load ' +
      "balancer's idle timeout, a dev server's HMR socket) cuts it. Look at the backend's logs at these moments and at the intermediaries' timeouts."
    );
  }
  if (e.code === 1011 || e.code === 1012 || e.code === 1013)
    return `The backend closes each session with ${e.code}: its logs at these moments have the error; the client should back off.`;
  return `Each session ends with ${e.cause} and the client opens the next one at once: find why the ${e.code !== undefined ? 'close is sent' : 'session ends'}, and back off between attempts.`;
}

export function inspectReconnectLoop(loop: ReconnectLoop): Finding<FindingCodeOf<'pattern'>> | undefined {
  if (loop.count < LOOP_MIN) return undefined;
  const period = loop.count > 1 ? loop.spanMs / (loop.count - 1) : 0;
  return finding(
    'reconnect-loop',
    `${loop.client} opened ${loop.count} sessions in ${span(loop.spanMs)} (one every ${span(period)}), each ended with ${loop.end.cause}.`,
    hintFor(loop.end),
  );
}
