/**
 * Breakpoints (--intercept, the API, proxy.intercept()): a data message that the conditions of
 * some breakpoint select is held until it is released, as it was, edited or dropped, or until
 * the timeout (then it is forwarded, with a log line). A held message holds its direction:
 * the messages behind it wait, so each direction keeps its order; the other direction goes on.
 */
import { AppNames, opMatches } from './app-names.js';
import type { SessionAction } from '../session/action.js';
import type { Side } from '../session/message.js';
import type { Session } from '../session/session.js';
import type { HookMessage, HookVerdict, MessageHandler, MessageHook, SessionControl } from '../tunnel/hooks.js';
import { prng } from './faults.js';
import { type Conditions, parseConditions } from './rules.js';

/** A message held at a breakpoint, as the API shows it (the payload as received: the API redacts what it serves). */
export interface HeldMessage {
  id: number;
  session: string;
  from: Side;
  to: Side;
  kind: 'text' | 'binary';
  data: Buffer;
  /** The breakpoint that held it. */
  breakpoint: number;
  /** Epoch ms. */
  heldAt: number;
  /** Byte ranges of data that hold a credential of its protocol (an MQTT password, a STOMP passcode): shown masked. */
  secrets?: readonly (readonly [number, number])[];
}

/** What becomes of a held message. */
export type Release = { action: 'forward'; text?: string; binary?: Buffer } | { action: 'drop' };

interface Waiting {
  held: HeldMessage;
  control: SessionControl;
  resolve(v: HookVerdict | undefined): void;
  timer: NodeJS.Timeout;
}

export interface BreakpointEvents {
  held?(h: HeldMessage): void;
  released?(h: HeldMessage, how: 'forward' | 'edit' | 'drop' | 'timeout' | 'closed'): void;
}

export class Breakpoints implements MessageHook {
  readonly name = 'breakpoints';
  private readonly points = new Map<number, Conditions>();
  private readonly waiting = new Map<number, Waiting>();
  private nextPoint = 1;
  private nextHeld = 1;
  private readonly waiters: ((h: HeldMessage) => void)[] = [];

  constructor(
    initial: readonly string[] = [],
    private readonly timeoutMs = 60_000,
    private readonly events: BreakpointEvents = {},
  ) {
    for (const c of initial) this.add(c);
  }

  /** Adds a breakpoint (conditions as for a fault rule, no action); its id. Bad conditions throw RuleError. */
  add(conditions: string): number {
    const id = this.nextPoint++;
    this.points.set(id, parseConditions(conditions));
    return id;
  }

  /** Removes a breakpoint; what it holds stays held until released or timed out. */
  remove(id: number): boolean {
    return this.points.delete(id);
  }

  list(): { id: number; conditions: string }[] {
    return [...this.points].map(([id, c]) => ({ id, conditions: c.text }));
  }

  /** The messages held now, oldest first. */
  held(): HeldMessage[] {
    return [...this.waiting.values()].map((w) => w.held);
  }

