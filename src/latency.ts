/**
 * Latency by correlation: ping → pong round trips from either side, and
 * request → response for data messages (a JSON id path given with --correlate, an
 * id-like field detected on its own, or else each client message and the next
 * server message).
 */
import type { WsMessage } from './frame.js';

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

function lookup(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function parseJson(m: WsMessage): unknown {
  if (m.kind !== 'text' || m.truncated || m.data.length > MAX_JSON) return undefined;
  const first = m.data[0];
  if (first !== 0x7b && first !== 0x5b) return undefined; // '{' or '['
  try {
    return JSON.parse(m.data.toString('utf8'));
  } catch {
    return undefined;
  }
}

const keyOf = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined);

export class Samples {
  private values: number[] = [];
  private seen = 0;
  add(ms: number): void {
    this.seen++;
    if (this.values.length < MAX_SAMPLES) this.values.push(ms);
    else {
      // Reservoir sampling keeps the percentiles honest for long sessions.
      const i = Math.floor(Math.random() * this.seen);
      if (i < MAX_SAMPLES) this.values[i] = ms;
    }
  }
  summary(): Percentiles | undefined {
    if (this.values.length === 0) return undefined;
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
  private path: (string | number)[] | undefined;
  private pathLabel: string | undefined;
  /** No --correlate: detect an id-like key, and pair anything else in order. */
  private readonly auto: boolean;
  /** Client messages waiting for an answer, oldest first. */
  private readonly unanswered: Unanswered[] = [];
  private readonly pingsSent: { client: Map<string, number>; server: Map<string, number> } = { client: new Map(), server: new Map() };

  constructor(correlate?: string) {
    if (correlate) {
      this.path = parsePath(correlate);
      this.pathLabel = correlate;
    }
    this.auto = !correlate;
  }

  /** The id path in use ("id", "$.meta.requestId"), once known. */
  get correlation(): string | undefined {
    return this.pathLabel;
  }

  /** Sees every message in order; fills message.latency when it answers an earlier one. */
  observe(m: WsMessage): void {
    if (m.kind === 'ping') {
      const sent = this.pingsSent[m.from];
      if (sent.size < MAX_OUTSTANDING) sent.set(m.data.toString('latin1'), m.lastByteAt);
      return;
    }
    if (m.kind === 'pong') {
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

  private keyIn(json: unknown): string | undefined {
    return this.path ? keyOf(lookup(json, this.path)) : undefined;
  }

  private request(m: WsMessage): void {
    const json = parseJson(m);
    if (this.auto && !this.path && json && typeof json === 'object' && !Array.isArray(json)) {
      const k = ID_KEYS.find((key) => keyOf((json as Record<string, unknown>)[key]) !== undefined);
      if (k) {
        this.path = [k];
        this.pathLabel = k;
      }
    }
    const key = this.keyIn(json);
    // With an explicit path, only messages that carry it take part.
    if (!this.auto && key === undefined) return;
    if (this.unanswered.length >= MAX_OUTSTANDING) this.unanswered.shift();
    this.unanswered.push({ at: m.lastByteAt, key });
  }

  private response(m: WsMessage): void {
    const key = this.path ? this.keyIn(parseJson(m)) : undefined;
    let i = key === undefined ? -1 : this.unanswered.findIndex((u) => u.key === key);
    // Without a matching id, the oldest unanswered request (automatic mode only).
    if (i < 0 && this.auto && this.unanswered.length > 0) i = 0;
    if (i < 0) return;
    const [u] = this.unanswered.splice(i, 1);
    const ms = m.lastByteAt - u!.at;
    this.requests.add(ms);
    m.latency = { ms: round(ms), to: 'request' };
    if (u!.key !== undefined && u!.key === key) m.latency.key = key;
  }
}
