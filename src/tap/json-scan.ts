/**
 * A JSON scanner for correlation ids. It reads what JSON.parse would give at a path, with
 * JSON.parse's rules where they matter for an id: a later duplicate key wins, numbers are
 * read as numbers ("1.0" and "1" are the same id), strings are unescaped. It walks only the
 * containers on the path and skips every other value (strings with one memchr), so no
 * message is decoded to a string or parsed whole. It checks the structure of the containers
 * it walks, not every value inside them: a message that only looks like JSON may yield an id.
 */

/** Candidate keys for automatic correlation, in order of preference. */
export const ID_KEYS = [
  'id',
  'requestId',
  'request_id',
  'correlationId',
  'correlation_id',
  'messageId',
  'message_id',
  'msgId',
  'reqId',
  'req_id',
  'rid',
  'ref',
  'nonce',
];

/** A value path with its keys as UTF-8 bytes, ready to compare against a message's bytes. */
export type CompiledPath = readonly (Buffer | number)[];

export const compilePath = (steps: readonly (string | number)[]): CompiledPath =>
  steps.map((k) => (typeof k === 'number' ? k : Buffer.from(k, 'utf8')));

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_OBJ = 0x7b;
const CLOSE_OBJ = 0x7d;
const OPEN_ARR = 0x5b;
const CLOSE_ARR = 0x5d;
const INVALID = -1;

function skipWs(b: Buffer, i: number): number {
  for (;;) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** Index of the quote that closes the string opening at `i` (INVALID when unterminated). */
function stringEnd(b: Buffer, i: number): number {
  let j = b.indexOf(QUOTE, i + 1);
  while (j > 0) {
    let slashes = 0;
    while (b[j - 1 - slashes] === BACKSLASH) slashes++;
    if ((slashes & 1) === 0) return j;
    j = b.indexOf(QUOTE, j + 1);
  }
  return INVALID;
}

/** The string from the quote at `i` to the quote at `end`, unescaped. */
function stringValue(b: Buffer, i: number, end: number): string | undefined {
  if (!hasEscape(b, i, end)) return b.toString('utf8', i + 1, end);
  try {
    return JSON.parse(b.toString('utf8', i, end + 1)) as string;
  } catch {
    return undefined;
  }
}

/** End of the scalar (number, true, false, null) starting at `i`. */
function scalarEnd(b: Buffer, i: number): number {
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c === COMMA || c === CLOSE_OBJ || c === CLOSE_ARR || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) break;
    i++;
  }
  return i;
}

/** Index just past the value starting at `i` (INVALID when it is malformed). */
function skipValue(b: Buffer, i: number): number {
  const c = b[i];
  if (c === QUOTE) {
    const e = stringEnd(b, i);
    return e < 0 ? INVALID : e + 1;
  }
  if (c === OPEN_OBJ || c === OPEN_ARR) {
    let depth = 0;
    const n = b.length;
    for (let k = i; k < n; k++) {
      const x = b[k];
      if (x === QUOTE) {
        k = stringEnd(b, k);
        if (k < 0) return INVALID;
      } else if (x === OPEN_OBJ || x === OPEN_ARR) depth++;
      else if (x === CLOSE_OBJ || x === CLOSE_ARR) {
        if (--depth === 0) return k + 1;
      }
    }
    return INVALID;
  }
  if (c === undefined) return INVALID;
  const e = scalarEnd(b, i);
  return e === i ? INVALID : e;
}

function hasEscape(b: Buffer, i: number, end: number): boolean {
  for (let k = i + 1; k < end; k++) if (b[k] === BACKSLASH) return true;
  return false;
}

/** The key between the quotes at i and end is `want` (a path key in UTF-8, or an index given for an object). */
function keyMatches(b: Buffer, i: number, end: number, want: Buffer | number): boolean {
  if (typeof want === 'number') return stringValue(b, i, end) === String(want);
  if (hasEscape(b, i, end)) return stringValue(b, i, end) === want.toString('utf8');
  const len = end - i - 1;
  if (len !== want.length) return false;
  for (let k = 0; k < len; k++) if (b[i + 1 + k] !== want[k]) return false;
  return true;
}

