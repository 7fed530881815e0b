/**
 * The application protocol of one tunnel: the decoder the handshake named (or the first
 * messages reveal), each message's annotation, and its operations paired and timed.
 * A session of no known protocol costs a few byte checks on its first data messages and
 * nothing after them.
 */
import { inspectUnanswered } from '../inspect/app/operations.js';
import { decoderFor, DECODERS } from '../protocols/registry.js';
import type { DecoderInput, PacketDraft, SessionDecoder } from '../protocols/types.js';
import type { AppDetection, AppMessage, AppPacket, AppSummary, OperationAnswer, OperationStats } from '../session/app.js';
import type { Finding } from '../session/finding.js';
import type { Side } from '../session/message.js';
import type { CloseSummary } from '../session/summary.js';
import { Samples } from './latency.js';

/** Data messages looked at for a protocol when the handshake named none. */
const SNIFF_MESSAGES = 4;
/** Operations waiting for an answer, per session. */
const MAX_OPEN = 10_000;
/** Operation names counted apart; the rest are counted as "other" (bounded memory, bounded metric labels). */
export const MAX_OPERATIONS = 50;
export const OTHER_OPERATION = 'other';

interface OpenOperation {
  at: number;
  seq: number;
  operation: string;
  from: Side;
  answered: boolean;
  /** May end the session without an answer (a subscription). */
  mayStayOpen: boolean;
}

interface Stats {
  count: number;
  errors: number;
  unanswered: number;
  latency: Samples;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** Operations by key: started, answered (first answer timed), ended. */
export class OperationTracker {
  private readonly open = new Map<string, OpenOperation>();
  private readonly stats = new Map<string, Stats>();

  private statsOf(operation: string): Stats {
    const name = this.stats.has(operation) || this.stats.size < MAX_OPERATIONS ? operation : OTHER_OPERATION;
    let s = this.stats.get(name);
    if (!s) this.stats.set(name, (s = { count: 0, errors: 0, unanswered: 0, latency: new Samples() }));
    return s;
  }

  start(key: string, operation: string, from: Side, at: number, seq: number, mayStayOpen = false): void {
    const before = this.open.get(key);
    // An id used again before its answer: the first request is left without one.
    if (before && !before.answered) this.statsOf(before.operation).unanswered++;
    this.open.delete(key);
    if (this.open.size >= MAX_OPEN) {
      const oldest = this.open.entries().next().value!;
      if (!oldest[1].answered) this.statsOf(oldest[1].operation).unanswered++;
      this.open.delete(oldest[0]);
    }
    this.open.set(key, { at, seq, operation, from, answered: false, mayStayOpen });
    this.statsOf(operation).count++;
  }

  /** A packet from `from` that answers `key`: its latency when it is the operation's first answer. */
  answer(key: string, final: boolean, error: boolean, from: Side, at: number): OperationAnswer | undefined {
    const op = this.open.get(key);
    if (!op) return undefined;
    if (final) this.open.delete(key);
    // The side that started it ended it (a client that cancels its subscription): no answer to time.
    if (op.from === from) return undefined;
    const s = this.statsOf(op.operation);
    if (error) s.errors++;
    if (op.answered) return undefined;
    op.answered = true;
    const ms = at - op.at;
    s.latency.add(ms);
    return { operation: op.operation, ms: round(ms), seq: op.seq };
  }

  /**
   * At the end: what is still waiting, by operation. Heart-beat pings are left out (a session may
   * end between ping and pong), and graphql's connection_init (graphql-init-unacked says it).
   */
  unanswered(): { operation: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const [key, op] of this.open) {
      if (op.answered || op.mayStayOpen || key.startsWith('ping') || key === 'init') continue;
      counts.set(op.operation, (counts.get(op.operation) ?? 0) + 1);
      this.statsOf(op.operation).unanswered++;
    }
    this.open.clear();
    return [...counts].map(([operation, count]) => ({ operation, count })).sort((a, b) => b.count - a.count);
  }

  operations(): OperationStats[] {
    const out: OperationStats[] = [];
    for (const [operation, s] of this.stats) {
      const latency = s.latency.summary();
      out.push({ operation, count: s.count, errors: s.errors, unanswered: s.unanswered, ...(latency ? { latency } : {}) });
    }
    return out.sort((a, b) => b.count - a.count);
  }
}

