/**
 * HTTP/1.x message heads as they were on the wire. The raw bytes are kept, so a head
 * can be forwarded byte for byte; the parsed view keeps header names in their case,
 * in their order, duplicates included.
 */

export interface HeaderLine {
  /** The name as sent (case kept). */
  name: string;
  /** The value with surrounding whitespace removed. */
  value: string;
  /** Byte offsets of the whole line (without its CRLF) inside the raw head. */
  start: number;
  end: number;
}

export interface RequestHead {
  method: string;
  target: string;
  /** "1.1", "1.0" */
  version: string;
  headers: HeaderLine[];
  /** The whole head including the final CRLF CRLF. */
  raw: Buffer;
}

export interface ResponseHead {
  version: string;
  status: number;
  reason: string;
  headers: HeaderLine[];
  raw: Buffer;
}

export class HeadParseError extends Error {
  override readonly name = 'HeadParseError';
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([^\s]+) HTTP\/(\d\.\d)$/;
const STATUS_LINE = /^HTTP\/(\d\.\d) (\d{3})(?: (.*))?$/;
// Field values: visible characters, spaces, tabs and obs-text; no CR, LF or NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Index just past the blank line that ends a head, or -1 when it has not arrived yet. */
export function headEnd(buf: Buffer): number {
  const i = buf.indexOf(CRLFCRLF);
  return i < 0 ? -1 : i + 4;
}

const CRLF = Buffer.from('\r\n');

/**
 * Strings every head repeats (header names; the values of headers that take few values),
 * shared across sessions: an idle proxy holds thousands of parsed heads. Bounded; values
 * that could be secrets (cookies, tokens, keys) are never kept here.
 */
const interned = new Map<string, string>();
const INTERN_LIMIT = 2048;
const SHARED_VALUES = new Set([
  'upgrade',
  'connection',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'origin',
  'host',
  'user-agent',
  'accept-encoding',
  'accept-language',
  'cache-control',
  'pragma',
  'server',
  'content-type',
]);

/** Longer strings are not shared: a client must not be able to park large strings in the cache. */
const INTERN_MAX_LENGTH = 128;

/** The shared copy of a validated name or value (never called before validation). */
function intern(s: string): string {
  if (s.length > INTERN_MAX_LENGTH) return s;
  const known = interned.get(s);
  if (known !== undefined) return known;
  if (interned.size < INTERN_LIMIT) interned.set(s, s);
  return s;
}

const isBlank = (b: number | undefined): boolean => b === 0x20 || b === 0x09;

/**
 * The first line and the header lines of a head. Names and values are cut from the bytes
 * one by one (not sliced from one string of the whole head, which every slice would
 * keep alive for as long as the session lives).
 */
function parseLines(raw: Buffer): { first: string; headers: HeaderLine[] } {
  const body = raw.subarray(0, raw.length - 4); // without the final CRLF CRLF
  const headers: HeaderLine[] = [];
  let pos = body.indexOf(CRLF);
  const first = body.toString('latin1', 0, pos < 0 ? body.length : pos);
  if (first.includes('\n')) throw new HeadParseError('bare LF line ending in the first line');
  while (pos >= 0) {
    const start = pos + 2;
    const next = body.indexOf(CRLF, start);
    const end = next < 0 ? body.length : next;
    pos = next;
    const lf = body.indexOf(0x0a, start);
    if (lf >= 0 && lf < end) throw new HeadParseError('bare LF line ending in a header line');
    if (isBlank(body[start])) throw new HeadParseError('obsolete line folding (a header line starting with whitespace)');
    const colon = body.indexOf(0x3a, start);
    if (colon <= start || colon >= end) {
      const line = body.toString('latin1', start, end);
      throw new HeadParseError(`header line without a name and a colon: ${JSON.stringify(line.slice(0, 60))}`);
    }
    const raw = body.toString('latin1', start, colon);
    if (!TOKEN.test(raw)) throw new HeadParseError(`invalid header name ${JSON.stringify(raw.slice(0, 60))}`);
    const name = intern(raw);
    let from = colon + 1;
    let to = end;
    while (from < to && isBlank(body[from])) from++;
    while (to > from && isBlank(body[to - 1])) to--;
    let value = body.toString('latin1', from, to);
    if (!FIELD_VALUE.test(value)) throw new HeadParseError(`invalid character in the value of ${name}`);
    if (SHARED_VALUES.has(name.toLowerCase())) value = intern(value);
    headers.push({ name, value, start, end });
  }
  return { first, headers };
}

export function parseRequestHead(raw: Buffer): RequestHead {
  const { first, headers } = parseLines(raw);
  const m = REQUEST_LINE.exec(first);
  if (!m) throw new HeadParseError(`malformed request line ${JSON.stringify(first.slice(0, 80))}`);
  return { method: m[1]!, target: m[2]!, version: m[3]!, headers, raw };
}

export function parseResponseHead(raw: Buffer): ResponseHead {
  const { first, headers } = parseLines(raw);
  const m = STATUS_LINE.exec(first);
  if (!m) throw new HeadParseError(`malformed status line ${JSON.stringify(first.slice(0, 80))}`);
  return { version: m[1]!, status: Number(m[2]), reason: m[3] ?? '', headers, raw };
}

/** Every value of a header, in order (names compared case-insensitively). */
/** Any header list: the head's lines, a view's, a recording's (only names and values are read). */
type NamedValues = readonly Pick<HeaderLine, 'name' | 'value'>[];

export function headerValues(headers: NamedValues, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const h of headers) if (h.name.toLowerCase() === lower) out.push(h.value);
  return out;
}

export function headerValue(headers: NamedValues, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const h of headers) if (h.name.toLowerCase() === lower) return h.value;
  return undefined;
}

/** Comma-separated list elements of every line of a header, trimmed, empty ones dropped. */
export function headerList(headers: readonly HeaderLine[], name: string): string[] {
  return headerValues(headers, name)
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function hasToken(headers: readonly HeaderLine[], name: string, token: string): boolean {
  const t = token.toLowerCase();
  return headerList(headers, name).some((v) => v.toLowerCase() === t);
}

/** The raw head with the given header lines cut out; every other byte stays as it was. */
export function withoutLines(raw: Buffer, drop: readonly HeaderLine[]): Buffer {
  if (drop.length === 0) return raw;
  const parts: Buffer[] = [];
  let at = 0;
  for (const h of [...drop].sort((a, b) => a.start - b.start)) {
    parts.push(raw.subarray(at, h.start));
    at = h.end + 2; // the line and its CRLF
  }
  parts.push(raw.subarray(at));
  return Buffer.concat(parts);
}

/** A head rebuilt from Node's rawHeaders (used only when Node parsed the request first). */
export function requestHeadFromRaw(method: string, target: string, version: string, rawHeaders: readonly string[]): RequestHead {
  let text = `${method} ${target} HTTP/${version}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) text += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  text += '\r\n';
  return parseRequestHead(Buffer.from(text, 'latin1'));
}
