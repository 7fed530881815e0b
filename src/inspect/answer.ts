import { createHash } from 'node:crypto';
import type { Finding, FindingCodeOf } from '../session/finding.js';
import { finding } from './finding.js';
import { hasToken, headerValue, headerValues } from '../wire/http-head.js';
import type { Handshake, UpstreamAnswer } from '../session/session.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function expectedAccept(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** Why a 101 answer must not become a tunnel, or an empty list when it may. */
export function acceptProblems(hs: Handshake, answer: UpstreamAnswer): string[] {
  const res = answer.response;
  const problems: string[] = [];
  if (!hasToken(res.headers, 'upgrade', 'websocket')) problems.push('no "Upgrade: websocket"');
  if (!hasToken(res.headers, 'connection', 'upgrade')) problems.push('no "Connection: Upgrade"');
  const accepts = headerValues(res.headers, 'sec-websocket-accept');
  const key = headerValue(hs.request.headers, 'sec-websocket-key') ?? '';
  if (accepts.length === 0) problems.push('no Sec-WebSocket-Accept');
  else if (accepts.length > 1) problems.push('more than one Sec-WebSocket-Accept');
  else if (accepts[0] !== expectedAccept(key)) {
    problems.push(`Sec-WebSocket-Accept is "${accepts[0]}", expected "${expectedAccept(key)}"`);
  }
  return problems;
}

function rejectionHint(hs: Handshake, answer: UpstreamAnswer): string {
  const status = answer.response.status;
  const body = (answer.bodyExcerpt ?? '').toLowerCase();
  if (/more than one origin|multiple.*origin/.test(body) || (status === 400 && hs.origins.length > 1)) {
    return 'The backend refuses several Origin lines. Remove the proxy or middleware that adds the second one, or run wstap with --normalize-origin.';
  }
  if (status === 403 || /origin/.test(body)) {
    const origin = hs.origins[0];
    return origin
      ? `The backend refuses the Origin "${origin}": add it to the backend's allowed origins (its CORS / WebSocket origin list).`
      : 'The backend refuses the request: it may require an Origin header or a credential. Compare with a request from the browser.';
  }
  if (status === 401) return 'The backend requires a credential: send a valid token (query parameter, cookie or subprotocol).';
  if (status === 404) return `Nothing is served at ${hs.request.target.split('?')[0]}: check the WebSocket path in the frontend's URL (e.g. NEXT_PUBLIC_WS_URL=ws://localhost:8001/ws) against the backend's routes.`;
  if (status === 426) return 'The backend wants another protocol version (see its Sec-WebSocket-Version answer).';
  if (status === 200 || status === 301 || status === 302 || status === 307 || status === 308) {
    return 'The backend answered as for an ordinary page: this path is not a WebSocket endpoint, or a proxy in front of the backend does not forward upgrades.';
  }
  if (status >= 500) return 'The backend failed while handling the upgrade: look at its logs at this moment.';
  return 'Read the backend\'s answer (status and body above) and its logs.';
}

export function inspectAnswer(hs: Handshake, answer: UpstreamAnswer): Finding<FindingCodeOf<'answer'>>[] {
  const res = answer.response;
  if (res.status !== 101) {
    const body = answer.bodyExcerpt?.trim();
    return [
      finding(
        'upgrade-rejected',
        `The backend answered the upgrade with ${res.status} ${res.reason}${body ? `: "${body.slice(0, 200)}"` : ''}.`,
        rejectionHint(hs, answer),
      ),
    ];
  }
  const problems = acceptProblems(hs, answer);
  if (problems.length === 0) return [];
  return [
    finding(
      'upgrade-accept-invalid',
      `The backend answered 101 but the handshake is invalid (${problems.join('; ')}): wstap relayed the answer and did not open a tunnel.`,
      'A real WebSocket server computes Sec-WebSocket-Accept from the key. Something else answered: a misconfigured proxy, ' +
        'a hand-written endpoint, or an attempt at request smuggling.',
    ),
  ];
}
