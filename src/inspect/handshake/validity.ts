import type { Finding, FindingCodeOf } from '../../session/finding.js';
import { finding } from '../finding.js';
import { hasToken, headerValue, headerValues } from '../../wire/http-head.js';
import type { Handshake } from '../../session/session.js';

/** The RFC 6455 section 4.1 requirements a proxy can check, as a list of broken rules. */
export function handshakeProblems(hs: Handshake): string[] {
  const { request: r } = hs;
  const problems: string[] = [];
  if (r.method !== 'GET') problems.push(`method is ${r.method}, must be GET`);
  if (r.version !== '1.1') problems.push(`HTTP/${r.version}, must be HTTP/1.1`);
  if (!hasToken(r.headers, 'upgrade', 'websocket')) problems.push('Upgrade header does not contain "websocket"');
  if (!hasToken(r.headers, 'connection', 'upgrade')) problems.push('Connection header does not contain "Upgrade"');
  const versions = headerValues(r.headers, 'sec-websocket-version');
  if (versions.length === 0) problems.push('Sec-WebSocket-Version is missing (must be 13)');
  else if (versions.length > 1 || versions[0] !== '13') problems.push(`Sec-WebSocket-Version is ${versions.join(', ')}, must be 13`);
  const keys = headerValues(r.headers, 'sec-websocket-key');
  if (keys.length === 0) problems.push('Sec-WebSocket-Key is missing');
  else if (keys.length > 1) problems.push('Sec-WebSocket-Key appears more than once');
  else if (!/^[A-Za-z0-9+/]{22}==$/.test(keys[0]!)) problems.push('Sec-WebSocket-Key is not 16 random bytes in base64');
  if (headerValue(r.headers, 'host') === undefined) problems.push('Host header is missing');
  else if (headerValues(r.headers, 'host').length > 1) problems.push('Host header appears more than once');
  return problems;
}

export function invalidHandshakeFinding(problems: readonly string[]): Finding<FindingCodeOf<'handshake'>> {
  return finding(
    'handshake-invalid',
    `Not a valid WebSocket upgrade: ${problems.join('; ')}.`,
    'Browsers and WebSocket libraries send valid upgrades: a hand-written client (curl, a script) or a proxy in between ' +
      'changed the request. Send GET with HTTP/1.1, Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Version: 13 ' +
      'and a fresh base64 Sec-WebSocket-Key.',
  );
}

export function inspectHandshakeValidity(hs: Handshake): Finding<FindingCodeOf<'handshake'>>[] {
  const problems = handshakeProblems(hs);
  return problems.length ? [invalidHandshakeFinding(problems)] : [];
}
