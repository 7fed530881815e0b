/**
 * Fault rules (--fault, WSTAP_FAULTS, POST /__wstap/api/faults): an action, then conditions,
 * words separated by spaces.
 *
 *   actions:    delay=<duration>  drop  close=<code>[:<reason>]  cut  stall  throttle=<rate>  duplicate
 *   conditions: to=client|server|both  match=<regex>  op=<glob>  after=<N>|<duration>  p=<0..1>  seed=<n>  path=<glob>
 *
 * A rule that does not parse is refused with the position (1-based, in characters) of the word
 * that is wrong and what was expected there.
 */
import type { Side } from '../session/message.js';

export type FaultAction =
  | { kind: 'delay'; ms: number }
  | { kind: 'drop' }
  | { kind: 'close'; code: number; reason: string }
  | { kind: 'cut' }
  | { kind: 'stall' }
  | { kind: 'throttle'; bytesPerSec: number }
  | { kind: 'duplicate' };

export type FaultTarget = Side | 'both';

/** The conditions of a rule or a breakpoint. `to`: the side the messages it selects travel to (both by default). */
export interface Conditions {
  /** As written (trimmed). */
  text: string;
  to: FaultTarget;
  match?: RegExp;
  /**
   * The message's application protocol packet must be about this (a glob, `*` any characters): a
   * Socket.IO event name, a GraphQL operation name, a STOMP destination, an MQTT topic, a JSON-RPC method.
   */
  op?: string;
  opRe?: RegExp;
  /** Fires only once the session has had this many data messages (both ways)... */
  afterMessages?: number;
  /** ...or once this long has passed since it opened. */
  afterMs?: number;
  /** Probability that it fires each time its conditions hold (1 by default). */
  p: number;
  /** Seed of its random draws: the same seed, the same draws, session by session. */
  seed?: number;
  /** The upgrade path (without the query) must match this glob. */
  path?: string;
  pathRe?: RegExp;
}

/** A parsed fault rule: an action and its conditions. */
export interface FaultRule extends Conditions {
  action: FaultAction;
}

export class RuleError extends Error {
  constructor(
    readonly rule: string,
    /** 1-based character position of the word that is wrong. */
    readonly position: number,
    readonly expected: string,
  ) {
    super(`fault rule "${rule}": at ${position}: ${expected}`);
    this.name = 'RuleError';
  }
}

const ACTIONS = 'delay=<duration>, drop, close=<code>[:<reason>], cut, stall, throttle=<rate> or duplicate';
const CONDITIONS = 'to=client|server|both, match=<regex>, op=<glob>, after=<N>|<duration>, p=<0..1>, seed=<n> or path=<glob>';

/** "250ms", "2s", "1.5s", "1m" → milliseconds; undefined when it is not a duration. */
/** The longest a timer can wait (Node fires longer ones at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000;
  return ms <= MAX_TIMER_MS ? ms : undefined;
}

/** "10kB/s", "1MB/s", "500B/s" (also KiB/MiB) → bytes per second. */
export function parseRate(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(B|kB|KB|KiB|MB|MiB)\/s$/.exec(text);
  if (!m) return undefined;
  const unit = { B: 1, kB: 1000, KB: 1000, KiB: 1024, MB: 1_000_000, MiB: 1024 * 1024 }[m[2] as 'B'];
  const v = Number(m[1]) * unit;
  return v > 0 ? v : undefined;
}

/** A path glob: `*` any characters but `/`, `**` any characters, `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '.';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** A name glob (op=): `*` any characters (a topic's or a destination's `/` included), `?` one character. */
export function nameGlob(glob: string): RegExp {
  const re = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('');
  return new RegExp(`^${re}$`);
}

interface Word {
  text: string;
  /** 1-based position in the rule. */
  at: number;
}

/** Splits on spaces; a value may be quoted ("..." or '...') to hold spaces: match="a b", close=1011:"going away". */
function words(rule: string): Word[] {
  const out: Word[] = [];
  let i = 0;
  while (i < rule.length) {
    while (rule[i] === ' ') i++;
    if (i >= rule.length) break;
    const start = i;
    let text = '';
    while (i < rule.length && rule[i] !== ' ') {
      const q = rule[i];
      if (q === '"' || q === "'") {
        const end = rule.indexOf(q, i + 1);
        if (end < 0) throw new RuleError(rule, i + 1, `a closing ${q}`);
        text += rule.slice(i + 1, end);
        i = end + 1;
      } else text += rule[i++];
    }
    out.push({ text, at: start + 1 });
  }
  return out;
}