  /** The next message to be held (or one held now that no one asked for yet). */
  next(timeoutMs = 10_000): Promise<HeldMessage> {
    const first = this.held()[0];
    if (first) return Promise.resolve(first);
    return new Promise((resolve, reject) => {
      const waiter = (h: HeldMessage): void => {
        clearTimeout(timer);
        resolve(h);
      };
      const timer = setTimeout(() => {
        // A waiter that gave up is not kept.
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no message was held within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Releases a held message: forwarded as it was, edited, or dropped. False when no such message is held. */
  release(id: number, how: Release): boolean {
    const w = this.waiting.get(id);
    if (!w) return false;
    this.settle(w);
    const h = w.held;
    const by = `breakpoint ${h.breakpoint}`;
    const base = { by, to: h.to, t: w.control.elapsed() };
    if (how.action === 'drop') {
      w.control.report({ ...base, kind: 'drop', detail: `dropped a held ${h.data.length} B ${h.kind} message to the ${h.to}` });
      this.events.released?.(h, 'drop');
      w.resolve({ action: 'drop' });
      return true;
    }
    if (how.text !== undefined || how.binary !== undefined) {
      const out = how.text !== undefined ? { kind: 'text' as const, data: how.text } : { kind: 'binary' as const, data: how.binary! };
      const size = typeof out.data === 'string' ? Buffer.byteLength(out.data) : out.data.length;
      w.control.report({
        ...base,
        kind: 'edit',
        detail: `forwarded a held ${h.kind} message to the ${h.to}, edited (${h.data.length} B → ${size} B)`,
      });
      this.events.released?.(h, 'edit');
      w.resolve({ action: 'replace', with: [out] });
      return true;
    }
    w.control.report({ ...base, kind: 'release', detail: `forwarded a held ${h.data.length} B ${h.kind} message to the ${h.to} as it was` });
    this.events.released?.(h, 'forward');
    w.resolve(undefined);
    return true;
  }

  private settle(w: Waiting): void {
    clearTimeout(w.timer);
    this.waiting.delete(w.held.id);
  }

  forSession(session: Session, control: SessionControl): MessageHandler | undefined {
    const path = session.handshake.request.target.split('?')[0] ?? '';
    const applies = (c: Conditions): boolean => !c.pathRe || c.pathRe.test(path);
    if (![...this.points.values()].some(applies)) return undefined;
    let dataMessages = 0;
    const mine = new Set<number>();
    // With seed=, the same draws in every session (as for fault rules).
    const draws = new Map<number, () => number>();
    const draw = (id: number, c: Conditions): number => {
      let d = draws.get(id);
      if (!d) {
        d = c.seed === undefined ? Math.random : prng(c.seed);
        draws.set(id, d);
      }
      return d();
    };
    control.onClose(() => {
      // The session is gone: what it held goes nowhere.
      for (const id of mine) {
        const w = this.waiting.get(id);
        if (!w) continue;
        this.settle(w);
        this.events.released?.(w.held, 'closed');
        w.resolve({ action: 'drop' });
      }
    });
    // Read by the session's protocol: for op= conditions, and to mask a held message's credentials when it is shown.
    const names = new AppNames(session);
    return (m: HookMessage) => {
      if (m.kind !== 'text' && m.kind !== 'binary') return undefined;
      dataMessages++;
      const about = names.of(m);
      const to: Side = m.from === 'client' ? 'server' : 'client';
      for (const [id, c] of this.points) {
        if (!applies(c) || (c.to !== 'both' && c.to !== to)) continue;
        if (c.afterMessages !== undefined && dataMessages <= c.afterMessages) continue;
        if (c.afterMs !== undefined && control.elapsed() < c.afterMs) continue;
        if (c.match && (m.kind !== 'text' || !c.match.test(m.data.toString('utf8')))) continue;
        if (!opMatches(c.opRe, about)) continue;
        if (c.p < 1 && draw(id, c) >= c.p) continue;
        return this.hold(session, control, m, to, id, mine, names.lastSecrets);
      }
      return undefined;
    };
  }

  private hold(
    session: Session,
    control: SessionControl,
    m: HookMessage,
    to: Side,
    breakpoint: number,
    mine: Set<number>,
    secrets: HeldMessage['secrets'],
  ): Promise<HookVerdict | undefined> {
    const held: HeldMessage = {
      id: this.nextHeld++,
      session: session.id,
      from: m.from,
      to,
      kind: m.kind as 'text' | 'binary',
      data: m.data,
      breakpoint,
      heldAt: Date.now(),
      ...(secrets ? { secrets } : {}),
    };
    mine.add(held.id);
    const report = (kind: SessionAction['kind'], detail: string): void =>
      control.report({ kind, by: `breakpoint ${breakpoint}`, to, t: control.elapsed(), detail });
    report('hold', `held a ${m.data.length} B ${m.kind} message to the ${to} (#${held.id})`);
    return new Promise((resolve) => {
      const w: Waiting = {
        held,
        control,
        resolve,
        timer: setTimeout(() => {
          this.settle(w);
          report('release', `forwarded a held message to the ${to} as it was: nobody released it in ${this.timeoutMs} ms (--intercept-timeout)`);
          this.events.released?.(held, 'timeout');
          resolve(undefined);
        }, this.timeoutMs),
      };
      w.timer.unref();
      this.waiting.set(held.id, w);
      this.events.held?.(held);
      for (const fn of this.waiters.splice(0)) fn(held);
    });
  }
}
