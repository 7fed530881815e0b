/** The close codes of RFC 6455 (7.4) and the registry, and what they mean: plain data, shared with the live view's page. */

/** The standard close codes and what they mean. */
export const CLOSE_CODES: Record<number, string> = {
  1000: 'normal closure',
  1001: 'going away: a page closed or a server shutting down',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code in the close frame',
  1006: 'abnormal closure: the connection ended without a close frame',
  1007: 'invalid payload data, such as bad UTF-8',
  1008: 'policy violation, typically authentication or Origin',
  1009: 'message too big',
  1010: 'mandatory extension missing',
  1011: 'internal server error',
  1012: 'service restart',
  1013: 'try again later',
  1014: 'bad gateway',
  1015: 'TLS handshake failure',
};

export function closeCodeMeaning(code: number): string {
  const known = CLOSE_CODES[code];
  if (known) return known;
  if (code >= 3000 && code <= 3999) return 'registered by a library or framework';
  if (code >= 4000 && code <= 4999) return 'application-defined';
  return 'not a valid close code';
}
