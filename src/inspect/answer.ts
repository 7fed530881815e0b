/**
 * Phase answer: a refusal and why (rejection.ts), a 101 that must not become a tunnel (its
 * Sec-WebSocket-Accept), and what a valid 101 negotiated (negotiation.ts).
 */

import { createHash } from 'node:crypto';
import type { Finding, FindingCodeOf } from '../session/finding.js';
import { finding } from './finding.js';
import { inspectNegotiation } from './negotiation.js';
import { rejectionFinding } from './rejection.js';
import { hasToken, headerValue, headerValues } from '../wire/http-head.js';
import type { Handshake, UpstreamAnswer } from '../session/session.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function expectedAccept(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
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

export function inspectAnswer(hs: Handshake, answer: UpstreamAnswer): Finding<FindingCodeOf<'answer'>>[] {
  const res = answer.response;
  if (res.status !== 101) return [rejectionFinding(hs, answer)];
  const problems = acceptProblems(hs, answer);
  if (problems.length === 0) return inspectNegotiation(hs, answer);
  return [
    finding(
      'upgrade-accept-invalid',
      `The backend answered 101 but the handshake is invalid (${problems.join('; ')}): wstap relayed the answer and did not open a tunnel.`,
      'A real WebSocket server computes Sec-WebSocket-Accept from the key. Something else answered: a misconfigured proxy, ' +
        'a hand-written endpoint, or an attempt at request smuggling.',
    ),
  ];
}