export class AppTap {
  private decoder: SessionDecoder | undefined;
  private detection: AppDetection | undefined;
  private sniffLeft: number;
  private readonly ops = new OperationTracker();
  private readonly packetCounts = new Map<string, number>();
  private undecoded = 0;

  /** `start`: what the handshake said (undefined: sniff the first messages; 'none': decode nothing). */
  constructor(
    start: AppDetection | 'none' | undefined,
    private readonly raise: (f: Finding) => void,
  ) {
    this.sniffLeft = start === undefined ? SNIFF_MESSAGES : 0;
    if (start !== undefined && start !== 'none') this.use(start);
  }

  get protocol(): AppDetection | undefined {
    return this.detection;
  }

  /** Still looking at the first messages for a protocol. */
  get sniffing(): boolean {
    return this.decoder === undefined && this.sniffLeft > 0;
  }

  private use(d: AppDetection): void {
    this.detection = d;
    this.decoder = decoderFor(d.protocol).open({ raise: this.raise });
  }

  /** A message, number `seq` in its session: its annotation when the session speaks a known protocol. */
  observe(m: DecoderInput, seq: number): AppMessage | undefined {
    if (m.kind !== 'text' && m.kind !== 'binary') return undefined;
    if (!this.decoder) {
      if (this.sniffLeft === 0) return undefined;
      this.sniffLeft--;
      const found = DECODERS.find((d) => d.sniff?.(m));
      if (!found) return undefined;
      this.sniffLeft = 0;
      this.use({ protocol: found.protocol, by: 'messages' });
    }
    const drafts = this.decoder!.decode(m);
    if (!drafts) {
      this.undecoded++;
      return undefined;
    }
    const protocol = this.detection!.protocol;
    // One packet a message is the common case: no arrays made beyond its own.
    if (drafts.length === 1) {
      const d = drafts[0]!;
      const out: { -readonly [K in keyof AppMessage]: AppMessage[K] } = { protocol, packets: [this.packet(d, m, seq)], line: d.line };
      if (d.secrets) out.secrets = d.secrets;
      return out;
    }
    const packets = drafts.map((d) => this.packet(d, m, seq));
    const secrets = drafts.flatMap((d) => d.secrets ?? []);
    return { protocol, packets, line: packets.map((p) => p.line).join('; '), ...(secrets.length ? { secrets } : {}) };
  }

  private packet(d: PacketDraft, m: DecoderInput, seq: number): AppPacket {
    this.packetCounts.set(d.type, (this.packetCounts.get(d.type) ?? 0) + 1);
    // Built field by field (no rest spread: this runs for every message of a protocol session).
    const p: { -readonly [K in keyof AppPacket]: AppPacket[K] } = { type: d.type, line: d.line };
    if (d.name !== undefined) p.name = d.name;
    if (d.id !== undefined) p.id = d.id;
    if (d.error !== undefined) p.error = d.error;
    if (d.ends) {
      const answers = this.ops.answer(d.ends.key, d.ends.final, d.ends.error === true, m.from, m.lastByteAt);
      if (answers) p.answers = answers;
    }
    if (d.starts) this.ops.start(d.starts.key, d.starts.operation, m.from, m.lastByteAt, seq, d.starts.mayStayOpen === true);
    return p;
  }

  /** The session is over: its summary and the findings only its end can tell (unanswered requests, a close code of the protocol). */
  finish(close: CloseSummary | undefined, endAt: number): { summary?: AppSummary; findings: Finding[] } {
    if (!this.detection) return { findings: [] };
    const findings: Finding[] = [...(this.decoder?.end?.(close, endAt) ?? [])];
    const ended = close && close.initiator !== 'none' ? `closed (${close.code})` : 'ended';
    const unanswered = inspectUnanswered(this.detection.protocol, this.ops.unanswered(), ended);
    if (unanswered) findings.push(unanswered);
    const summary: AppSummary = {
      protocol: this.detection.protocol,
      by: this.detection.by,
      packets: Object.fromEntries(this.packetCounts),
      operations: this.ops.operations(),
      ...(this.undecoded ? { undecoded: this.undecoded } : {}),
    };
    return { summary, findings };
  }
}
