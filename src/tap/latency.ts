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
 *
 * Memory is bounded in bytes: at most MAX_OUTSTANDING requests and pings per side wait for
 * their answer, and each is kept by a key of at most KEY_KEEP characters (a longer id or
 * ping payload by a seeded hash of it and its length), so a session's tracker holds at most
 * a few MB whatever the size of its ids.
 */
import type { MessageLatency, WsMessage } from '../session/message.js';
import type { Percentiles } from '../session/summary.js';
import { parseValuePath } from '../wire/json-path.js';
import { compilePath, detectIdKey, keyAtPath, type CompiledPath } from './json-scan.js';

export { ID_KEYS } from './json-scan.js';

const MAX_SAMPLES = 10_000;
const MAX_OUTSTANDING = 10_000;
const MAX_JSON = 64 * 1024;
/** Keys up to this many characters are kept as they are; a longer one as a hash (see compactKey). */
export const KEY_KEEP = 32;

// Seeded per process: ids sent on purpose to collide in the hash would have to guess it.
const SEED_A = (Math.random() * 0x100000000) >>> 0;
const SEED_B = (Math.random() * 0x100000000) >>> 0;

const fmix = (h: number): number => {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
};

/**
 * What the tracker keeps of a correlation key: the key itself up to KEY_KEEP characters, else a
 * 52-bit hash of it and its length (two seeded 32-bit lanes), as a string of at most 12
 * characters: short enough for V8 to make it flat, so it holds no reference to the key. Equal
 * keys give equal results; different ones, with a probability of 2^-52.
 */
export function compactKey(key: string): string {
  const n = key.length;
  if (n <= KEY_KEEP) return key;
  let a = SEED_A ^ n;
  let b = SEED_B ^ Math.imul(n, 0x9e3779b1);
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul((b << 5) | (b >>> 27), 0x5bd1e995) ^ c;
  }
  // 32 + 20 bits: exact in a double, at most 11 digits in base 36.
  const h = fmix(a) * 0x100000 + (fmix(b ^ a) >>> 12);
  return `\u0000${h.toString(36)}`;
}

/** A text message that may hold a JSON object or array (the same limits as before: whole, at most MAX_JSON). */
function jsonCandidate(m: WsMessage): boolean {
  if (m.kind !== 'text' || m.truncated || m.data.length > MAX_JSON) return false;
  const first = m.data[0];
  return first === 0x7b || first === 0x5b; // '{' or '['
}

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
  /** Its number in the session. */
  seq: number;
  /** compactKey() of its id. */
  key: string | undefined;
}

export class LatencyTracker {
  readonly requests = new Samples();
  readonly pings = new Samples();
  private path: CompiledPath | undefined;
  private pathLabel: string | undefined;
  /** No --correlate: detect an id-like key, and pair anything else in order. */
  private readonly auto: boolean;
  /** Client messages waiting for an answer, oldest first. */
  private readonly unanswered: Unanswered[] = [];
  /** Pings waiting for their pong, by the side that sent them (made with the first ping). */
  private pingsSent: { client: Map<string, { at: number; seq: number }>; server: Map<string, { at: number; seq: number }> } | undefined;
  /** Messages seen: the number of the one being observed. */
  private seen = 0;
  /** Answers paired with the oldest request because they carried no matching id (while an id path was known). */
  private inOrderWithPath = 0;
  /** Client messages without the --correlate path. */
  private missedPath = 0;

  constructor(correlate?: string) {
    if (correlate) {
      this.path = compilePath(parseValuePath(correlate).steps);
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

  /** Client data messages in which the --correlate path was not found (0 in automatic mode). */
  get withoutPath(): number {
    return this.missedPath;
  }

  /** Sees every message in order; returns its latency when it answers an earlier one. */
  observe(m: WsMessage): MessageLatency | undefined {
    const seq = ++this.seen;
    if (m.kind === 'ping') {
      this.pingsSent ??= { client: new Map(), server: new Map() };
      const sent = this.pingsSent[m.from];
      if (sent.size < MAX_OUTSTANDING) sent.set(compactKey(m.data.toString('latin1')), { at: m.lastByteAt, seq });
      return undefined;
    }
    if (m.kind === 'pong') {
      if (!this.pingsSent) return undefined;
      const sent = this.pingsSent[m.from === 'client' ? 'server' : 'client'];
      const key = compactKey(m.data.toString('latin1'));
      const ping = sent.get(key);
      if (ping !== undefined) {
        sent.delete(key);
        const ms = m.lastByteAt - ping.at;
        this.pings.add(ms);
        return { ms: round(ms), to: 'ping', answers: ping.seq };
      }
      return undefined;
    }
    if (m.kind !== 'text' && m.kind !== 'binary') return undefined;
    if (m.from === 'client') {
      this.request(m, seq);
      return undefined;
    }
    return this.response(m);
  }

  private keyIn(m: WsMessage): string | undefined {
    return this.path && jsonCandidate(m) ? keyAtPath(m.data, this.path) : undefined;
  }

  private request(m: WsMessage, seq: number): void {
    if (this.auto && !this.path && jsonCandidate(m)) {
      const k = detectIdKey(m.data);
      if (k) {
        this.path = compilePath([k]);
        this.pathLabel = k;
      }
    }
    const key = this.keyIn(m);
    // With an explicit path, only messages that carry it take part.
    if (!this.auto && key === undefined) {
      this.missedPath++;
      return;
    }
    if (this.unanswered.length >= MAX_OUTSTANDING) this.unanswered.shift();
    this.unanswered.push({ at: m.lastByteAt, seq, key: key === undefined ? undefined : compactKey(key) });
  }

  private response(m: WsMessage): MessageLatency | undefined {
    const key = this.keyIn(m);
    const kept = key === undefined ? undefined : compactKey(key);
    let i = kept === undefined ? -1 : this.unanswered.findIndex((u) => u.key === kept);
    // Without a matching id, the oldest unanswered request (automatic mode only).
    if (i < 0 && this.auto && this.unanswered.length > 0) i = 0;
    if (i < 0) return undefined;
    const u = i === 0 ? this.unanswered.shift() : this.unanswered.splice(i, 1)[0];
    const ms = m.lastByteAt - u!.at;
    this.requests.add(ms);
    const latency: MessageLatency = { ms: round(ms), to: 'request', answers: u!.seq };
    if (u!.key !== undefined && u!.key === kept) latency.key = key;
    else if (this.path) this.inOrderWithPath++;
    return latency;
  }
}
