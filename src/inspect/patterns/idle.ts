/**
 * Phase pattern: an idle timeout. Sessions that carried nothing for the same span and then
 * ended without a close frame were cut by something that times out idle connections: a
 * reverse proxy, a load balancer, a CDN. The span names the usual suspects; the fix is a
 * heartbeat shorter than the span, or a longer timeout there.
 */
import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import { secs } from './units.js';

export interface IdleCluster {
  /** The idle span the sessions ended after (their median), ms. */
  spanMs: number;
  /** How many sessions ended after about that span. */
  count: number;
  sessions: readonly string[];
  /** The interval of the heartbeat those sessions had (the median), when they had one, ms. */
  heartbeatMs?: number;
}

/** Sessions that must end after the same idle span before it is named. */
export const IDLE_MIN = 2;

/** The idle timeouts people meet, and where they are set. */
export const KNOWN_IDLE_TIMEOUTS: readonly { seconds: number; what: string; fix: string }[] = [
  {
    seconds: 60,
    what: "nginx's proxy_read_timeout (60 s by default)",
    fix: 'proxy_read_timeout 3600s; (and proxy_send_timeout) in the location that proxies the WebSocket',
  },
  {
    seconds: 60,
    what: 'an AWS Application Load Balancer (idle timeout 60 s by default)',
    fix: "the load balancer's idle_timeout.timeout_seconds attribute",
  },
  { seconds: 100, what: 'Cloudflare (100 s without data on a proxied WebSocket)', fix: 'a heartbeat: the 100 s cannot be raised on most plans' },
  { seconds: 240, what: 'an Azure Load Balancer (4 min idle timeout by default)', fix: "the load balancer rule's idle timeout (up to 30 min)" },
  { seconds: 350, what: 'an AWS Network Load Balancer (350 s idle timeout)', fix: 'a heartbeat (TCP keep-alive below 350 s, or a WebSocket ping)' },
];

/** The known timeouts within 10% (or 2 s) of the span. */
export function suspectsFor(spanMs: number): (typeof KNOWN_IDLE_TIMEOUTS)[number][] {
  const s = spanMs / 1000;
  return KNOWN_IDLE_TIMEOUTS.filter((k) => Math.abs(k.seconds - s) <= Math.max(2, k.seconds * 0.1));
}

export function inspectIdleTimeout(c: IdleCluster): Finding<FindingCodeOf<'pattern'>> | undefined {
  if (c.count < IDLE_MIN) return undefined;
  const suspects = suspectsFor(c.spanMs);
  const who = suspects.length
    ? `It matches ${suspects.map((k) => k.what).join(', or ')}.`
    : `No common default matches: something between the client and the backend is set to about ${secs(c.spanMs)} (a proxy_read_timeout, a load balancer's idle timeout, a dev server's proxy).`;
  const beat = Math.max(1, Math.floor(c.spanMs / 2000));
  const raise = suspects.length ? ` Or raise the timeout: ${suspects.map((k) => k.fix).join('; or ')}.` : ' Or raise that timeout.';
  // A heartbeat at (or near) the timeout races it: the mattermost case, a 60 s ping against a 60 s timeout.
  const racing =
    c.heartbeatMs !== undefined && c.heartbeatMs >= c.spanMs * 0.9
      ? ` Their heartbeat came every ${secs(c.heartbeatMs)}: not shorter than the timeout, so it races it and loses.`
      : '';
  return finding(
    'idle-timeout',
    `${c.count} sessions ended without a close frame (or with the server's 1001) after ${secs(c.spanMs)} without traffic. ${who}${racing}`,
    `Send a heartbeat more often than every ${secs(c.spanMs)} (a ping every ${beat} s, from the server or the client).${raise}`,
  );
}
