/**
 * The messages of one session as the page keeps them: in order of seq, bounded by count and by
 * payload characters (the oldest go first, counted), with the filter's matches kept up to date
 * as batches arrive (a new batch is tested once; a new filter tests everything once).
 */
import type { HistoryMessage } from './api.js';

export type Direction = 'both' | 'client' | 'server';

export interface Filter {
  /** Pings, pongs and close frames. Hidden by default. */
  control: boolean;
  direction: Direction;
  /** Matched against text payloads (and close reasons) and protocol lines: a substring, case-insensitive, or a regular expression. */
  text: string;
  regex: boolean;
}

export const DEFAULT_FILTER: Filter = { control: false, direction: 'both', text: '', regex: false };

export const isControl = (m: Pick<HistoryMessage, 'kind'>): boolean => m.kind === 'ping' || m.kind === 'pong' || m.kind === 'close';

/** A filter's test, or an error message for a regular expression that does not compile. */
export function compileFilter(f: Filter): ((m: HistoryMessage) => boolean) | string {
  let test: ((s: string) => boolean) | undefined;
  if (f.text) {
    if (f.regex) {
      let re: RegExp;
      try {
        re = new RegExp(f.text, 'i');
      } catch (err) {
        return (err as Error).message;
      }
      test = (s) => re.test(s);
    } else {
      const needle = f.text.toLowerCase();
      test = (s) => s.toLowerCase().includes(needle);
    }
  }
  return (m) => {
    if (!f.control && isControl(m)) return false;
    if (f.direction !== 'both' && m.from !== f.direction) return false;
    // The text, or what the message means in its protocol (an event name, an operation, a topic).
    if (test && !test(m.text ?? '') && !(m.app && test(m.app.line))) return false;
    return true;
  };
}

export interface StoreLimits {
  messages: number;
  /** Payload characters (text and base64). */
  chars: number;
}

export const STORE_LIMITS: StoreLimits = { messages: 100_000, chars: 64 * 1024 * 1024 };

/** Operations the page counts apart, and the times kept for each (the oldest half goes when full). */
const OPERATIONS = 100;
const OPERATION_SAMPLES = 2000;

/** Points the latency chart keeps (the oldest half goes when full). */
const LATENCY_POINTS = 20_000;

export class MessageStore {
  /** Kept messages; those before `start` are gone. */
  private items: HistoryMessage[] = [];
  private start = 0;
  /** Absolute index of items[0]. */
  private base = 0;
  private chars = 0;
  /** Absolute indices of the kept messages the filter matches; those before `vstart` are gone. */
  private matches: number[] = [];
  private vstart = 0;
  private test: (m: HistoryMessage) => boolean;
  /** A request's seq → the seq of the message that answered it. */
  readonly answeredBy = new Map<number, number>();
  lastSeq = 0;
  /** Messages let go here (the page's bound). */
  evicted = 0;
  /** Control frames kept (shown or not). */
  control = 0;
  /** Matches let go from the front (a view that is not following the tail keeps its place by this). */
  droppedMatches = 0;
  /** Bumped on every change: what a view compares to know it must draw again. */
  version = 0;
  /** The latency of each paired answer, for the chart: seconds since open, then the request's and the ping's (null where the other). */
  readonly latency: [number[], (number | null)[], (number | null)[]] = [[], [], []];
  /** The application protocol's operations answered in the page: count, errors and the latest times (ms) of each. */
  readonly operations = new Map<string, { answered: number; errors: number; samples: number[] }>();

  constructor(
    filter: Filter = DEFAULT_FILTER,
    private readonly limits: StoreLimits = STORE_LIMITS,
  ) {
    const t = compileFilter(filter);
    this.test = typeof t === 'string' ? () => true : t;
  }

  get size(): number {
    return this.items.length - this.start;
  }

  get firstSeq(): number | undefined {
    return this.items[this.start]?.seq;
  }

  /** How many kept messages the filter matches. */
  get matching(): number {
    return this.matches.length - this.vstart;
  }

  /** The k-th match (0: the oldest kept). */
  match(k: number): HistoryMessage | undefined {
    const abs = this.matches[this.vstart + k];
    return abs === undefined ? undefined : this.items[abs - this.base];
  }

