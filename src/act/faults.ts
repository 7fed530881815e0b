/**
 * Fault rules as a message hook. A session is taken at the handshake when some rule's path
 * matches it (a rule without path= matches every session); the rules are read live, so a rule
 * added while the session is open applies to it from its next message, and a removed one stops.
 *
 * Per message (text and binary; control frames are never delayed, dropped or duplicated, but a
 * stalled direction holds them too), the rules that hold fire in order:
 *   delay     holds the message until it arrived + the delay (a pipeline: the messages behind it
 *             wait only for their own due time, order kept)
 *   throttle  holds it until the direction's rate allows its bytes (backpressure: the direction
 *             stops reading while it holds, it does not buffer without bound)
 *   duplicate forwards it twice
 *   drop      does not forward it
 *   close     replaces it with a close frame (code, reason) to the side(s) of to=, then the TCP close
 *   cut       resets both connections instead of forwarding it
 *   stall     holds it and everything after it in that direction, for good; TCP stays open
 * close, cut and stall without match= or after=<N> fire on a timer instead: at after=<duration>
 * since the session opened (at once without after=).
 */
import { AppNames, opMatches } from './app-names.js';
import type { SessionAction } from '../session/action.js';
import type { Side } from '../session/message.js';
import type { Session } from '../session/session.js';
import type { HookMessage, HookVerdict, MessageHandler, MessageHook, OutMessage, SessionControl } from '../tunnel/hooks.js';
import { parseRule, type FaultRule } from './rules.js';

export interface RuleEntry {
  id: number;
  rule: FaultRule;
}

/** mulberry32: small, fast, good enough for fault draws; the same seed gives the same draws. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pathOf = (target: string): string => target.split('?')[0] ?? target;
const sideText = (to: Side | 'both'): string => (to === 'both' ? 'both sides' : `the ${to}`);
const isTimed = (r: FaultRule): boolean =>
  (r.action.kind === 'close' || r.action.kind === 'cut' || r.action.kind === 'stall') &&
  r.match === undefined &&
  r.op === undefined &&
  r.afterMessages === undefined;

/** The rules, shared by every session they take. */
export class FaultRules implements MessageHook {
  readonly name = 'fault rules';
  private readonly entries = new Map<number, RuleEntry>();
  private nextId = 1;

  constructor(rules: readonly (FaultRule | string)[] = []) {
    for (const r of rules) this.add(r);
  }

  /** Adds a rule (text or parsed); its id. A bad rule throws RuleError. */
  add(rule: FaultRule | string): number {
    const parsed = typeof rule === 'string' ? parseRule(rule) : rule;
    const id = this.nextId++;
    this.entries.set(id, { id, rule: parsed });
    return id;
  }

  remove(id: number): boolean {
    return this.entries.delete(id);
  }

  list(): RuleEntry[] {
    return [...this.entries.values()];
  }

  has(id: number): boolean {
    return this.entries.has(id);
  }

  get size(): number {
    return this.entries.size;
  }

  forSession(session: Session, control: SessionControl): MessageHandler | undefined {
    const path = pathOf(session.handshake.request.target);
    const applies = (r: FaultRule): boolean => !r.pathRe || r.pathRe.test(path);
    if (![...this.entries.values()].some((e) => applies(e.rule))) return undefined;
    return new SessionFaults(this, control, applies, session).handler;
  }

  /** The rules in order, read at each message. */
  current(): Iterable<RuleEntry> {
    return this.entries.values();
  }
}

/** The state of the rules in one session. */
class SessionFaults {
  private dataMessages = 0;
  private readonly stalled = { client: false, server: false };
  private readonly throttleFree = { client: 0, server: 0 };
  private readonly draws = new Map<number, () => number>();
  /** One-shot rules (close, cut, stall) that fired. */
  private readonly fired = new Set<number>();
  private readonly timers: NodeJS.Timeout[] = [];
  private over = false;
  /** What a stalled direction's messages wait on: settled (dropped) when the session closes, so nothing of it stays. */
  private stalledP: Promise<HookVerdict | undefined> | undefined;
  private releaseStalled: ((v: HookVerdict | undefined) => void) | undefined;
  /** Made when a rule with op= is there: from then on it reads every message (a rule added later misses what came before). */
  private names: AppNames | undefined;
  /** Delays waiting to let a message go: settled (dropped) when the session closes. */
  private readonly waiting = new Set<{ timer: NodeJS.Timeout; resolve(v: HookVerdict | undefined): void }>();

  constructor(
    private readonly rules: FaultRules,
    private readonly control: SessionControl,
    private readonly applies: (r: FaultRule) => boolean,
    private readonly session: Session,
  ) {
    control.onClose(() => {
      this.over = true;
      for (const t of this.timers) clearTimeout(t);
      this.releaseStalled?.({ action: 'drop' });
      for (const w of this.waiting) {
        clearTimeout(w.timer);
        w.resolve({ action: 'drop' });
      }
      this.waiting.clear();
    });
    for (const e of rules.current()) if (this.applies(e.rule) && isTimed(e.rule)) this.schedule(e);
  }

