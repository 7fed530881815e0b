/** Phase upstream: reaching the backend, and what it says about its own health. */
import type { Finding, FindingCodeOf } from '../session/finding.js';
import type { UpstreamFailure } from '../session/session.js';
import type { Target } from '../wire/target.js';
import { finding } from './finding.js';

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EUPSTREAMEND', 'ERR_STREAM_PREMATURE_CLOSE']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** The finding for a failure to reach, or to hear from, the target. */
export function inspectUpstreamFailure(target: Target, failure: UpstreamFailure, phase?: 'connect' | 'answer'): Finding<FindingCodeOf<'upstream'>> {
  const where = `${target.host}:${target.port}`;
  const { code } = failure;
  if (code === 'ECONNREFUSED') {
    return finding(
      'upstream-refused',
      `The backend at ${where} refused the connection (ECONNREFUSED): nothing listens there.`,
      `Start the backend (docker compose up -d backend) and check that it listens on port ${target.port} on an address wstap can reach ` +
        `(0.0.0.0 inside a container, not 127.0.0.1), that the port is published ("${target.port}:${target.port}" in the compose file), ` +
        `and that --target names the right host and port.`,
    );
  }
  if (DNS_CODES.has(code)) {
    return finding(
      'upstream-dns',
      `The host name "${target.host}" does not resolve (${code}).`,
      `A compose service name resolves only inside its compose network. From the host, use localhost and the published port ` +
        `(--target http://localhost:${target.port}); inside compose, run wstap as a service on the same network as "${target.host}" ` +
        `and check the spelling against the service name or its network aliases.`,
    );
  }
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') {
    const answer = phase === 'answer';
    return finding(
      'upstream-timeout',
      answer
        ? `The backend at ${where} accepted the connection but sent no answer in time (${failure.message}).`
        : `No connection to ${where} in time (${failure.message}).`,
      answer
        ? `The backend is busy or stuck (a blocked event loop, a worker pool at its limit), or this path is not a WebSocket endpoint ` +
            `behind a server that waits for more. Check its logs; try the same path with "wstap check".`
        : `Packets are dropped on the way: a firewall, a wrong address or a container that is not on the network. ` +
            `Check the host and port in --target and that the backend container runs.`,
    );
  }
  if (UNREACHABLE_CODES.has(code)) {
    return finding(
      'upstream-timeout',
      `${where} is unreachable (${code}).`,
      `The address is not routable from where wstap runs: check the host in --target and the container's network.`,
    );
  }
  if (code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'EPROTO') {
    return finding(
      'upstream-tls',
      `The TLS handshake with ${where} failed (${code}: ${failure.message}).`,
      `For a development backend with a self-signed certificate, add --insecure. If the backend speaks plain HTTP, ` +
        `use http:// (or ws://) in --target.`,
    );
  }
  if (RESET_CODES.has(code)) {
    return finding(
      'upstream-reset',
      `The backend at ${where} closed the connection before answering (${code}).`,
      `The backend crashed or dropped the request: look at its logs at this moment. A backend that only speaks TLS ` +
        `closes plain connections this way; then use https:// or wss:// in --target.`,
    );
  }
  return finding(
    'upstream-reset',
    `The connection to ${where} failed (${code}: ${failure.message}).`,
    `Check that the backend runs and that --target names it.`,
  );
}

/** `wstap check --health`: the health path answered, but not with 2xx. */
export function inspectHealthAnswer(shownUrl: string, path: string, status: number, excerpt: string): Finding<'health-failed'> | undefined {
  if (status >= 200 && status < 300) return undefined;
  return finding(
    'health-failed',
    `GET ${shownUrl} answered ${status}${excerpt ? `: "${excerpt}"` : ''}.`,
    status === 404
      ? `Nothing is served at ${path}: check the backend's health route (--health /health, /healthz, /api/health).`
      : status >= 500
        ? 'The backend runs but reports itself unhealthy, or fails: read its logs (docker compose logs backend) and its dependencies (database, cache).'
        : "The health path answers, but not with 2xx: read the body above and the backend's logs.",
  );
}
