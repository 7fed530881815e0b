/** Phase upstream: reaching the backend, and what it says about its own health. */
import type { Finding, FindingCodeOf } from '../session/finding.js';
import type { UpstreamFailure } from '../session/session.js';
import type { Target } from '../wire/target.js';
import { finding } from './finding.js';

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'EUPSTREAMEND', 'ERR_STREAM_PREMATURE_CLOSE']);
const UNREACHABLE_CODES = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

/** How the hints name the place the target came from: the proxy's --target, or the URL given to wstap check. */
function wordsFor(who: 'proxy' | 'check', target: Target) {
  return who === 'check'
    ? {
        names: 'the URL names the right host and port',
        fromHost: `ws://localhost:${target.port}/...`,
        hostIn: 'the host in the URL',
        hostPortIn: 'the host and port in the URL',
        plain: 'ws:// in the URL',
        tls: 'wss:// in the URL',
        namesIt: 'that the URL names it',
        tryCheck: '',
      }
    : {
        names: '--target names the right host and port',
        fromHost: `--target http://localhost:${target.port}`,
        hostIn: 'the host in --target',
        hostPortIn: 'the host and port in --target',
        plain: 'http:// (or ws://) in --target',
        tls: 'https:// or wss:// in --target',
        namesIt: 'that --target names it',
        tryCheck: ' Try the same path with "wstap check".',
      };
}

/**
 * OpenSSL's reason out of its error string ("80FC...:error:0A00010B:SSL routines:
 * ssl3_get_record:wrong version number:../deps/openssl/...c:350:" → "wrong version number");
 * other messages as they are, on one line.
 */
export function tlsReason(message: string): string {
  const m = /error:[0-9A-F]+:[^:]*routines:[^:]*:([^:]+):/i.exec(message);
  return (m ? m[1]! : message).replace(/\s+/g, ' ').trim();
}

/** Plain HTTP answered a TLS hello: OpenSSL reads the answer as a record of an unknown version. */
const PLAIN_ANSWER = /wrong version number|packet length too long|http request|unknown protocol/i;
const CERT_PROBLEM = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

function tlsFinding(where: string, code: string, message: string, plain: string): Finding<'upstream-tls'> {
  const reason = tlsReason(message);
  if (PLAIN_ANSWER.test(message))
    return finding(
      'upstream-tls',
      `${where} answered the TLS handshake in plain text (${code}: ${reason}): the backend speaks plain HTTP there, not TLS.`,
      `Use ${plain}; or point at the port where the backend serves TLS.`,
    );
  if (CERT_PROBLEM.test(code))
    return finding(
      'upstream-tls',
      `The backend's certificate at ${where} is not trusted (${code}: ${reason}).`,
      `For a development backend with a self-signed certificate, add --insecure (wstap then skips verification), or give Node the CA ` +
        `with NODE_EXTRA_CA_CERTS=/path/to/ca.pem. Otherwise fix the certificate: its names, its dates and its chain.`,
    );
  return finding(
    'upstream-tls',
    `The TLS handshake with ${where} failed (${code}: ${reason}).`,
    `For a development backend with a self-signed certificate, add --insecure. If the backend speaks plain HTTP, use ${plain}.`,
  );
}

/**
 * The finding for a failure to reach, or to hear from, the target. `who`: the proxy (its hints
 * speak of --target) or wstap check (of the URL it was given).
 */
export function inspectUpstreamFailure(
  target: Target,
  failure: UpstreamFailure,
  phase?: 'connect' | 'answer',
  who: 'proxy' | 'check' = 'proxy',
): Finding<FindingCodeOf<'upstream'>> {
  const where = `${target.host}:${target.port}`;
  const w = wordsFor(who, target);
  const { code } = failure;
  if (code === 'ECONNREFUSED') {
    return finding(
      'upstream-refused',
      `The backend at ${where} refused the connection (ECONNREFUSED): nothing listens there.`,
      `Start the backend (docker compose up -d backend) and check that it listens on port ${target.port} on an address wstap can reach ` +
        `(0.0.0.0 inside a container, not 127.0.0.1), that the port is published ("${target.port}:${target.port}" in the compose file), ` +
        `and that ${w.names}.`,
    );
  }
  if (DNS_CODES.has(code)) {
    return finding(
      'upstream-dns',
      `The host name "${target.host}" does not resolve (${code}).`,
      `A compose service name resolves only inside its compose network. From the host, use localhost and the published port ` +
        `(${w.fromHost}); inside compose, run wstap as a service on the same network as "${target.host}" ` +
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
            `behind a server that waits for more. Check its logs.${w.tryCheck}`
        : `Packets are dropped on the way: a firewall, a wrong address or a container that is not on the network. ` +
            `Check ${w.hostPortIn} and that the backend container runs.`,
    );
  }
  if (UNREACHABLE_CODES.has(code)) {
    return finding(
      'upstream-timeout',
      `${where} is unreachable (${code}).`,
      `The address is not routable from where wstap runs: check ${w.hostIn} and the container's network.`,
    );
  }
  if (code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'EPROTO') {
    return tlsFinding(where, code, failure.message, w.plain);
  }
  if (RESET_CODES.has(code)) {
    return finding(
      'upstream-reset',
      `The backend at ${where} closed the connection before answering (${code}).`,
      `The backend crashed or dropped the request: look at its logs at this moment. A backend that only speaks TLS ` +
        `closes plain connections this way; then use ${w.tls}.`,
    );
  }
  return finding(
    'upstream-reset',
    `The connection to ${where} failed (${code}: ${failure.message}).`,
    `Check that the backend runs and ${w.namesIt}.`,
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