/**
 * Walks the object or array at `i` to its end. For each member whose key (or index) is
 * `want`, calls `hit` with the position of its value. Returns the index past the
 * container, or INVALID.
 */
function walk(b: Buffer, i: number, want: Buffer | number | undefined, hit: (valueAt: number, keyStart: number, keyEnd: number) => void): number {
  const open = b[i];
  if (open === OPEN_ARR) {
    i = skipWs(b, i + 1);
    if (b[i] === CLOSE_ARR) return i + 1;
    for (let index = 0; ; index++) {
      if (index === want) hit(i, -1, -1);
      i = skipValue(b, i);
      if (i < 0) return INVALID;
      i = skipWs(b, i);
      const c = b[i];
      if (c === CLOSE_ARR) return i + 1;
      if (c !== COMMA) return INVALID;
      i = skipWs(b, i + 1);
    }
  }
  if (open !== OPEN_OBJ) return INVALID;
  i = skipWs(b, i + 1);
  if (b[i] === CLOSE_OBJ) return i + 1;
  for (;;) {
    if (b[i] !== QUOTE) return INVALID;
    const keyEnd = stringEnd(b, i);
    if (keyEnd < 0) return INVALID;
    const keyStart = i;
    i = skipWs(b, keyEnd + 1);
    if (b[i] !== COLON) return INVALID;
    i = skipWs(b, i + 1);
    if (want === undefined || keyMatches(b, keyStart, keyEnd, want)) hit(i, keyStart, keyEnd);
    i = skipValue(b, i);
    if (i < 0) return INVALID;
    i = skipWs(b, i);
    const c = b[i];
    if (c === CLOSE_OBJ) return i + 1;
    if (c !== COMMA) return INVALID;
    i = skipWs(b, i + 1);
  }
}

/** A value as a correlation key: a string as is, a number in JavaScript's canonical form; anything else has none. */
function keyValueAt(b: Buffer, i: number): string | undefined {
  const c = b[i];
  if (c === QUOTE) {
    const e = stringEnd(b, i);
    return e < 0 ? undefined : stringValue(b, i, e);
  }
  if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
    const token = b.toString('latin1', i, scalarEnd(b, i));
    return JSON_NUMBER.test(token) ? String(Number(token)) : undefined;
  }
  return undefined;
}

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** True when only whitespace follows `i`. */
const atEnd = (b: Buffer, i: number): boolean => i >= 0 && skipWs(b, i) === b.length;

/** The key at a compiled path in a JSON text (what String(JSON.parse(text) at path) gives for a string or number). */
export function keyAtPath(b: Buffer, path: readonly (Buffer | number)[]): string | undefined {
  let at = 0;
  for (const step of path) {
    let found = INVALID;
    const end = walk(b, at, step, (v) => (found = v));
    // The top level must be a whole document; inner containers are checked by walking them.
    if (end < 0 || (at === 0 && !atEnd(b, end)) || found < 0) return undefined;
    at = found;
  }
  return keyValueAt(b, at);
}

/** The first of ID_KEYS that the top-level object holds as a string or number (the last duplicate counts). */
export function detectIdKey(b: Buffer): string | undefined {
  if (b[0] !== OPEN_OBJ) return undefined;
  const seen = new Map<string, boolean>();
  const end = walk(b, 0, undefined, (v, ks, ke) => {
    const name = stringValue(b, ks, ke);
    if (name !== undefined && ID_KEY_SET.has(name)) seen.set(name, keyValueAt(b, v) !== undefined);
  });
  if (!atEnd(b, end)) return undefined;
  return ID_KEYS.find((k) => seen.get(k) === true);
}

const ID_KEY_SET = new Set(ID_KEYS);
