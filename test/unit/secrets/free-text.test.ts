/** The one redaction step for free text (secrets/free-text.ts): what it replaces, what it keeps, idempotent. */
import { describe, expect, it } from 'vitest';
import { redactDeep, redactText } from '../../../src/secrets/free-text.js';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLWJ5dGVz';

describe('redactText', () => {
  it('drops every query value of a quoted request line, with or without its HTTP version', () => {
    expect(redactText('malformed request line "GET /ws?room=7&token=abc HTTP/1.x"')).toBe(
      'malformed request line "GET /ws?room=[redacted]&token=[redacted] HTTP/1.x"',
    );
    expect(redactText('GET http://api/ws?x=1 then')).toBe('GET http://api/ws?x=[redacted] then');
  });

  it('redacts URL parameters and name=value pairs with a credential name, anywhere', () => {
    expect(redactText('see https://h/cb?code=1&access_token=zzz&state=ok')).toBe('see https://h/cb?code=1&access_token=[redacted]&state=ok');
    expect(redactText('retry with session=abc123; path=/')).toBe('retry with session=[redacted]; path=/');
    expect(redactText('api_key=k-1234, mode=fast')).toBe('api_key=[redacted], mode=fast');
    expect(redactText('--target has a path (/?token=abc), which')).toBe('--target has a path (/?token=[redacted]), which');
  });

  it('redacts the credential after Bearer and Basic, and JWTs and secret JSON fields anywhere', () => {
    expect(redactText('invalid header: Bearer s3cr3t-opaque-value')).toBe('invalid header: Bearer [redacted]');
    expect(redactText('Basic dXNlcjpwYXNzd29yZA==')).toBe('Basic [redacted]');
    expect(redactText(`invalid token ${JWT}`)).toBe('invalid token [redacted]');
    expect(redactText('{"detail":"nope","refresh_token":"r-1"}')).toBe('{"detail":"nope","refresh_token":"[redacted]"}');
  });

  it('keeps text that carries no secret, and is idempotent', () => {
    for (const t of [
      'Authentication required: Use Authorization header',
      'Bearer realm="api", error="invalid_token"',
      'permessage-deflate; client_max_window_bits=15',
      'Origin not allowed: http://localhost:3000',
      'Token expired',
    ])
      expect(redactText(t)).toBe(t);
    const once = redactText(`GET /ws?token=a HTTP/1.1 Bearer abcdefghij ${JWT} session=x`);
    expect(redactText(once)).toBe(once);
  });
});

describe('redactDeep', () => {
  it('copies plain objects and arrays with every string redacted; keys, numbers and buffers stay', () => {
    const buf = Buffer.from('x');
    const input = Object.freeze({ reason: `bad ${JWT}`, code: 1008, list: [{ h: 'Cf-Access-Jwt-Assertion', v: JWT }], buf });
    const out = redactDeep(input);
    expect(out).toEqual({ reason: 'bad [redacted]', code: 1008, list: [{ h: 'Cf-Access-Jwt-Assertion', v: '[redacted]' }], buf });
    expect(out.buf).toBe(buf);
    expect(input.reason).toContain(JWT);
  });
});
