import { describe, expect, it } from 'vitest';
import { redactHeaderValue, redactPayloadText, redactTarget, REDACTED } from '../../../src/secrets/redact.js';
import { fakeJwt } from '../../support/helpers.js';

describe('redactTarget', () => {
  it('redacts token-like query values and keeps the rest', () => {
    expect(redactTarget('/ws?room=7&token=abc&access_token=def&api_key=ghi')).toBe(
      `/ws?room=7&token=${REDACTED}&access_token=${REDACTED}&api_key=${REDACTED}`,
    );
  });
  it('redacts JWTs anywhere in path or query', () => {
    const jwt = fakeJwt(60);
    expect(redactTarget(`/ws/${jwt}?x=${jwt}`)).toBe(`/ws/${REDACTED}?x=${REDACTED}`);
  });
  it('leaves a path without secrets alone', () => {
    expect(redactTarget('/ws?room=7')).toBe('/ws?room=7');
  });
});

describe('redactHeaderValue', () => {
  it('keeps the auth scheme, cookie names and Set-Cookie attributes; drops the secrets', () => {
    expect(redactHeaderValue('Authorization', 'Bearer abc.def')).toBe(`Bearer ${REDACTED}`);
    expect(redactHeaderValue('authorization', 'opaque')).toBe(REDACTED);
    expect(redactHeaderValue('Cookie', 'a=1; b=2')).toBe(`a=${REDACTED}; b=${REDACTED}`);
    expect(redactHeaderValue('Set-Cookie', 'sid=xyz; Path=/; HttpOnly')).toBe(`sid=${REDACTED}; Path=/; HttpOnly`);
    expect(redactHeaderValue('Sec-WebSocket-Protocol', 'chat, access_token, secretvalue')).toBe(`chat, access_token, ${REDACTED}`);
    expect(redactHeaderValue('X-Auth-Token', 'zzz')).toBe(REDACTED);
    expect(redactHeaderValue('Origin', 'http://localhost:3000')).toBe('http://localhost:3000');
  });
});

describe('redactPayloadText', () => {
  it('a secret field whose value runs to the end of the text is redacted, whoever cut the text', () => {
    expect(redactPayloadText('{"error":"expired","token":"abc123')).toBe(`{"error":"expired","token":"${REDACTED}`);
    expect(redactPayloadText('{"password":"hunter2')).toBe(`{"password":"${REDACTED}`);
    expect(redactPayloadText('{"password":"hunter2","n":1}')).toBe(`{"password":"${REDACTED}","n":1}`);
    expect(redactPayloadText('{"n":1,"note":"no secret here')).toBe('{"n":1,"note":"no secret here');
  });
});
