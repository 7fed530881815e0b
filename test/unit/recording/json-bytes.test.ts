/**
 * The recorder's fast path writes payloads without JSON.stringify and without the
 * redaction regular expressions. These tests hold it to the slow path: the same JSON
 * string, byte for byte, and never a skipped redaction.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jsonStringBody } from '../../../src/recording/json-bytes.js';
import { payloadMayHoldSecret, redactPayloadText } from '../../../src/secrets/redact.js';
import { fakeJwt } from '../../support/helpers.js';

/** The bytes of `text` at a chosen offset inside a larger buffer (the word scan depends on alignment). */
function at(text: string, offset: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const big = Buffer.alloc(bytes.length + offset + 8, 0x41);
  bytes.copy(big, offset);
  return big.subarray(offset, offset + bytes.length);
}

const stringified = (text: string): string => JSON.stringify(text).slice(1, -1);

/** Random text with many characters JSON escapes, and multi-byte ones. */
function randomText(n: number): string {
  const pool = [
    '"',
    '\\',
    '\n',
    '\t',
    '\r',
    '\b',
    '\f',
    '\u0000',
    '\u0001',
    '\u001f',
    ' ',
    '\u007f',
    'é',
    '€',
    '😀',
    '\u2028',
    '\u2029',
    '/',
    '{',
    '}',
    ':',
    'a',
    'Z',
    '0',
  ];
  const r = randomBytes(n);
  let s = '';
  for (const b of r) s += b < 128 ? String.fromCharCode(32 + (b % 95)) : pool[b % pool.length]!;
  return s;
}

describe('jsonStringBody: JSON.stringify on UTF-8 bytes', () => {
  it('writes what JSON.stringify writes for every control character, quotes, backslashes and non-ASCII text', () => {
    const cases = ['', 'a', 'abc', 'abcd', '"', '\\', '""""""""', '\\\\\\\\\\', '\u007f', 'é😀\u2028\u2029€', '{"id":1,"text":"say \\"hi\\"\\n"}'];
    for (let c = 0; c < 0x20; c++) cases.push(String.fromCharCode(c), `ab${String.fromCharCode(c)}cd`, String.fromCharCode(c).repeat(9));
    for (const text of cases) {
      for (let offset = 0; offset < 4; offset++)
        expect(jsonStringBody(at(text, offset)).toString('utf8'), JSON.stringify(text)).toBe(stringified(text));
    }
  });

  it('random texts of many lengths and alignments', () => {
    for (let i = 0; i < 400; i++) {
      const text = randomText(i % 50 === 0 ? 5000 : i);
      const offset = i % 4;
      expect(jsonStringBody(at(text, offset)).toString('utf8')).toBe(stringified(text));
    }
  });

  it('a 100,000-quote text, then a small one: both as JSON.stringify writes them', () => {
    const quotes = '"'.repeat(100_000);
    expect(jsonStringBody(at(quotes, 1)).toString('utf8')).toBe(stringified(quotes));
    expect(jsonStringBody(at('{"a":1}', 0)).toString('utf8')).toBe(stringified('{"a":1}'));
  });

  it('hands back the same buffer when nothing needs escaping, and never changes its input', () => {
    const plain = at('hello world, nothing to escape here: é😀', 1);
    expect(jsonStringBody(plain)).toBe(plain);
    const quoted = at('{"a":"b\\n"}', 2);
    const before = Buffer.from(quoted);
    jsonStringBody(quoted);
    expect(quoted.equals(before)).toBe(true);
  });
});

describe('payloadMayHoldSecret: says yes whenever redaction would change the text', () => {
  const secrets = [
    `{"token":"abc"}`,
    `{"accessToken" : "abc"}`,
    `{"X-API-KEY":\t"abc"}`,
    `{"password"\u00a0:\u2028"abc"}`,
    `{"session_id":"abc","n":1}`,
    `{"nested":{"refresh_token":"abc`,
    `{"data":"${fakeJwt(60)}"}`,
    `Bearer ${fakeJwt(60)}`,
    `prefix-${fakeJwt(60)}-suffix`,
    `{"Cookie":"a=b"}`,
    `{"jwt":"x"}`,
  ];
  it('on texts with secret-looking fields or JWTs', () => {
    for (const text of secrets) {
      expect(redactPayloadText(text)).not.toBe(text);
      for (let offset = 0; offset < 4; offset++) expect(payloadMayHoldSecret(at(text, offset)), text).toBe(true);
    }
  });

  it('no on ordinary JSON and prose (so the fast path is taken)', () => {
    for (const text of ['{"id":1,"type":"update","data":"alpha bravo 3.1415 true"}', 'plain text', '{"op":"hello","n":1}', '']) {
      expect(payloadMayHoldSecret(at(text, 0))).toBe(false);
    }
  });

  it('random texts built from secret-ish pieces: never a no where redaction changes something', () => {
    const pieces = [
      '"token"',
      '"tok"',
      ':',
      ' ',
      '"',
      'abcdefgh',
      '.',
      'eyJhbGciOi',
      '\u00a0',
      'Password',
      '"x"',
      ',',
      '{',
      '}',
      '\\"',
      'é',
      'api_key',
      'jwt',
    ];
    for (let i = 0; i < 3000; i++) {
      const r = randomBytes(12);
      const text = [...r].map((b) => pieces[b % pieces.length]).join('');
      if (redactPayloadText(text) !== text) expect(payloadMayHoldSecret(at(text, i % 4)), text).toBe(true);
    }
  });
});
