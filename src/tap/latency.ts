/**
 * Latency by correlation: ping → pong round trips from either side, and
 * request → response for data messages (a JSON id path given with --correlate, an
 * id-like field detected on its own, or else each client message and the next
 * server message).
 *
 * Ids are read from the message bytes by a small JSON scanner that walks only the
 * containers on the path and skips every other value (strings with one memchr), so no
 * message is decoded to a string or parsed whole: this runs for every message at the
 * default log level (see docs/performance.md).
 */
import type { WsMessage } from '../session/message.js';

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Candidate keys for automatic correlation, in order of preference. */
export const ID_KEYS = ['id', 'requestId', 'request_id', 'correlationId', 'correlation_id', 'messageId', 'message_id', 'msgId', 'reqId', 'req_id', 'rid', 'ref', 'nonce'];

const MAX_SAMPLES = 10_000;
const MAX_OUTSTANDING = 10_000;
const MAX_JSON = 64 * 1024;

/** Parses "$.a.b", "a.b", "$.a[0].b" into keys. */
export function parsePath(path: string): (string | number)[] {
  const p = path.trim().replace(/^\$\.?/, '');
  if (!p) throw new Error(`invalid path "${path}"`);
  const out: (string | number)[] = [];
  for (const part of p.split('.')) {
    const m = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!m) throw new Error(`invalid path "${path}"`);
    if (m[1]) out.push(m[1]);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) out.push(Number(idx[1]));
  }
  return out;
}

/** A text message that may hold a JSON object or array (the same limits as before: whole, at most MAX_JSON). */
function jsonCandidate(m: WsMessage): boolean {
  if (m.kind !== 'text' || m.truncated || m.data.length > MAX_JSON) return false;
  const first = m.data[0];
  return first === 0x7b || first === 0x5b; // '{' or '['
}

// --- a JSON scanner for ids ------------------------------------------------------------
// It reads what JSON.parse would give at a path, with JSON.parse's rules where they
// matter for an id: a later duplicate key wins, numbers are read as numbers ("1.0" and
// "1" are the same id), strings are unescaped. It checks the structure of the containers
// it walks, not every value inside them: a message that only looks like JSON may yield an id.

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
function keyAtPath(b: Buffer, path: readonly (Buffer | number)[]): string | undefined {
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
function detectIdKey(b: Buffer): string | undefined {
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

const compile = (path: readonly (string | number)[]): (Buffer | number)[] => path.map((k) => (typeof k === 'number' ? k : Buffer.from(k, 'utf8')));

export class Samples {
  /** Made with the first sample (a tracker exists for every idle tunnel). */
  private values: number[] | undefined;
  private seen = 0;
  add(ms: number): void {
    this.seen++;
    this.values ??= [];
    if (this.values.length < MAX_SAMPLES) this.values.push(ms);
    else {
      // Reservoir sampling keeps the percentiles honest for long sessions.
      const i = Math.floor(Math.random() * this.seen);
      if (i < MAX_SAMPLES) this.values[i] = ms;
    }
  }
  summary(): Percentiles | undefined {
    if (!this.values?.length) return undefined;
    const s = [...this.values].sort((a, b) => a - b);
    const at = (q: number): number => round(s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!);
    return { count: this.seen, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: round(s[s.length - 1]!) };
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

interface Unanswered {
  at: number;
  key: string | undefined;
}

export class LatencyTracker {
  readonly requests = new Samples();
  readonly pings = new Samples();
  private path: (Buffer | number)[] | undefined;
  private pathLabel: string | undefined;
  /** No --correlate: detect an id-like key, and pair anything else in order. */
  private readonly auto: boolean;
  /** Client messages waiting for an answer, oldest first. */
  private readonly unanswered: Unanswered[] = [];
  /** Pings waiting for their pong, by the side that sent them (made with the first ping). */
  private pingsSent: { client: Map<string, number>; server: Map<string, number> } | undefined;
  /** Answers paired with the oldest request because they carried no matching id (while an id path was known). */
  private inOrderWithPath = 0;

  constructor(correlate?: string) {
    if (correlate) {
      this.path = compile(parsePath(correlate));
      this.pathLabel = correlate;
    }
    this.auto = !correlate;
  }

  /** The id path in use ("id", "$.meta.requestId"), once known. */
  get correlation(): string | undefined {
    return this.pathLabel;
  }

  /**
   * How many answers were paired in order although an id path was known (they had no
   * matching id): the close summary then says that not every pair is by id.
   */
  get pairedInOrder(): number {
    return this.inOrderWithPath;
  }

  /** Sees every message in order; fills message.latency when it answers an earlier one. */
  observe(m: WsMessage): void {
    if (m.kind === 'ping') {
      this.pingsSent ??= { client: new Map(), server: new Map() };
      const sent = this.pingsSent[m.from];
      if (sent.size < MAX_OUTSTANDING) sent.set(m.data.toString('latin1'), m.lastByteAt);
      return;
    }
    if (m.kind === 'pong') {
      if (!this.pingsSent) return;
      const sent = this.pingsSent[m.from === 'client' ? 'server' : 'client'];
      const key = m.data.toString('latin1');
      const t = sent.get(key);
      if (t !== undefined) {
        sent.delete(key);
        const ms = m.lastByteAt - t;
        this.pings.add(ms);
        m.latency = { ms: round(ms), to: 'ping' };
      }
      return;
    }
    if (m.kind !== 'text' && m.kind !== 'binary') return;
    if (m.from === 'client') this.request(m);
    else this.response(m);
  }

  private keyIn(m: WsMessage): string | undefined {
    return this.path && jsonCandidate(m) ? keyAtPath(m.data, this.path) : undefined;
  }

  private request(m: WsMessage): void {
    if (this.auto && !this.path && jsonCandidate(m)) {
      const k = detectIdKey(m.data);
      if (k) {
        this.path = compile([k]);
        this.pathLabel = k;
      }
    }
    const key = this.keyIn(m);
    // With an explicit path, only messages that carry it take part.
    if (!this.auto && key === undefined) return;
    if (this.unanswered.length >= MAX_OUTSTANDING) this.unanswered.shift();
    this.unanswered.push({ at: m.lastByteAt, key });
  }

  private response(m: WsMessage): void {
    const key = this.keyIn(m);
    let i = key === undefined ? -1 : this.unanswered.findIndex((u) => u.key === key);
    // Without a matching id, the oldest unanswered request (automatic mode only).
    if (i < 0 && this.auto && this.unanswered.length > 0) i = 0;
    if (i < 0) return;
    const u = i === 0 ? this.unanswered.shift() : this.unanswered.splice(i, 1)[0];
    const ms = m.lastByteAt - u!.at;
    this.requests.add(ms);
    m.latency = { ms: round(ms), to: 'request' };
    if (u!.key !== undefined && u!.key === key) m.latency.key = key;
    else if (this.path) this.inOrderWithPath++;
  }
}
