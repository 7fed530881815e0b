/**
 * Redaction at the edge: everything that leaves wstap for a log or a file passes
 * through these functions first. The forwarded bytes are never touched.
 */
import { SECRET_HEADER, TOKEN_PARAM, tokenSubprotocolIndexes } from './credentials.js';
import { queryName } from '../wire/query.js';

export const REDACTED = '[redacted]';

/** A header line as written to logs and recordings. */
export interface LoggedHeader {
  name: string;
  value: string;
}

/** Three dot-separated base64url runs of 8 or more characters: a JWT, wherever it appears. */
const JWT_ANYWHERE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;

const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-') TOKEN_CHAR[c.charCodeAt(0)] = 1;

/**
 * Whether a text has a dot after eight base64url characters: the necessary start of
 * a JWT. The check is a scan for dots, so the regular expression (about 10 µs on a
 * kilobyte of prose) runs only on texts that can hold a token.
 */
function mayHoldJwt(text: string): boolean {
  for (let i = text.indexOf('.', 8); i >= 0; i = text.indexOf('.', i + 1)) {
    let k = i - 8;
    for (; k < i; k++) {
      const c = text.charCodeAt(k);
      if (c > 127 || TOKEN_CHAR[c] === 0) break;
    }
    if (k === i) return true;
  }
  return false;
}

/**
 * What is left of a JWT that a preview or a cut cut short: its header ("eyJ", base64 of '{"'),
 * a dot and the start of its claims. A whole JWT matches JWT_ANYWHERE first.
 */
const JWT_CUT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?/g;

/** A text with every JWT-shaped run replaced, a JWT cut short included. */
export function redactJwts(text: string): string {
  return mayHoldJwt(text) ? text.replace(JWT_ANYWHERE, REDACTED).replace(JWT_CUT, REDACTED) : text;
}

/** A request target with token-like query values (and JWT-shaped path segments) replaced. */
/** A path parameter: /p;name=value (Java servlets' ;jsessionid=...). */
const PATH_PARAM = /;([^;/?#=]+)=([^;/?#]*)/g;

export function redactTarget(target: string): string {
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const params = rawPath.includes(';')
    ? rawPath.replace(PATH_PARAM, (all, name: string) => (TOKEN_PARAM.test(queryName(name)) ? `;${name}=${REDACTED}` : all))
    : rawPath;
  const path = redactJwts(params);
  if (q < 0) return path;
  const query = target
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return pair;
      return TOKEN_PARAM.test(queryName(pair.slice(0, eq))) ? `${pair.slice(0, eq)}=${REDACTED}` : redactJwts(pair);
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

const SECRET_KEY_WORD = /token|secret|password|passwd|authorization|api[_-]?key|apikey|cookie|session[_-]?id|jwt/i;

/**
 * Whether redactPayloadText could change the UTF-8 text in `bytes`: a JSON key with a
 * secret-looking name before a colon, or a dot after eight base64url characters. It
 * may say yes when the redaction would change nothing, never no when it would; the
 * recorder takes its fast path (no string, no regular expression) only on a no.
 */
export function payloadMayHoldSecret(bytes: Buffer): boolean {
  for (let i = bytes.indexOf(0x2e, 8); i >= 0; i = bytes.indexOf(0x2e, i + 1)) {
    let k = i - 8;
    for (; k < i; k++) if (TOKEN_CHAR[bytes[k]!] !== 1) break;
    if (k === i) return true;
  }
  for (let colon = bytes.indexOf(0x3a); colon >= 0; colon = bytes.indexOf(0x3a, colon + 1)) {
    // Back over whitespace (any non-ASCII byte counts: \s also matches Unicode spaces).
    let q = colon - 1;
    while (q >= 0 && (bytes[q] === 0x20 || (bytes[q]! >= 0x09 && bytes[q]! <= 0x0d) || bytes[q]! >= 0x80)) q--;
    if (q < 1 || bytes[q] !== 0x22) continue;
    const open = bytes.lastIndexOf(0x22, q - 1);
    if (open >= 0 && SECRET_KEY_WORD.test(bytes.toString('latin1', open + 1, q))) return true;
  }
  return false;
}

/**
 * A message payload as text, with secret-looking JSON fields and JWTs replaced; also a
 * field whose value runs to the end of the text (a preview, a message the tap kept only
 * the start of, or one its sender cut).
 */
export function redactPayloadText(text: string): string {
  const fields = text.replace(SECRET_JSON_KEY, `"$1"$2"${REDACTED}"`).replace(SECRET_JSON_TAIL, `"$1"$2"${REDACTED}`);
  return redactJwts(fields);
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