  /** The position among the matches of the message with this seq, or -1. */
  indexOfSeq(seq: number): number {
    let lo = this.vstart;
    let hi = this.matches.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.items[this.matches[mid]! - this.base]!.seq;
      if (s === seq) return mid - this.vstart;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The kept message with this seq (matching the filter or not). */
  bySeq(seq: number): HistoryMessage | undefined {
    let lo = this.start;
    let hi = this.items.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.items[mid]!.seq;
      if (s === seq) return this.items[mid];
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /**
   * Adds messages in seq order (those at or before lastSeq are already here and skipped).
   * Returns the seqs missing before the batch (a gap the page may fetch), if any.
   */
  add(batch: readonly HistoryMessage[]): { from: number; to: number } | undefined {
    let gap: { from: number; to: number } | undefined;
    for (const m of batch) {
      if (m.seq <= this.lastSeq) continue;
      if (this.lastSeq && m.seq > this.lastSeq + 1 && !gap) gap = { from: this.lastSeq + 1, to: m.seq - 1 };
      this.lastSeq = m.seq;
      const abs = this.base + this.items.length;
      this.items.push(m);
      this.chars += (m.text?.length ?? 0) + (m.base64?.length ?? 0);
      if (isControl(m)) this.control++;
      if (m.answers !== undefined) {
        this.answeredBy.set(m.answers, m.seq);
        if (m.latencyMs !== undefined) this.addLatency(m);
      }
      if (m.app) this.addOperations(m);
      if (this.test(m)) this.matches.push(abs);
    }
    this.bound();
    this.version++;
    return gap;
  }

  /** A protocol packet that answers an operation: the pair, and the operation's numbers. */
  private addOperations(m: HistoryMessage): void {
    for (const p of m.app!.packets) {
      if (!p.answers) continue;
      this.answeredBy.set(p.answers.seq, m.seq);
      let o = this.operations.get(p.answers.operation);
      if (!o) {
        if (this.operations.size >= OPERATIONS) continue;
        this.operations.set(p.answers.operation, (o = { answered: 0, errors: 0, samples: [] }));
      }
      o.answered++;
      if (p.error) o.errors++;
      o.samples.push(p.answers.ms);
      if (o.samples.length > OPERATION_SAMPLES) o.samples.splice(0, OPERATION_SAMPLES / 2);
    }
  }

  /** Inserts older messages fetched to fill a gap (or the start), keeping seq order; the matches are rebuilt. */
  fill(older: readonly HistoryMessage[]): void {
    if (!older.length) return;
    const kept = this.items.slice(this.start);
    const have = new Set(kept.map((m) => m.seq));
    const merged = [...kept, ...older.filter((m) => !have.has(m.seq))].sort((a, b) => a.seq - b.seq);
    this.reset(merged);
  }

  private addLatency(m: HistoryMessage): void {
    const [t, req, ping] = this.latency;
    const pong = m.kind === 'pong';
    t.push(m.t / 1000);
    req.push(pong ? null : m.latencyMs!);
    ping.push(pong ? m.latencyMs! : null);
    if (t.length > LATENCY_POINTS) for (const a of this.latency) a.splice(0, LATENCY_POINTS / 2);
  }

  setFilter(filter: Filter): string | undefined {
    const t = compileFilter(filter);
    if (typeof t === 'string') return t;
    this.test = t;
    this.matches = [];
    this.vstart = 0;
    for (let i = this.start; i < this.items.length; i++) if (t(this.items[i]!)) this.matches.push(this.base + i);
    this.version++;
    return undefined;
  }

  private reset(messages: HistoryMessage[]): void {
    this.base += this.items.length;
    this.items = [];
    this.start = 0;
    this.matches = [];
    this.vstart = 0;
    this.chars = 0;
    this.control = 0;
    for (const a of this.latency) a.length = 0;
    this.operations.clear();
    const last = this.lastSeq;
    this.lastSeq = 0;
    this.add(messages);
    this.lastSeq = Math.max(last, this.lastSeq);
  }

  private bound(): void {
    while (this.size > this.limits.messages || (this.chars > this.limits.chars && this.size > 1)) {
      const m = this.items[this.start]!;
      this.chars -= (m.text?.length ?? 0) + (m.base64?.length ?? 0);
      if (isControl(m)) this.control--;
      if (m.answers !== undefined) this.answeredBy.delete(m.answers);
      this.start++;
      this.evicted++;
    }
    const firstAbs = this.base + this.start;
    while (this.vstart < this.matches.length && this.matches[this.vstart]! < firstAbs) {
      this.vstart++;
      this.droppedMatches++;
    }
    // Let go of the dropped prefix now and then, not on every message.
    if (this.start > 4096 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.base += this.start;
      this.start = 0;
    }
    if (this.vstart > 4096 && this.vstart * 2 > this.matches.length) {
      this.matches = this.matches.slice(this.vstart);
      this.vstart = 0;
    }
  }
}
