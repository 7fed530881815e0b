import { describe, expect, it } from 'vitest';
import { decodeJwt, findCredentials, tokenSubprotocolIndexes } from '../../../src/secrets/credentials.js';
import { parseRequestHead } from '../../../src/wire/http-head.js';
import { fakeJwt } from '../../support/helpers.js';

const headers = (lines: string[]) =>
  parseRequestHead(Buffer.from(`GET / HTTP/1.1\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`, 'latin1')).headers;

describe('decodeJwt', () => {
  it('reads alg and exp without verifying, and tells expiry', () => {
    const now = Date.now();
    expect(decodeJwt(fakeJwt(60), now)).toMatchObject({ alg: 'HS256', expired: false });
    expect(decodeJwt(fakeJwt(-60), now)).toMatchObject({ expired: true });
  });
  it('returns undefined for non-JWTs', () => {
    expect(decodeJwt('abc.def.ghi', Date.now())).toBeUndefined();
    expect(decodeJwt('opaque-token-value', Date.now())).toBeUndefined();
  });
});

describe('findCredentials', () => {
  it('finds Authorization, query tokens, cookies, token subprotocols and api-key headers; never holds a value', () => {
    const jwt = fakeJwt(-10);
    const creds = findCredentials(
      `/ws?room=1&access_token=${jwt}&x=2`,
      headers([
        'Authorization: Bearer s3cr3t-value',
        'Cookie: sessionid=abc123; theme=dark',
        `Sec-WebSocket-Protocol: chat, access_token, ${fakeJwt(10)}`,
        'X-Api-Key: k-123',
      ]),
      Date.now(),
    );
    expect(creds.map((c) => [c.kind, c.name])).toEqual([
      ['authorization', 'Authorization'],
      ['cookie', 'sessionid'],
      ['cookie', 'theme'],
      ['subprotocol', 'Sec-WebSocket-Protocol'],
      ['header', 'X-Api-Key'],
      ['query', 'access_token'],
    ]);
    expect(creds[0]).toMatchObject({ scheme: 'Bearer', shape: 'opaque, 12 chars' });
    expect(creds.find((c) => c.kind === 'query')?.jwt?.expired).toBe(true);
    expect(JSON.stringify(creds)).not.toMatch(/s3cr3t|abc123|k-123|fake-signature/);
  });
  it('finds nothing in a plain request', () => {
    expect(findCredentials('/ws?room=1', headers(['Host: a', 'Sec-WebSocket-Protocol: chat, superchat']), Date.now())).toEqual([]);
  });
});

describe('tokenSubprotocolIndexes', () => {
  it('recognises JWT entries, entries after a marker and Kubernetes bearer entries', () => {
    expect([...tokenSubprotocolIndexes(['chat', fakeJwt(1)])]).toEqual([1]);
    expect([...tokenSubprotocolIndexes(['Bearer', 'opaque123'])]).toEqual([1]);
    expect([...tokenSubprotocolIndexes(['base64url.bearer.authorization.k8s.io.dG9rZW4', 'v4.channel.k8s.io'])]).toEqual([0]);
    expect([...tokenSubprotocolIndexes(['graphql-ws', 'graphql-transport-ws'])]).toEqual([]);
  });
});