  /** close, cut or stall on a timer (the rules present when the session opened). */
  private schedule(e: RuleEntry): void {
    const t = setTimeout(() => {
      if (this.over || this.fired.has(e.id) || !this.rules.has(e.id)) return;
      if (!this.draw(e)) return;
      this.sessionAction(e);
    }, e.rule.afterMs ?? 0);
    t.unref();
    this.timers.push(t);
  }

  private draw(e: RuleEntry): boolean {
    const { p, seed } = e.rule;
    if (p >= 1) return true;
    let rnd = this.draws.get(e.id);
    if (!rnd) {
      rnd = seed === undefined ? Math.random : prng(seed);
      this.draws.set(e.id, rnd);
    }
    return rnd() < p;
  }

  private report(e: RuleEntry, kind: SessionAction['kind'], to: Side | 'both', detail: string): void {
    this.control.report({ kind, by: `rule ${e.id}: ${e.rule.text}`, to, t: this.control.elapsed(), detail });
  }

  /** close, cut or stall: the session (or a direction of it) is done. */
  private sessionAction(e: RuleEntry, m?: HookMessage): void {
    this.fired.add(e.id);
    const a = e.rule.action;
    const what = m
      ? ` at a ${m.data.length} B ${m.kind} message from the ${m.from}`
      : ` ${Math.round(this.control.elapsed())} ms after the session opened`;
    if (a.kind === 'cut') {
      this.report(e, 'cut', 'both', `reset both connections${what}`);
      this.control.cut(`rule ${e.id} (${e.rule.text}) cut the session`);
    } else if (a.kind === 'close') {
      this.report(
        e,
        'close',
        e.rule.to,
        `sent close ${a.code}${a.reason ? ` "${a.reason}"` : ''} to ${sideText(e.rule.to)}${what}, then closed the connections`,
      );
      this.control.close(e.rule.to, a.code, a.reason);
    } else if (a.kind === 'stall') {
      if (e.rule.to !== 'server') this.stalled.client = true;
      if (e.rule.to !== 'client') this.stalled.server = true;
      this.report(e, 'stall', e.rule.to, `stopped forwarding to ${sideText(e.rule.to)}${what}; the connections stay open`);
    }
  }

  /** Held for good (until the session closes). */
  private stall(): Promise<HookVerdict | undefined> {
    this.stalledP ??= new Promise((resolve) => (this.releaseStalled = resolve));
    return this.stalledP;
  }

  readonly handler: MessageHandler = (m) => {
    const to: Side = m.from === 'client' ? 'server' : 'client';
    if (this.stalled[to]) return this.stall();
    if (m.kind !== 'text' && m.kind !== 'binary') return undefined;
    this.dataMessages++;
    if (!this.names && [...this.rules.current()].some((e) => e.rule.opRe && this.applies(e.rule))) this.names = new AppNames(this.session);
    const names = this.names?.of(m) ?? [];
    const now = performance.now();
    let due = 0;
    const add: OutMessage[] = [];
    for (const e of this.rules.current()) {
      const r = e.rule;
      if (!this.applies(r) || (r.to !== 'both' && r.to !== to) || this.fired.has(e.id)) continue;
      if (r.afterMessages !== undefined && this.dataMessages <= r.afterMessages) continue;
      if (r.afterMs !== undefined && this.control.elapsed() < r.afterMs) continue;
      if (r.match && (m.kind !== 'text' || !r.match.test(m.data.toString('utf8')))) continue;
      if (!opMatches(r.opRe, names)) continue;
      if (isTimed(r)) continue;
      if (!this.draw(e)) continue;
      const size = `${m.data.length} B ${m.kind} message`;
      switch (r.action.kind) {
        case 'delay':
          due = Math.max(due, m.at + r.action.ms);
          this.report(e, 'delay', to, `delayed a ${size} to the ${to} by ${r.action.ms} ms`);
          break;
        case 'throttle': {
          const start = Math.max(this.throttleFree[to], now);
          this.throttleFree[to] = start + (m.data.length / r.action.bytesPerSec) * 1000;
          due = Math.max(due, start);
          if (start > now)
            this.report(e, 'throttle', to, `held a ${size} to the ${to} for ${Math.round(start - now)} ms (${r.action.bytesPerSec} B/s)`);
          break;
        }
        case 'duplicate':
          add.push(m.kind === 'text' ? { kind: 'text', data: m.data } : { kind: 'binary', data: m.data });
          this.report(e, 'duplicate', to, `forwarded a ${size} to the ${to} twice`);
          break;
        case 'drop':
          this.report(e, 'drop', to, `dropped a ${size} to the ${to}`);
          return { action: 'drop' };
        case 'close':
        case 'cut':
          this.sessionAction(e, m);
          return { action: 'drop' };
        case 'stall':
          this.sessionAction(e, m);
          return this.stall();
      }
    }
    const verdict: HookVerdict | undefined = add.length ? { action: 'pass', add } : undefined;
    const wait = due - performance.now();
    if (wait <= 0 || this.over) return verdict;
    return new Promise((resolve) => {
      const w = {
        resolve,
        timer: setTimeout(() => {
          this.waiting.delete(w);
          resolve(verdict);
        }, wait),
      };
      w.timer.unref();
      this.waiting.add(w);
    });
  };
}