function parseAction(rule: string, w: Word): FaultAction {
  const [name, value] = splitWord(w.text);
  const need = (what: string): never => {
    throw new RuleError(rule, w.at, `${name}= needs ${what}`);
  };
  switch (name) {
    case 'delay': {
      const ms = value === undefined ? undefined : parseDuration(value);
      return ms === undefined ? need('a duration such as 250ms or 2s') : { kind: 'delay', ms };
    }
    case 'throttle': {
      const rate = value === undefined ? undefined : parseRate(value);
      return rate === undefined ? need('a rate such as 10kB/s or 1MB/s') : { kind: 'throttle', bytesPerSec: rate };
    }
    case 'close': {
      if (value === undefined) return need('a close code, e.g. close=1011 or close=4000:reason');
      const colon = value.indexOf(':');
      const code = Number(colon < 0 ? value : value.slice(0, colon));
      const valid =
        Number.isInteger(code) && ((code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999));
      if (!valid) throw new RuleError(rule, w.at, `close= needs a code that may be sent: 1000-1003, 1007-1014 or 3000-4999, not "${value}"`);
      const reason = colon < 0 ? '' : value.slice(colon + 1);
      if (Buffer.byteLength(reason) > 123) throw new RuleError(rule, w.at, 'a close reason of at most 123 bytes');
      return { kind: 'close', code, reason };
    }
    case 'drop':
    case 'cut':
    case 'stall':
    case 'duplicate':
      if (value !== undefined) throw new RuleError(rule, w.at, `${name} takes no value`);
      return { kind: name };
    default:
      throw new RuleError(rule, w.at, `an action first: ${ACTIONS}`);
  }
}

function splitWord(text: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  return eq < 0 ? [text, undefined] : [text.slice(0, eq), text.slice(eq + 1)];
}

export function parseRule(input: string): FaultRule {
  const text = input.trim();
  const ws = words(text);
  if (!ws.length) throw new RuleError(text, 1, `an action: ${ACTIONS}`);
  const rule: FaultRule = { text, action: parseAction(text, ws[0]!), to: 'both', p: 1 };
  parseConditionWords(text, ws.slice(1), rule);
  return rule;
}

/** Breakpoint conditions (--intercept): the conditions of a rule, without an action; none selects every data message. */
export function parseConditions(input: string): Conditions {
  const text = input.trim();
  const c: Conditions = { text, to: 'both', p: 1 };
  parseConditionWords(text, words(text), c);
  return c;
}

function parseConditionWords(text: string, ws: readonly Word[], rule: Conditions): void {
  const seen = new Set<string>();
  for (const w of ws) {
    const [name, value] = splitWord(w.text);
    if (value === undefined || value === '') throw new RuleError(text, w.at, `a condition: ${CONDITIONS}`);
    if (seen.has(name)) throw new RuleError(text, w.at, `${name}= only once`);
    seen.add(name);
    switch (name) {
      case 'to':
        if (value !== 'client' && value !== 'server' && value !== 'both') throw new RuleError(text, w.at, 'to=client, to=server or to=both');
        rule.to = value;
        break;
      case 'match':
        try {
          rule.match = new RegExp(value);
        } catch (err) {
          throw new RuleError(text, w.at, `a valid regular expression after match= (${(err as Error).message})`);
        }
        break;
      case 'op':
        rule.op = value;
        rule.opRe = nameGlob(value);
        break;
      case 'after': {
        const ms = parseDuration(value);
        if (ms !== undefined) rule.afterMs = ms;
        else if (/^\d+$/.test(value)) rule.afterMessages = Number(value);
        else throw new RuleError(text, w.at, 'after=<N> (messages) or after=<duration> (e.g. 30s)');
        break;
      }
      case 'p': {
        const p = Number(value);
        if (!/^(0|1|0?\.\d+|1\.0+)$/.test(value) || p < 0 || p > 1) throw new RuleError(text, w.at, 'p= a probability from 0 to 1, e.g. p=0.2');
        rule.p = p;
        break;
      }
      case 'seed':
        if (!/^\d+$/.test(value)) throw new RuleError(text, w.at, 'seed= a whole number');
        rule.seed = Number(value);
        break;
      case 'path':
        if (!value.startsWith('/') && !value.startsWith('*'))
          throw new RuleError(text, w.at, 'path= a glob of the upgrade path, e.g. path=/ws or path=/api/*');
        rule.path = value;
        rule.pathRe = globToRegExp(value);
        break;
      default:
        throw new RuleError(text, w.at, `a condition: ${CONDITIONS}`);
    }
  }
}

/** Rules separated by `;` (WSTAP_FAULTS), a `;` inside a quoted value ("a;b") kept. */
export function splitRules(text: string): string[] {
  const out: string[] = [];
  let quote: string | undefined;
  let cur = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === ';') {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  out.push(cur);
  return out.map((r) => r.trim()).filter(Boolean);
}

/** WSTAP_FAULTS: rules separated by `;`. */
export function parseRuleList(text: string): FaultRule[] {
  return splitRules(text).map(parseRule);
}
