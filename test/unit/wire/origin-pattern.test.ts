import { describe, expect, it } from 'vitest';
import { parseOriginPattern } from '../../../src/wire/origin-pattern.js';

describe('origin patterns', () => {
  it('matches exact origins, with default ports', () => {
    const p = parseOriginPattern('http://localhost:3000');
    expect(p.test('http://localhost:3000')).toBe(true);
    expect(p.test('http://LOCALHOST:3000')).toBe(true);
    expect(p.test('http://localhost:3001')).toBe(false);
    expect(p.test('https://localhost:3000')).toBe(false);
    expect(parseOriginPattern('https://app.example.com').test('https://app.example.com:443')).toBe(true);
  });
  it('* matches any port, or one subdomain label', () => {
    expect(parseOriginPattern('http://localhost:*').test('http://localhost:5173')).toBe(true);
    expect(parseOriginPattern('http://localhost:*').test('http://localhost')).toBe(true);
    const sub = parseOriginPattern('https://*.example.com');
    expect(sub.test('https://app.example.com')).toBe(true);
    expect(sub.test('https://example.com')).toBe(false);
    expect(sub.test('https://a.b.example.com')).toBe(false);
    expect(sub.test('https://evil-example.com')).toBe(false);
  });
  it('* alone matches everything; "null" matches the null origin', () => {
    expect(parseOriginPattern('*').test('http://anything:1')).toBe(true);
    expect(parseOriginPattern('null').test('null')).toBe(true);
    expect(parseOriginPattern('http://localhost:3000').test('null')).toBe(false);
  });
  it('rejects patterns that are no origins', () => {
    expect(() => parseOriginPattern('localhost:3000')).toThrow(/invalid origin pattern/);
    expect(() => parseOriginPattern('http://x/path')).toThrow(/invalid origin pattern/);
  });
});
