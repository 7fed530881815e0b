/**
 * Redaction at the edge: everything that leaves wstap for a log or a file passes
 * through these functions first. The forwarded bytes are never touched.
 */
import { SECRET_HEADER, TOKEN_PARAM, tokenSubprotocolIndexes } from './credentials.js';

export const REDACTED = '[redacted]';

/** A header line as written to logs and recordings. */
export interface LoggedHeader {
  name: string;
  value: string;
}

const JWT_ANYWHERE = /[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;

/** A request target with token-like query values (and JWT-shaped path segments) replaced. */
export function redactTarget(target: string): string {
  const q = target.indexOf('?');
  const path = (q < 0 ? target : target.slice(0, q)).replace(JWT_ANYWHERE, REDACTED);
  if (q < 0) return path;
  const query = target
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      let name: string;
      try {
        name = decodeURIComponent(pair.slice(0, eq).replace(/\+/g, ' '));
      } catch {
        name = pair.slice(0, eq);
      }
      return TOKEN_PARAM.test(name) ? `${pair.slice(0, eq)}=${REDACTED}` : pair.replace(JWT_ANYWHERE, REDACTED);
    })
    .join('&');
  return `${path}?${query}`;
}

function redactCookie(value: string): string {
  return value
    .split(';')
    .map((part) => {
      const eq = part.indexOf('=');
      return eq < 0 ? part : `${part.slice(0, eq)}=${REDACTED}`;
    })
    .join(';');
}

function redactSetCookie(value: string): string {
  const semi = value.indexOf(';');
  const first = semi < 0 ? value : value.slice(0, semi);
  const eq = first.indexOf('=');
  const head = eq < 0 ? first : `${first.slice(0, eq)}=${REDACTED}`;
  return semi < 0 ? head : head + value.slice(semi);
}

function redactAuthorization(value: string): string {
  const sp = value.indexOf(' ');
  return sp < 0 ? REDACTED : `${value.slice(0, sp)} ${REDACTED}`;
}

export function redactSubprotocols(value: string): string {
  const entries = value.split(',').map((s) => s.trim());
  const secret = tokenSubprotocolIndexes(entries);
  return entries.map((e, i) => (secret.has(i) ? REDACTED : e)).join(', ');
}

export function redactHeaderValue(name: string, value: string): string {
  const lower = name.toLowerCase();
  if (lower === 'authorization' || lower === 'proxy-authorization') return redactAuthorization(value);
  if (lower === 'cookie') return redactCookie(value);
  if (lower === 'set-cookie') return redactSetCookie(value);
  if (lower === 'sec-websocket-protocol') return redactSubprotocols(value);
  if (SECRET_HEADER.test(name)) return REDACTED;
  if (lower === 'referer' || lower === 'location') return redactTarget(value);
  return value;
}

export function redactHeaders(headers: readonly { name: string; value: string }[]): LoggedHeader[] {
  return headers.map((h) => ({ name: h.name, value: redactHeaderValue(h.name, h.value) }));
}

const SECRET_JSON_KEY =
  /"((?:[A-Za-z_-]*(?:token|secret|password|passwd|authorization|api[_-]?key|apikey|cookie|session[_-]?id|jwt)[A-Za-z_-]*))"(\s*:\s*)"(?:[^"\\]|\\.)*"/gi;

/** A secret-looking JSON field whose value runs to the end of a cut text. */
const SECRET_JSON_TAIL =
  /"((?:[A-Za-z_-]*(?:token|secret|password|passwd|authorization|api[_-]?key|apikey|cookie|session[_-]?id|jwt)[A-Za-z_-]*))"(\s*:\s*)"(?:[^"\\]|\\.)*$/i;

/** A message payload as text, with secret-looking JSON fields and JWTs replaced (also when the text was cut). */
export function redactPayloadText(text: string): string {
  return text
    .replace(SECRET_JSON_KEY, `"$1"$2"${REDACTED}"`)
    .replace(SECRET_JSON_TAIL, `"$1"$2"${REDACTED}`)
    .replace(JWT_ANYWHERE, REDACTED);
}

/** The subprotocol a backend chose, redacted when it is (or would be, among the offered ones) a token. */
export function redactChosenProtocol(offered: readonly string[], chosen: string): string {
  const i = offered.indexOf(chosen);
  if (i < 0) return redactSubprotocols(chosen);
  return redactSubprotocols(offered.join(', ')).split(', ')[i] === REDACTED ? REDACTED : chosen;
}

/** A response's header lines, redacted; the chosen subprotocol is judged among the offered ones. */
export function redactResponseHeaders(headers: readonly { name: string; value: string }[], offeredProtocols: readonly string[]): LoggedHeader[] {
  return headers.map((h) =>
    h.name.toLowerCase() === 'sec-websocket-protocol'
      ? { name: h.name, value: redactChosenProtocol(offeredProtocols, h.value) }
      : { name: h.name, value: redactHeaderValue(h.name, h.value) },
  );
}

/** At most n bytes of UTF-8 text, never cutting a character in two. */
export function utf8Prefix(buf: Buffer, n: number): Buffer {
  if (buf.length <= n) return buf;
  let cut = n;
  while (cut > 0 && (buf[cut]! & 0xc0) === 0x80) cut--;
  return buf.subarray(0, cut);
}
