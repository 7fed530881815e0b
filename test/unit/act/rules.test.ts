/**
 * The fault rule grammar (src/act/rules.ts): the examples parse to what they say; a bad
 * rule is refused with the position of the wrong word and what was expected there.
 */
import { describe, expect, it } from 'vitest';
import { globToRegExp, parseDuration, parseRate, parseRule, parseRuleList, RuleError, splitRules } from '../../../src/act/rules.js';

describe('fault rules', () => {
  it("the issue's examples", () => {
    expect(parseRule('delay=300ms to=client match=tick')).toMatchObject({ action: { kind: 'delay', ms: 300 }, to: 'client', match: /tick/, p: 1 });
    expect(parseRule('close=1011:overloaded after=30s')).toMatchObject({
      action: { kind: 'close', code: 1011, reason: 'overloaded' },
      to: 'both',
      afterMs: 30_000,
    });
    expect(parseRule('drop to=server p=0.2 seed=7')).toMatchObject({ action: { kind: 'drop' }, to: 'server', p: 0.2, seed: 7 });
    expect(parseRule('cut after=5')).toMatchObject({ action: { kind: 'cut' }, afterMessages: 5 });
    expect(parseRule('stall to=client path=/api/*')).toMatchObject({ action: { kind: 'stall' }, to: 'client', path: '/api/*' });
    expect(parseRule('throttle=10kB/s')).toMatchObject({ action: { kind: 'throttle', bytesPerSec: 10_000 } });
    expect(parseRule('duplicate match="a b"')).toMatchObject({ action: { kind: 'duplicate' }, match: /a b/ });
    expect(parseRule("close=4000:'going away now'")).toMatchObject({ action: { kind: 'close', code: 4000, reason: 'going away now' } });
    expect(parseRuleList('drop match=x; delay=1s ;')).toHaveLength(2);
  });

  it.each([
    ['', 1, /an action/],
    ['slow=1s', 1, /an action first/],
    ['delay', 1, /delay= needs a duration/],
    ['delay=fast', 1, /delay= needs a duration/],
    ['drop to=everyone', 6, /to=client, to=server or to=both/],
    ['drop match=(', 6, /a valid regular expression/],
    ['close=1006', 1, /a code that may be sent/],
    ['close=999:x', 1, /a code that may be sent/],
    ['drop p=2', 6, /a probability from 0 to 1/],
    ['drop after=soon', 6, /after=<N> \(messages\) or after=<duration>/],
    ['drop after=3 after=4', 14, /after= only once/],
    ['drop colour=red', 6, /a condition/],
    ['drop seed=x', 6, /seed= a whole number/],
    ['drop path=ws', 6, /path= a glob/],
    ['throttle=fast', 1, /a rate such as 10kB\/s/],
    ['cut=now', 1, /cut takes no value/],
    ['drop match="open', 12, /a closing "/],
  ])('%j is refused at %i', (rule, position, expected) => {
    try {
      parseRule(rule);
      expect.unreachable(`${rule} parsed`);
    } catch (err) {
      expect(err).toBeInstanceOf(RuleError);
      expect((err as RuleError).position).toBe(position);
      expect((err as RuleError).expected).toMatch(expected);
    }
  });

  it('durations, rates and path globs', () => {
    expect([parseDuration('250ms'), parseDuration('2s'), parseDuration('1.5s'), parseDuration('1m'), parseDuration('2h')]).toEqual([
      250,
      2000,
      1500,
      60_000,
      undefined,
    ]);
    expect([parseRate('10kB/s'), parseRate('1MB/s'), parseRate('512B/s'), parseRate('1KiB/s'), parseRate('0B/s')]).toEqual([
      10_000,
      1_000_000,
      512,
      1024,
      undefined,
    ]);
    const g = globToRegExp('/api/*');
    expect(['/api/ws', '/api/a/b', '/apix'].map((p) => g.test(p))).toEqual([true, false, false]);
    expect(globToRegExp('/api/**').test('/api/a/b')).toBe(true);
    expect(globToRegExp('/w?').test('/ws')).toBe(true);
  });
});

describe('WSTAP_FAULTS', () => {
  it('rules separated by ;, a ; inside a quoted value kept', () => {
    expect(splitRules('drop match=x; close=1011:"a;b" after=2s ;; cut')).toEqual(['drop match=x', 'close=1011:"a;b" after=2s', 'cut']);
    expect(parseRuleList('close=1011:"a;b"')[0]!.action).toEqual({ kind: 'close', code: 1011, reason: 'a;b' });
  });
});
